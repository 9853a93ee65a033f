"""Measurement primitives for ``tools/bench.py`` (issue 9).

Everything here measures or counts; nothing changes what a model computes.

* :class:`LinkFlops` counts multiply-accumulates (MACs) of the
  Convolution2D / Deconvolution2D / Linear *links* called, from their
  weights and input / output shapes, split into calls made with backprop
  enabled and without.  The usual convention turns that into training
  FLOPs: ``2 * MACs`` per forward, and a call that is back-propagated costs
  3x its forward (forward + gradient w.r.t. the input + w.r.t. the weights).
* :class:`ExecutedFlops` counts the MACs of every convolution / deconvolution
  / linear *function* Chainer actually executed, backward and double
  backward included (a FunctionHook sees the functions that backward
  applies).  It is the exact matrix-product work, e.g. it knows the first
  layer gets no input gradient and that the WGAN-GP term differentiates a
  gradient.  Elementwise work (BN, activations, losses) is not counted by
  either.
* :func:`saved_activation_bytes` walks a loss's graph and sums the arrays
  the graph holds for backward (retained inputs / outputs and arrays the
  function nodes keep), parameters excluded: the "activations" part of a
  memory estimate.
* Host memory from ``/proc/self/status``; GPU memory from a wrapper around
  CuPy's default pool that records its peak; machine description and an
  assumed peak FLOP/s for the CPU.
"""
import os
import platform
import re

from vox import compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import chainer.links as L
import numpy
from chainer.backends import cuda
from chainer.utils import conv


# ---------------------------------------------------------------------------
# FLOPs

def conv_macs(x_shape, w_shape, out_shape):
    """MACs of a convolution, ``n * out_h * out_w * W.size``: every output
    position of every sample takes in_c/groups x kh x kw products for each
    of the out_c channels (``W`` is out_c x in_c/groups x kh x kw)."""
    return int(out_shape[0]) * int(out_shape[2]) * int(out_shape[3]) * \
        int(numpy.prod(w_shape))


def deconv_macs(x_shape, w_shape):
    """MACs of a deconvolution: every input position of every sample is
    spread by ``W.size`` (in_c x out_c/groups x kh x kw) products."""
    return int(x_shape[0]) * int(x_shape[2]) * int(x_shape[3]) * \
        int(numpy.prod(w_shape))


class LinkFlops(chainer.LinkHook):
    """MACs of conv / deconv / linear link calls (the 3x-forward convention).

    ``macs_backprop``: calls made while backprop was enabled (they are part
    of a graph that training differentiates); ``macs_forward_only``: calls
    under ``no_backprop_mode`` (e.g. the fake generated for the critic).
    ``training_flops`` = 2 x (3 x backprop + 1 x forward-only).
    """

    name = 'vox_link_flops'

    def __init__(self):
        self.macs_backprop = 0
        self.macs_forward_only = 0
        self.calls = 0

    def forward_postprocess(self, args):
        link = args.link
        if isinstance(link, L.Convolution2D):
            macs = conv_macs(args.args[0].shape, link.W.shape, args.out.shape)
        elif isinstance(link, L.Deconvolution2D):
            macs = deconv_macs(args.args[0].shape, link.W.shape)
        elif isinstance(link, L.Linear):
            x = args.args[0]
            macs = int(numpy.prod(x.shape)) // link.W.shape[1] * link.W.size
        else:
            return
        self.calls += 1
        if chainer.config.enable_backprop:
            self.macs_backprop += macs
        else:
            self.macs_forward_only += macs

    @property
    def forward_flops(self):
        return 2 * (self.macs_backprop + self.macs_forward_only)

    @property
    def training_flops(self):
        return 2 * (3 * self.macs_backprop + self.macs_forward_only)


class ExecutedFlops(chainer.FunctionHook):
    """MACs of every conv / deconv / linear function Chainer executed."""

    name = 'vox_executed_flops'

    def __init__(self):
        self.macs = 0
        self.by_function = {}

    def _add(self, name, macs):
        self.macs += macs
        self.by_function[name] = self.by_function.get(name, 0) + macs

    def forward_postprocess(self, function, in_data):
        name = type(function).__name__
        if name == 'Convolution2DFunction':
            x, w = in_data[0], in_data[1]
            kh, kw = w.shape[2:]
            oh = conv.get_conv_outsize(x.shape[2], kh, function.sy,
                                       function.ph, function.cover_all,
                                       function.dy)
            ow = conv.get_conv_outsize(x.shape[3], kw, function.sx,
                                       function.pw, function.cover_all,
                                       function.dx)
            self._add(name, conv_macs(x.shape, w.shape,
                                      (x.shape[0], w.shape[0], oh, ow)))
        elif name == 'Deconvolution2DFunction':
            x, w = in_data[0], in_data[1]
            self._add(name, deconv_macs(x.shape, w.shape))
        elif name == 'Convolution2DGradW':
            x, gy = in_data
            self._add(name, int(gy.size) * (x.shape[1] // function.groups)
                      * function.kh * function.kw)
        elif name == 'LinearFunction':
            x, w = in_data[0], in_data[1]
            self._add(name, int(x.size) // w.shape[1] * int(w.size))
        elif name == 'LinearGradData':
            w, gy = in_data
            self._add(name, int(gy.size) // w.shape[0] * int(w.size))
        elif name == 'LinearGradWeight':
            x, gy = in_data
            self._add(name, int(x.size) * gy.shape[1])

    @property
    def flops(self):
        return 2 * self.macs


# ---------------------------------------------------------------------------
# Memory

def _buffer(a):
    """(key, nbytes) of the buffer an array lives in (views share it)."""
    base = a
    while isinstance(getattr(base, 'base', None), type(a)):
        base = base.base
    if hasattr(base, 'data') and hasattr(base.data, 'ptr'):  # CuPy
        return ('cupy', base.data.ptr), int(base.nbytes)
    return ('host', id(base)), int(base.nbytes)


def _arrays_in(value):
    if isinstance(value, numpy.ndarray) or (
            type(value).__module__.startswith('cupy')
            and hasattr(value, 'nbytes') and hasattr(value, 'shape')):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _arrays_in(v)


def saved_activation_bytes(loss, exclude=()):
    """Bytes of the arrays ``loss``'s graph keeps for backward.

    Counts, once per buffer: every function node's retained inputs and
    outputs and the arrays it keeps as attributes (e.g. BatchNorm's
    statistics).  Buffers of ``exclude`` (arrays or Links whose parameters
    are counted elsewhere) are left out.
    """
    skip = set()
    for item in exclude:
        if isinstance(item, chainer.Link):
            for p in item.params():
                if p.array is not None:
                    skip.add(_buffer(p.array)[0])
        else:
            skip.add(_buffer(item)[0])
    buffers = {}
    seen = set()
    stack = [loss.creator_node]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        held = []
        for i in node._input_indexes_to_retain or ():
            held.append(node.inputs[i].data)
        held.extend(node._retained_output_data or ())
        for value in vars(node).values():
            held.extend(_arrays_in(value))
        for a in held:
            if a is None:
                continue
            key, nbytes = _buffer(a)
            if key not in skip:
                buffers[key] = nbytes
        for v in node.inputs:
            if v.creator_node is not None:
                stack.append(v.creator_node)
    return sum(buffers.values())


def param_bytes(link):
    return sum(int(p.array.nbytes) for p in link.params()
               if p.array is not None)


def proc_status():
    """VmRSS and VmHWM (peak) of this process, in bytes (Linux)."""
    out = {}
    try:
        with open('/proc/self/status') as f:
            for line in f:
                key, _, value = line.partition(':')
                if key in ('VmRSS', 'VmHWM'):
                    out[key] = int(value.split()[0]) * 1024
    except OSError:
        pass
    return out


class PoolPeak:
    """Peak of CuPy's default memory pool: ``used`` (bytes in live arrays)
    and ``held`` (bytes the pool has taken from the device, cache included).

    Installs an allocator that calls the default pool and records its
    counters after every allocation; :meth:`reset` starts a new window.
    """

    def __init__(self):
        import cupy  # optional: only on a machine with a GPU
        self.cupy = cupy
        self.pool = cupy.get_default_memory_pool()
        self.used = self.held = 0
        cupy.cuda.set_allocator(self._malloc)

    def _malloc(self, size):
        mem = self.pool.malloc(size)
        used, held = self.pool.used_bytes(), self.pool.total_bytes()
        if used > self.used:
            self.used = used
        if held > self.held:
            self.held = held
        return mem

    def reset(self, free=True):
        if free:
            self.pool.free_all_blocks()
        self.used = self.pool.used_bytes()
        self.held = self.pool.total_bytes()


def synchronize(device):
    """Waits for the device (CuPy); nothing on the CPU."""
    if getattr(device, 'xp', numpy) is not numpy:
        device.xp.cuda.Device().synchronize()


# ---------------------------------------------------------------------------
# Machine

def _cpuinfo():
    info = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                key, _, value = line.partition(':')
                key = key.strip()
                if key and key not in info:
                    info[key] = value.strip()
    except OSError:
        pass
    return info


def cpu_description():
    """Model, family/model numbers, cores, clock, SIMD, memory, BLAS."""
    info = _cpuinfo()
    flags = set(info.get('flags', '').split())
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count()
    mem = None
    try:
        with open('/proc/meminfo') as f:
            for line in f:
                if line.startswith('MemTotal:'):
                    mem = int(line.split()[1]) * 1024
    except OSError:
        pass
    simd = [f for f in ('avx512f', 'avx2', 'fma', 'avx', 'sse4_2')
            if f in flags]
    mhz = float(info['cpu MHz']) if 'cpu MHz' in info else None
    return {
        'model_name': info.get('model name', platform.processor() or '?'),
        'vendor': info.get('vendor_id'),
        'family': info.get('cpu family'),
        'model': info.get('model'),
        'cores': cores,
        'mhz': mhz,
        'simd': simd,
        'hypervisor': 'hypervisor' in flags,
        'memory_bytes': mem,
    }


def cpu_peak_flops(cpu):
    """Assumed float32 peak (FLOP/s) and how it was derived, or (None, why).

    FLOP per cycle per core from the SIMD flags: AVX-512 with 2 FMA units
    64, AVX2 + FMA (2 x 256-bit FMA units: Haswell and later, Zen 2 and
    later) 32, AVX without FMA 16; times the cores this process may use and
    the clock /proc/cpuinfo reports (nominal; turbo not counted).
    """
    simd = set(cpu.get('simd') or ())
    if 'avx512f' in simd:
        per_cycle, what = 64, 'AVX-512: 2 FMA units x 16 float32 x 2'
    elif 'avx2' in simd and 'fma' in simd:
        per_cycle, what = 32, 'AVX2+FMA: 2 FMA units x 8 float32 x 2'
    elif 'avx' in simd:
        per_cycle, what = 16, 'AVX: 8-wide add + 8-wide mul'
    else:
        return None, 'unknown (no AVX flag found)'
    if not cpu.get('mhz') or not cpu.get('cores'):
        return None, 'unknown (no clock in /proc/cpuinfo)'
    peak = per_cycle * cpu['cores'] * cpu['mhz'] * 1e6
    return peak, (f"{cpu['cores']} cores x {cpu['mhz']:.0f} MHz "
                  f"(/proc/cpuinfo, nominal) x {per_cycle} FLOP/cycle "
                  f"({what}); assumed, not measured")


#: FP32 (non-tensor-core) peaks of GPUs the project may get, FLOP/s.
GPU_FP32_PEAK = [
    (r'H200', 66.9e12, 'H200 SXM FP32 (NVIDIA datasheet)'),
    (r'H100.*PCIe', 51.2e12, 'H100 PCIe FP32 (NVIDIA datasheet)'),
    (r'H100', 66.9e12, 'H100 SXM FP32 (NVIDIA datasheet)'),
    (r'A100', 19.5e12, 'A100 FP32 (NVIDIA datasheet)'),
]


#: TF32 tensor-core peaks (dense; the datasheets' headline figures are
#: with 2:4 sparsity, twice these), FLOP/s.  CuPy's matrix products use
#: TF32 only with CUPY_TF32=1.
GPU_TF32_PEAK = [
    (r'H200', 494.7e12, 'H200 SXM TF32 tensor core, dense (NVIDIA '
                        'datasheet: 989 TFLOP/s with sparsity)'),
    (r'H100.*PCIe', 378e12, 'H100 PCIe TF32 tensor core, dense (NVIDIA '
                            'datasheet: 756 with sparsity)'),
    (r'H100', 494.7e12, 'H100 SXM TF32 tensor core, dense (NVIDIA '
                        'datasheet: 989 with sparsity)'),
    (r'A100', 156e12, 'A100 TF32 tensor core, dense (NVIDIA datasheet)'),
]


def gpu_description():
    import cupy  # optional: only on a machine with a GPU
    dev = cupy.cuda.Device()
    props = cupy.cuda.runtime.getDeviceProperties(dev.id)
    name = props['name']
    name = name.decode() if isinstance(name, bytes) else str(name)
    desc = {
        'name': name,
        'memory_bytes': int(props['totalGlobalMem']),
        'cupy': cupy.__version__,
        'cuda_runtime': cupy.cuda.runtime.runtimeGetVersion(),
        'cudnn': bool(getattr(cuda, 'cudnn_enabled', False)),
    }
    desc['peak_flops'], desc['peak_source'] = None, 'unknown GPU model'
    for pattern, peak, source in GPU_FP32_PEAK:
        if re.search(pattern, name):
            desc['peak_flops'], desc['peak_source'] = peak, source
            break
    desc['tf32_peak_flops'], desc['tf32_peak_source'] = None, 'unknown'
    for pattern, peak, source in GPU_TF32_PEAK:
        if re.search(pattern, name):
            desc['tf32_peak_flops'], desc['tf32_peak_source'] = peak, source
            break
    desc['cupy_tf32'] = os.environ.get('CUPY_TF32')
    return desc


def blas_description():
    try:
        cfg = numpy.show_config(mode='dicts')
        blas = cfg['Build Dependencies']['blas']
        return f"{blas.get('name')} {blas.get('version')} " \
               f"({blas.get('openblas configuration', '').strip()})"
    except Exception:  # NumPy < 1.25 or another layout
        return 'unknown'


def blas_threads():
    for var in ('OPENBLAS_NUM_THREADS', 'OMP_NUM_THREADS', 'MKL_NUM_THREADS'):
        if os.environ.get(var):
            return f'{var}={os.environ[var]}'
    return 'BLAS default (one per core)'
