from vox import compat  # noqa: F401  (must run before chainer is imported)
