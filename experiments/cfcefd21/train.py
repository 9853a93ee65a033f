"""cfcefd21: the recipe vox/training/stargan.py with the numbers of
config.yaml beside this file.  What ``make exp-cfcefd21`` runs:

    python experiments/cfcefd21/train.py [--profile smoke] ...

with the options of ``vox run cfcefd21`` (``vox run --help``).
"""
import sys

from vox.cli import run_experiment
from vox.training import stargan

if __name__ == '__main__':
    sys.exit(run_experiment('cfcefd21', stargan))
