"""blurmask-7: the recipe vox/blurmask/run.py with the numbers of
config.yaml beside this file.  What ``make exp-blurmask-7`` runs:

    python experiments/blurmask-7/train.py [--profile smoke] ...

with the options of ``vox run blurmask-7`` (``vox run --help``).
``--input file.wav`` blurs a WAV instead of the corpus utterance.
"""
import sys

from vox.cli import run_experiment
from vox.blurmask import run

if __name__ == '__main__':
    sys.exit(run_experiment('blurmask-7', run))
