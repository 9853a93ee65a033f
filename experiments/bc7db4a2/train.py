"""Entry script: python experiments/bc7db4a2/train.py [--profile smoke] ..."""
import sys

from vox.cli import main

if __name__ == '__main__':
    sys.exit(main(['run', 'bc7db4a2'] + sys.argv[1:]))
