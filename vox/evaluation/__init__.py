"""``vox evaluate``: does a StarGAN run convert voices, and do the words
survive?

* :mod:`vox.evaluation.content`: pure content-preservation measures between
  two waveforms (pyworld, NumPy, SciPy).
* :mod:`vox.evaluation.procedure`: the procedure (validation crops, the
  judge's scores, content with its floor and ceiling).
* :mod:`vox.evaluation.output`: ``evaluation.json`` and the run's
  ``summary.md`` / ``report.html``.

The words are in :mod:`vox.reports.conversion_quality`.
"""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
