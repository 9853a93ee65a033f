"""Every CuPy name Chainer 7.8.1 and vox touch exists in the installed CuPy.

Runs on a CPU: it needs CuPy installed (importable, as cupy-cuda13x 14.x is
without a GPU), not a device, and is skipped where CuPy is absent (the
default venvs).  ``make cupy14-check`` builds a venv with Python 3.12,
NumPy 2.5.2 and cupy-cuda13x 14.2.0 and runs this file there; the GPU
machines run it too (tools/gpu_check.sh).

The names come from the source, not from a hand-written list: every
attribute chain rooted at ``cupy``, ``cupyx`` or Chainer's ``cuda`` module
(``cuda.cupy.X`` is ``cupy.X``, ``cuda.cudnn`` is ``cupy.cudnn``, ...) and
every ``import cupy...`` in the Chainer modules that importing all of vox
loads (the code paths vox can reach), and in vox and tools/bench.py.
Each must resolve on the installed CuPy, except the names listed in
``ABSENT`` with the reason it is harmless, and every use of a cuDNN name
must sit behind Chainer's cuDNN switch (CuPy 14 has no cuDNN at all).
"""
import ast
import importlib
import os
import pkgutil
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

cupy = pytest.importorskip('cupy')

import vox.compat  # noqa: E402,F401  (before chainer: Chainer today)
import chainer  # noqa: E402
from chainer.backends import cuda  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CUPY_MAJOR = int(cupy.__version__.split('.')[0])

#: Chainer's aliases for CuPy modules, longest first.
ALIASES = (('cuda.libcudnn', 'cupy.cuda.cudnn'), ('cuda.cudnn', 'cupy.cudnn'),
           ('cuda.cublas', 'cupy.cuda.cublas'), ('cuda.cupyx', 'cupyx'),
           ('cuda.cupy', 'cupy'), ('cuda.cuda', 'cupy.cuda'))
CUDNN = ('cupy.cudnn', 'cupy.cuda.cudnn')
#: Names that may be missing, and why that is harmless.
ABSENT = {
    # chainer/backends/cuda.py tries cupy._util first (CuPy >= 8).
    'cupy.util': 'renamed cupy._util in CuPy 8; Chainer falls back to it',
}
if CUPY_MAJOR >= 14:
    ABSENT.update({m: 'CuPy 14 ships no cuDNN; Chainer then sets '
                      'cudnn_enabled False and uses im2col + cuBLAS'
                   for m in CUDNN})
#: Names CuPy still has but warns about, and why vox never reaches them.
DEPRECATED = {
    # read only by chainer.function_hooks.CUDAProfileHook, which vox never
    # installs (a DeprecationWarning would be an error under pytest).
    'cupy.cuda.nvtx_enabled': 'CuPy 8 deprecation; CUDAProfileHook only',
}
#: cuDNN uses that the guard check below cannot see (module, line): each is
#: only reached from a cuDNN branch.
CUDNN_ONLY_CALLERS = {
    # _get_pool_mode is called only by Pooling2D's cuDNN forward/backward.
    'chainer.functions.pooling.average_pooling_2d',
    'chainer.functions.pooling.max_pooling_2d',
    # the spatial transformer exists only on cuDNN (vox does not use it).
    'chainer.functions.array.spatial_transformer_grid',
    'chainer.functions.array.spatial_transformer_sampler',
}
CUDNN_GUARDS = ('cudnn_enabled', 'should_use_cudnn', 'use_cudnn',
                '_cudnn_version')


def _chain(node):
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return '.'.join(reversed(parts))
    return None


def _cupy_name(chain):
    """'cupy.X.Y' for a chain rooted at cupy/cupyx/Chainer's cuda aliases,
    None for Chainer's own ``cuda.*`` helpers."""
    for alias, target in ALIASES:
        if chain == alias or chain.startswith(alias + '.'):
            return target + chain[len(alias):]
    if chain.split('.')[0] in ('cupy', 'cupyx'):
        return chain
    return None


def _sources():
    """(module name, path) of the Chainer modules vox loads, vox's own
    modules and tools/bench.py."""
    for info in pkgutil.walk_packages(vox.__path__, 'vox.'):
        importlib.import_module(info.name)
    for name, module in sorted(sys.modules.items()):
        path = getattr(module, '__file__', None) or ''
        if (name.split('.')[0] in ('chainer', 'vox')
                and path.endswith('.py')):
            yield name, path
    yield 'tools.bench', str(REPO / 'tools/bench.py')


def _references():
    """{cupy name: [(module, line, guarded)]}; ``guarded``: inside an
    ``if`` on Chainer's cuDNN switch, a function named for cuDNN, or a
    ``try`` body."""
    refs = {}
    for module, path in _sources():
        tree = ast.parse(Path(path).read_text())
        parents = {c: p for p in ast.walk(tree)
                   for c in ast.iter_child_nodes(p)}
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Attribute) and not isinstance(
                    parents.get(node), ast.Attribute):
                chain = _chain(node)
                if chain:
                    names.append(_cupy_name(chain))
            elif isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names += [f'{node.module}.{a.name}' for a in node.names]
            for name in names:
                if name and name.split('.')[0] in ('cupy', 'cupyx'):
                    refs.setdefault(name, []).append(
                        (module, node.lineno, _guarded(node, parents)))
    return refs


def _guarded(node, parents):
    while node in parents:
        parent = parents[node]
        if isinstance(parent, (ast.If, ast.IfExp)) and node is not parent.test:
            if any(g in ast.unparse(parent.test) for g in CUDNN_GUARDS):
                return True
        if isinstance(parent, ast.FunctionDef) and 'cudnn' in parent.name:
            return True
        if isinstance(parent, ast.Try) and node in parent.body:
            return True
        node = parent
    return False


def _resolve(dotted):
    parts = dotted.split('.')
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module('.'.join(parts[:i + 1]))
    return obj


def _absent_root(name):
    for root in ABSENT:
        if name == root or name.startswith(root + '.'):
            return root
    return None


@pytest.fixture(scope='module')
def references():
    return _references()


def test_the_scan_sees_chainer_and_vox(references):
    """The scan is not vacuous: it finds the names known to be used."""
    for name in ('cupy.ElementwiseKernel', 'cupy.ReductionKernel',
                 'cupy.get_default_memory_pool', 'cupy.cuda.cublas',
                 'cupy.cuda.runtime.getDeviceCount', 'cupy.cudnn'):
        assert name in references, name
    modules = {m for uses in references.values() for m, _, _ in uses}
    assert 'chainer.backends.cuda' in modules
    assert 'vox.base.perf' in modules


def test_every_name_resolves_or_is_known_absent(references):
    missing, deprecated = {}, set()
    for name in sorted(references):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter('always')
            try:
                _resolve(name)
            except (AttributeError, ImportError) as e:
                if _absent_root(name) is None:
                    missing[name] = (f'{type(e).__name__}: {e}',
                                     references[name][:3])
        if any(issubclass(w.category, DeprecationWarning) for w in caught):
            deprecated.add(name)
    assert not missing, missing
    assert deprecated <= set(DEPRECATED), deprecated - set(DEPRECATED)


def test_absent_names_are_really_absent():
    """ABSENT stays true for this CuPy (a stale entry would hide a name)."""
    for root in ABSENT:
        with pytest.raises(ImportError):
            _resolve(root)


def test_cudnn_uses_sit_behind_chainers_switch(references):
    if CUPY_MAJOR < 14:
        pytest.skip('CuPy 13 has cuDNN')
    unguarded = sorted(
        (module, line, name) for name, uses in references.items()
        if name.startswith(CUDNN) for module, line, guarded in uses
        if not guarded and module not in CUDNN_ONLY_CALLERS
        and module != 'tests')
    assert not unguarded, unguarded


def test_chainer_loads_cupy_without_cudnn():
    assert cuda.available, getattr(cuda, '_resolution_error', None)
    assert cuda._cupy_major == CUPY_MAJOR
    if CUPY_MAJOR >= 14:
        assert os.environ.get('CHAINER_CUDNN') == '0'  # vox.compat, item 2
        assert cuda.cudnn_enabled is False
        assert not chainer.should_use_cudnn('>=auto')
        # What Chainer recorded is the cuDNN import, not a CuPy failure.
        assert 'cudnn' in str(cuda._resolution_error)


def test_core_and_util_modules():
    """CuPy 8 renamed cupy.core/cupy.util to cupy._core/cupy._util;
    Chainer uses cupy._util.PerformanceWarning, vox the accelerator
    switches of cupy._core (tests/test_gpu_parity.py)."""
    from cupy._util import PerformanceWarning
    assert issubclass(PerformanceWarning, Warning)
    assert cuda._PerformanceWarning is PerformanceWarning
    core = importlib.import_module('cupy._core')
    for name in ('get_reduction_accelerators', 'set_reduction_accelerators',
                 'get_routine_accelerators', 'set_routine_accelerators'):
        assert callable(getattr(core, name)), name
    assert not hasattr(cupy, 'core') or CUPY_MAJOR < 14


def test_kernel_signatures_chainer_calls():
    """chainer.backends.cuda.elementwise / reduce pass (in_params,
    out_params, operation, name, **kwargs) and (in_params, out_params,
    map_expr, reduce_expr, post_map_expr, identity, name, **kwargs), with
    ``preamble`` the one keyword Chainer's functions use.  Building a kernel
    parses its parameters without compiling (no GPU needed)."""
    k = cupy.ElementwiseKernel('T x, float32 a', 'T y', 'y = x * a',
                               'vox_scale', preamble='// chainer preamble')
    assert (k.name, k.nin, k.nout) == ('vox_scale', 2, 1)
    assert [p.name for p in k.params[:3]] == ['x', 'a', 'y']
    r = cupy.ReductionKernel('T x', 'T y', 'x * x', 'a + b', 'y = sqrt(a)',
                             '0', 'vox_l2', preamble='')
    assert (r.name, r.nin, r.nout) == ('vox_l2', 1, 1)
    raw = cupy.RawKernel('extern "C" __global__ void f() {}', 'f')
    assert raw.name == 'f'
    assert callable(cupy.memoize(for_each_device=True)(lambda: 0))
    assert callable(cupy.fuse()(lambda x: x))


def test_memory_pool_and_cublas_names():
    """What vox.base.perf.PoolPeak and the bench's pool limit call, and the
    cuBLAS handle Chainer's matmul path reaches through CuPy; only looked
    up, since calling them needs a device."""
    pool = cupy.get_default_memory_pool()
    assert isinstance(pool, cupy.cuda.MemoryPool)
    for name in ('malloc', 'used_bytes', 'total_bytes', 'free_all_blocks',
                 'set_limit', 'get_limit'):
        assert callable(getattr(pool, name)), name
    assert callable(cupy.cuda.set_allocator)
    assert issubclass(cupy.cuda.memory.OutOfMemoryError, Exception)
    assert callable(cupy.get_default_pinned_memory_pool)
    assert callable(cupy.cuda.device.get_cublas_handle)
    assert hasattr(cupy.cuda.Device, 'cublas_handle')
    for name in ('sgemm', 'sgemmEx', 'sgetrfBatched', 'sgetriBatched',
                 'setMathMode', 'CUBLAS_DEFAULT_MATH'):
        assert hasattr(cupy.cuda.cublas, name), name


def _gpu_visible():
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def test_no_gpu_stops_at_the_device_in_one_line():
    """DEVICE=@cupy:0 gets as far as the missing device and says so: one
    line on stderr, exit status 2, before any corpus or model is built."""
    if _gpu_visible():
        pytest.skip('a GPU is visible here')
    env = dict(os.environ, VOX_CACHE=str(REPO / 'cache' / 'unused'))
    result = subprocess.run(
        [sys.executable, '-m', 'vox.cli', 'run', 'cfcefd21', '--profile',
         'smoke', '--device', '@cupy:0', '--results', os.devnull],
        capture_output=True, text=True, timeout=120, cwd=REPO, env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith('vox: error: DEVICE=@cupy:0: no CUDA device '
                               'is visible'), lines[0]
    assert not (REPO / 'cache' / 'unused').exists()
