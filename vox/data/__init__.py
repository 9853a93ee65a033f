"""The data path: audio front end and reader, corpora, features, datasets,
where an experiment's data comes from (sources), corpus preparation."""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
