"""Run folders and the run loop: what `vox run ID` does around a Trainer."""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
