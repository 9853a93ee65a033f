from vox import compat  # noqa: F401  (must run before chainer is imported)
# Faster NumPy cores for convolutions and leaky ReLU (docs/performance.md,
# "Making it fast"); VOX_CHAINER_CPU_FAST=0 keeps Chainer's own.
from vox import cpu_fast  # noqa: F401,E402
