"""Entry script: python experiments/cfcefd21/train.py [--profile smoke] ..."""
import sys

from vox.cli import main

if __name__ == '__main__':
    sys.exit(main(['run', 'cfcefd21'] + sys.argv[1:]))
