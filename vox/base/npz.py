"""Chainer's ``save_npz`` written so that a failed write fails once.

``chainer.serializers.save_npz(path, obj)`` opens ``path`` itself and hands
the file to ``numpy.savez_compressed``, which leaves its ZipFile unclosed
when a write fails (a full disk): the file is then closed by save_npz's
``with``, and when the ZipFile is collected its ``__del__`` seeks in the
closed file, so Python prints "Exception ignored ... ValueError: seek of
closed file" after vox's one-line error.  Here the ZipFile owns the file
and is closed on every path.  The archive is the one NumPy writes (one
``.npy`` member per key, deflated), so ``chainer.serializers.load_npz``
reads it unchanged.
"""
import zipfile

import numpy
from vox import compat  # noqa: F401  (before chainer: Chainer today)
from chainer.serializers import DictionarySerializer


def save_npz(path, obj, compression=True):
    """Writes ``obj`` (a link, an optimizer, a trainer, or a dict of arrays)
    to ``path`` as ``chainer.serializers.save_npz`` does."""
    if isinstance(obj, dict):
        target = obj
    else:
        serializer = DictionarySerializer()
        serializer.save(obj)
        target = serializer.target
    method = zipfile.ZIP_DEFLATED if compression else zipfile.ZIP_STORED
    archive = zipfile.ZipFile(path, 'w', method, allowZip64=True)
    try:
        for key, value in target.items():
            with archive.open(key + '.npy', 'w', force_zip64=True) as f:
                numpy.lib.format.write_array(f, numpy.asanyarray(value),
                                             allow_pickle=True)
    except BaseException:
        try:  # closes the file even when its central directory cannot be
            archive.close()  # written (the disk that filled up)
        except OSError:
            pass
        raise
    archive.close()
