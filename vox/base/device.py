"""Device selection that fails loudly instead of silently using the CPU.

``DEVICE=@cupy:N`` is checked step by step before anything is built, and
each way it can fail gets its own message:

1. CuPy is not installed, or its import fails;
2. CuPy imports but Chainer could not load it (Chainer imports CuPy when
   it is itself imported and, if that fails, silently reports
   ``chainer.backends.cuda.available == False``: docs/compat.md records this
   with cupy-cuda12x 13.x and no CUDA 12 libraries);
3. CuPy loads but cannot reach CUDA (no driver, no GPU visible) or GPU N
   does not exist;
4. GPU N is there but a first kernel and a cuBLAS product fail (CuPy's
   run-time libraries, e.g. NVRTC or cuBLAS, missing or mismatched).
"""
import importlib

from vox import compat  # noqa: F401  (before chainer: Chainer today)
import chainer
from chainer.backends import cuda

from vox.base.errors import VoxError

GPU_HELP = ('pip install -e .[gpu] installs cupy-cuda12x 13.x for NumPy 1 '
            '(it also needs the CUDA 12 libraries: pip nvidia-*-cu12 or a '
            'system CUDA 12); with NumPy 2, make install NUMPY=2 CUPY=14 '
            'gives cupy-cuda13x 14.x; see docs/compat.md, or use '
            'DEVICE=@numpy')


def _one_line(e):
    """``Type: message`` on one line (CuPy's messages carry newlines)."""
    return f"{type(e).__name__}: {' '.join(str(e).split())}"


def _normalise(spec):
    """'@numpy' / '@cupy:N' from '@numpy', '@cupy:N', 'N' or '-1'."""
    spec = (spec or '@numpy').strip()
    if spec.lstrip('-').isdigit():
        return '@numpy' if int(spec) < 0 else f'@cupy:{int(spec)}'
    return spec


def _cupy_id(spec):
    """The GPU index of '@cupy' / '@cupy:N', or VoxError."""
    rest = spec[len('@cupy'):]
    if rest == '':
        return 0
    if rest.startswith(':') and rest[1:].isdigit():
        return int(rest[1:])
    raise VoxError(f"DEVICE={spec}: expected '@cupy:N' with N a GPU index, "
                   f"e.g. @cupy:0")


def check_cupy(device_id=0, spec=None):
    """Raises VoxError saying why CuPy cannot run on GPU ``device_id``;
    returns the ``cupy`` module when it can."""
    spec = spec or f'@cupy:{device_id}'
    try:
        cupy = importlib.import_module('cupy')
    except ImportError as e:
        raise VoxError(f'DEVICE={spec} needs CuPy, which is not installed '
                       f'({e}): {GPU_HELP}') from None
    except Exception as e:  # a broken install fails in other ways too
        raise VoxError(f'DEVICE={spec}: CuPy is installed but its import '
                       f'fails: {_one_line(e)}') from None
    version = getattr(cupy, '__version__', '?')
    if not cuda.available:
        reason = getattr(cuda, '_resolution_error', None)
        why = f' ({_one_line(reason)})' if reason else ''
        raise VoxError(
            f'DEVICE={spec}: CuPy {version} is installed but Chainer cannot '
            f'use it{why}; usually the CUDA libraries CuPy needs are missing '
            f'(CuPy 13: pip nvidia-*-cu12 or a system CUDA 12; CuPy 14: pip '
            f'nvidia-cublas, or a system CUDA 13).  Fix the CUDA install or '
            f'use DEVICE=@numpy')
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as e:
        raise VoxError(
            f'DEVICE={spec}: no CUDA device is visible: CuPy {version} '
            f'imports but cannot reach CUDA: {_one_line(e)} (no NVIDIA '
            f'driver, a driver too old for this CuPy, or no GPU visible: '
            f'check nvidia-smi and CUDA_VISIBLE_DEVICES)') from None
    if count == 0:
        raise VoxError(f'DEVICE={spec}: no CUDA device is visible: CuPy '
                       f'{version} finds no GPU (check nvidia-smi and '
                       f'CUDA_VISIBLE_DEVICES)')
    if device_id >= count:
        raise VoxError(f'DEVICE={spec}: there is no GPU {device_id}; this '
                       f'machine has {count} (use @cupy:0'
                       f'{f" .. @cupy:{count - 1}" if count > 1 else ""})')
    try:
        with cupy.cuda.Device(device_id):
            a = cupy.arange(4, dtype='float32').reshape(2, 2)
            float((a * 2).sum())  # an elementwise kernel and a reduction
            float(a.dot(a).sum())  # cuBLAS
    except Exception as e:
        raise VoxError(
            f'DEVICE={spec}: CuPy {version} sees GPU {device_id} but cannot '
            f'run on it: {_one_line(e)}; usually a CUDA library '
            f'CuPy loads at run time (NVRTC, cuBLAS) is missing or does not '
            f'match the driver') from None
    return cupy


def get_device(spec):
    """'@numpy' (default), '@cupy:N', or a bare GPU id like '0' ('-1' is
    the CPU).  A GPU that cannot be used is a VoxError saying why, never a
    silent fallback to the CPU."""
    spec = _normalise(spec)
    if spec.startswith('@cupy'):
        device_id = _cupy_id(spec)
        check_cupy(device_id, spec)
        spec = f'@cupy:{device_id}'
    try:
        return chainer.get_device(spec)
    except Exception as e:
        raise VoxError(f'DEVICE={spec}: {e}') from None
