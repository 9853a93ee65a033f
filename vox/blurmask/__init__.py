"""The blur-mask attribution experiment (the Chinese lab notes).

For every time-frequency point of an FFT magnitude matrix learn a blur width
``m`` along frequency (``vox.functions.frequency_blur``) so that a frozen
network's output on the blurred input stays close to its output on the
original (an MSE term, which wants ``m`` small) while the blur is as wide as
possible (``-H(m)``, ``H`` = log m over the points, which wants ``m``
large).  Points that end with small ``m`` are the ones the network needs.

* :mod:`vox.config.blurmask`: ``BlurMaskConfig`` (YAML, strict keys,
  ``base:`` files, profiles).
* :mod:`vox.blurmask.objective`: the loss, its two gradient terms, one step.
* :mod:`vox.blurmask.run`: the loop; writes ``results/<ID>/<run>/``.
* :mod:`vox.blurmask.plots`: every figure the notes show.

Decisions are in docs/blurmask.md.
"""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
