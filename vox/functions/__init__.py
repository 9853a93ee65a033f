from vox import compat  # noqa: F401  (before chainer: Chainer today)
from vox.functions.frequency_blur import frequency_blur  # noqa: F401
