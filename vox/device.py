"""Device selection that fails loudly instead of silently using the CPU."""
import chainer

from vox.errors import VoxError


def get_device(spec):
    """'@numpy' (default), '@cupy:N', or a bare GPU id like '0'."""
    spec = (spec or '@numpy').strip()
    if spec.isdigit() or spec.lstrip('-').isdigit():
        spec = '@numpy' if int(spec) < 0 else f'@cupy:{spec}'
    if spec.startswith('@cupy'):
        try:
            import cupy
        except ImportError:
            raise VoxError(
                f'DEVICE={spec} needs CuPy: pip install -e .[gpu] '
                '(cupy-cuda12x) or see docs/gpu.md') from None
        if not chainer.backends.cuda.available:
            raise VoxError(
                f'DEVICE={spec}: CuPy {cupy.__version__} is installed but '
                'Chainer cannot use it (CUDA libraries missing or no '
                'device); fix the CUDA install or use DEVICE=@numpy')
    try:
        return chainer.get_device(spec)
    except Exception as e:
        raise VoxError(f'DEVICE={spec}: {e}') from None
