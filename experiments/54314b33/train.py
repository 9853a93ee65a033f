"""Entry script: python experiments/54314b33/train.py [--profile smoke] ..."""
import sys

from vox.cli import main

if __name__ == '__main__':
    sys.exit(main(['run', '54314b33'] + sys.argv[1:]))
