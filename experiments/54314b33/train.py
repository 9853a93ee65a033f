"""54314b33: the recipe vox/training/stargan.py with the numbers of
config.yaml beside this file.  What ``make exp-54314b33`` runs:

    python experiments/54314b33/train.py [--profile smoke] ...

with the options of ``vox run 54314b33`` (``vox run --help``).
"""
import sys

from vox.cli import run_experiment
from vox.training import stargan

if __name__ == '__main__':
    sys.exit(run_experiment('54314b33', stargan))
