"""The name of a Trainer snapshot in a run folder, ``snapshot_iter_<N>``
(N: the iteration): the recipes write it, the run-folder code, the model
loader and ``vox evaluate`` look for it."""
import re

PREFIX = 'snapshot_iter_'
#: ``filename`` for Chainer's ``extensions.snapshot`` (formatted with the
#: Trainer).
FILENAME = PREFIX + '{.updater.iteration}'
#: Every snapshot of a folder, for ``Path.glob``.
GLOB = PREFIX + '*'
#: A snapshot being written: Chainer's writer writes into a temporary
#: folder named ``tmp`` + the file's name, then moves the file out.
TMP_GLOB = 'tmp' + GLOB
PATTERN = re.compile(re.escape(PREFIX) + r'(\d+)$')


def snapshot_name(iteration):
    """The file name of the snapshot taken after ``iteration``."""
    return f'{PREFIX}{iteration}'
