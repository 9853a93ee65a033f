"""Entry script: python experiments/e19098ab/train.py [--profile smoke] ..."""
import sys

from vox.cli import main

if __name__ == '__main__':
    sys.exit(main(['run', 'e19098ab'] + sys.argv[1:]))
