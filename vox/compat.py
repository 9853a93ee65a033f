"""Every workaround needed to run Chainer 7.8.1 today, in one place.

Import this module before ``chainer`` (``import vox`` does it for you).
Chainer's last release predates Python 3.12, NumPy 2 and CuPy 8+; what
follows is the smallest set of patches that makes the feature set vox uses
work on Python 3.11-3.13 with NumPy 1.26 or 2.x, and with CuPy 13 or 14.
Each block says why it exists; docs/compat.md has the findings behind them
and records what was verified.
"""
import importlib
import importlib.metadata
import os
import sys
import types
import warnings

import numpy

# 1. Chainer compares CuPy's version against its own ``cupy<8`` requirement
#    and warns on every import when CuPy 13/14 is installed.  Chainer's code
#    copes with the CuPy renames vox touches, so the warning is noise.
os.environ.setdefault('CHAINER_WARN_VERSION_MISMATCH', '0')

# 2. CuPy 14 ships no cuDNN.  With CHAINER_CUDNN=0 Chainer skips probing for
#    it (CHAINER_USE_CUDNN=never does not stop the probe and its warning).
try:
    _cupy_major = int(importlib.metadata.version('cupy-cuda12x').split('.')[0])
except importlib.metadata.PackageNotFoundError:
    try:
        _cupy_major = int(
            importlib.metadata.version('cupy-cuda13x').split('.')[0])
    except importlib.metadata.PackageNotFoundError:
        _cupy_major = None
if _cupy_major is not None and _cupy_major >= 14:
    os.environ.setdefault('CHAINER_CUDNN', '0')

# 3. ``chainer/_environment_check.py`` imports ``numpy.distutils`` to look
#    for Accelerate on macOS only.  numpy.distutils is gone on Python 3.12
#    and in NumPy 2, so register an empty stand-in there.
try:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        importlib.import_module('numpy.distutils.system_info')
except ImportError:
    _distutils = types.ModuleType('numpy.distutils')
    _system_info = types.ModuleType('numpy.distutils.system_info')
    _system_info.get_info = lambda name, notfound_action=0: {}
    _distutils.system_info = _system_info
    sys.modules['numpy.distutils'] = _distutils
    sys.modules['numpy.distutils.system_info'] = _system_info

# 4. ``import chainer`` also imports ``pkg_resources`` (removed in
#    setuptools 82; Python 3.12 venvs have no setuptools at all) only to
#    check optional dependency versions.  The venv pins setuptools<81; where
#    it is missing, a stand-in answering through importlib.metadata lets
#    Chainer import instead of failing.
try:
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        import pkg_resources  # noqa: F401
except ImportError:
    _pr = types.ModuleType('pkg_resources')

    class DistributionNotFound(Exception):
        pass

    class VersionConflict(Exception):
        pass

    def _require(requirement):
        name = requirement
        for sep in '<>=!~[; ':
            name = name.split(sep)[0]
        try:
            importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            raise DistributionNotFound(name)
        return []

    def _get_distribution(name):
        return types.SimpleNamespace(
            version=importlib.metadata.version(name), project_name=name)

    _pr.DistributionNotFound = DistributionNotFound
    _pr.VersionConflict = VersionConflict
    _pr.require = _require
    _pr.get_distribution = _get_distribution
    sys.modules['pkg_resources'] = _pr

# 5. NumPy 2 removed ``np.sctypes``; chainer/functions/array/as_strided.py
#    reads it at import time.  Restore the one attribute with NumPy 1's
#    contents.
if not hasattr(numpy, 'sctypes'):
    numpy.sctypes = {
        'int': [numpy.int8, numpy.int16, numpy.int32, numpy.int64],
        'uint': [numpy.uint8, numpy.uint16, numpy.uint32, numpy.uint64],
        'float': [numpy.float16, numpy.float32, numpy.float64],
        'complex': [numpy.complex64, numpy.complex128],
        'others': [bool, object, bytes, str, numpy.void],
    }

# 6. Import Chainer with its import-time deprecation warnings filtered by
#    message, so ``python -W error`` and pytest's warning capture stay clean
#    without hiding anything else.
with warnings.catch_warnings():
    warnings.filterwarnings(
        'ignore', message=r'\s*`numpy.distutils` is deprecated',
        category=DeprecationWarning)
    warnings.filterwarnings(
        'ignore', message=r'msvccompiler is deprecated',
        category=DeprecationWarning)
    warnings.filterwarnings(
        'ignore', message=r'pkg_resources is deprecated',
        category=UserWarning)
    warnings.filterwarnings(
        'ignore', message=r'Deprecated call to `pkg_resources',
        category=DeprecationWarning)
    # CuPy 14 warns, in several lines, that NCCL (multi-GPU collectives)
    # is not installed when chainer.training imports the multi-process
    # updater, which vox never uses (NCCL is a separate, optional wheel).
    warnings.filterwarnings(
        'ignore', message=r'\s*nccl library could not be loaded',
        category=UserWarning)
    import chainer  # noqa: E402
    import chainer.functions.connection.deconvolution_2d as _deconv  # noqa


# 7. Chainer 7.8.1 bug (fixed upstream after the release, never shipped):
#    Deconvolution2DFunction.backward calls ``_set_cover_all(x, W)`` with
#    arrays instead of shapes when the deconvolution's input does not need
#    a gradient, and crashes unpacking them.  Accept either.
_original_set_cover_all = _deconv.Deconvolution2DFunction._set_cover_all


def _set_cover_all(self, x_shape, w_shape):
    x_shape = getattr(x_shape, 'shape', x_shape)
    w_shape = getattr(w_shape, 'shape', w_shape)
    return _original_set_cover_all(self, x_shape, w_shape)


_deconv.Deconvolution2DFunction._set_cover_all = _set_cover_all
