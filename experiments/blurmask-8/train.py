"""Entry script: python experiments/blurmask-8/train.py [--profile smoke] ...

Same options as ``vox run blurmask-8`` (``--input file.wav`` blurs a WAV
instead of the corpus utterance).
"""
import sys

import vox  # noqa: F401  (compat before chainer)
from vox.cli import main

if __name__ == '__main__':
    sys.exit(main(['run', 'blurmask-8'] + sys.argv[1:]))
