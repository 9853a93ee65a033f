"""The model vox builds against the blog's diagrams: traces, errata checks."""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
