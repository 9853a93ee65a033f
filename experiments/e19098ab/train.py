"""e19098ab: the recipe vox/training/classifier.py with the numbers of
config.yaml beside this file.  What ``make exp-e19098ab`` runs:

    python experiments/e19098ab/train.py [--profile smoke] ...

with the options of ``vox run e19098ab`` (``vox run --help``).
"""
import sys

from vox.cli import run_experiment
from vox.training import classifier

if __name__ == '__main__':
    sys.exit(run_experiment('e19098ab', classifier))
