"""bc7db4a2: the recipe vox/training/autoencoder.py with the numbers of
config.yaml beside this file.  What ``make exp-bc7db4a2`` runs:

    python experiments/bc7db4a2/train.py [--profile smoke] ...

with the options of ``vox run bc7db4a2`` (``vox run --help``).
"""
import sys

from vox.cli import run_experiment
from vox.training import autoencoder

if __name__ == '__main__':
    sys.exit(run_experiment('bc7db4a2', autoencoder))
