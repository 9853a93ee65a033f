from vox import compat  # noqa: F401  (before chainer: Chainer today)
