"""vox.base.device: DEVICE= never falls back to the CPU silently.

CPU-runnable: a fake ``cupy`` module (monkeypatched into ``sys.modules``)
stands for each way a CuPy install can be broken.
"""
import sys
import types

import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
from chainer.backends import cuda

from vox.base.device import get_device
from vox.base.errors import VoxError


def fake_cupy(device_count=1, count_error=None, kernel_error=None):
    """A module with the few names vox.base.device touches."""
    cupy = types.ModuleType('cupy')
    cupy.__version__ = '13.6.0'

    def get_device_count():
        if count_error is not None:
            raise count_error
        return device_count

    class Device:
        def __init__(self, i):
            self.i = i

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    class Array:
        def reshape(self, *shape):
            return self

        def __mul__(self, other):
            return self

        def dot(self, other):
            return self

        def sum(self):
            if kernel_error is not None:
                raise kernel_error
            return 12.0

    cupy.cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=get_device_count),
        Device=Device)
    cupy.arange = lambda *a, **k: Array()
    return cupy


@pytest.fixture
def chainer_sees_cupy(monkeypatch):
    """As if Chainer had loaded CuPy when it was imported."""
    monkeypatch.setattr(cuda, 'available', True)


@pytest.mark.parametrize('spec', [None, '', '@numpy', '-1', ' @numpy '])
def test_cpu_specs(spec):
    device = get_device(spec)
    assert device.xp.__name__ == 'numpy'


def test_cupy_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cupy', None)  # import raises
    with pytest.raises(VoxError, match=r'DEVICE=@cupy:0 needs CuPy, which '
                       r'is not installed.*DEVICE=@numpy'):
        get_device('@cupy:0')


def test_bare_gpu_id_means_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cupy', None)
    with pytest.raises(VoxError, match=r'DEVICE=@cupy:1 needs CuPy'):
        get_device('1')


def test_cupy_import_crashes(monkeypatch):
    class Finder:
        def find_spec(self, name, path=None, target=None):
            if name == 'cupy':
                raise OSError('libcuda.so.1: cannot open shared object file')

    monkeypatch.delitem(sys.modules, 'cupy', raising=False)
    monkeypatch.setattr(sys, 'meta_path', [Finder()] + sys.meta_path)
    with pytest.raises(VoxError, match=r'CuPy is installed but its import '
                       r'fails: OSError: libcuda\.so\.1'):
        get_device('@cupy:0')


def test_chainer_could_not_load_cupy(monkeypatch):
    monkeypatch.setitem(sys.modules, 'cupy', fake_cupy())
    monkeypatch.setattr(cuda, 'available', False)
    monkeypatch.setattr(cuda, '_resolution_error', ImportError(
        'libnvrtc.so.12: cannot open shared object file'), raising=False)
    with pytest.raises(VoxError) as e:
        get_device('@cupy:0')
    text = str(e.value)
    assert 'CuPy 13.6.0 is installed but Chainer cannot use it' in text
    assert 'libnvrtc.so.12' in text
    assert 'DEVICE=@numpy' in text


def test_no_driver_or_no_gpu(monkeypatch, chainer_sees_cupy):
    monkeypatch.setitem(sys.modules, 'cupy', fake_cupy(
        count_error=RuntimeError('cudaErrorNoDevice: no CUDA-capable '
                                 'device is detected')))
    with pytest.raises(VoxError, match=r'imports but cannot reach CUDA: '
                       r'RuntimeError: cudaErrorNoDevice.*nvidia-smi'):
        get_device('@cupy:0')


def test_zero_gpus(monkeypatch, chainer_sees_cupy):
    monkeypatch.setitem(sys.modules, 'cupy', fake_cupy(device_count=0))
    with pytest.raises(VoxError, match=r'finds no GPU'):
        get_device('@cupy:0')


def test_gpu_index_out_of_range(monkeypatch, chainer_sees_cupy):
    monkeypatch.setitem(sys.modules, 'cupy', fake_cupy(device_count=2))
    with pytest.raises(VoxError, match=r'no GPU 2; this machine has 2 '
                       r'\(use @cupy:0 \.\. @cupy:1\)'):
        get_device('@cupy:2')


def test_kernels_cannot_run(monkeypatch, chainer_sees_cupy):
    monkeypatch.setitem(sys.modules, 'cupy', fake_cupy(
        kernel_error=RuntimeError('CUDA_ERROR_FILE_NOT_FOUND: nvrtc')))
    with pytest.raises(VoxError, match=r'sees GPU 0 but cannot run on it: '
                       r'RuntimeError: CUDA_ERROR_FILE_NOT_FOUND.*NVRTC'):
        get_device('@cupy:0')


def test_malformed_cupy_spec(monkeypatch):
    with pytest.raises(VoxError, match=r"expected '@cupy:N'"):
        get_device('@cupy:x')


def test_unknown_spec():
    with pytest.raises(VoxError, match=r'DEVICE=@tpu'):
        get_device('@tpu')


def test_cli_reports_the_reason(monkeypatch, capsys):
    from vox.cli import main
    monkeypatch.setitem(sys.modules, 'cupy', None)
    assert main(['run', 'e19098ab', '--profile', 'smoke', '--device',
                 '@cupy:0']) == 2
    err = capsys.readouterr().err
    assert err.startswith('vox: error: DEVICE=@cupy:0 needs CuPy')


@pytest.mark.gpu
def test_real_gpu():
    import cupy
    device = get_device('@cupy:0')
    assert device.xp is cupy
    assert isinstance(device.send(chainer.backend.CpuDevice().xp.zeros(2)),
                      cupy.ndarray)
