from vox import compat  # noqa: F401  (must run before chainer is imported)
# Faster NumPy cores for convolutions, batch normalization, leaky ReLU and
# RMSprop (docs/performance.md, "Making it fast", "Against PyTorch");
# VOX_CHAINER_CPU_FAST=0 keeps Chainer's own.
from vox import cpu_fast  # noqa: F401,E402
