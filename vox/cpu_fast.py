"""Faster CPU (NumPy) cores for the Chainer functions vox spends its time in.

Measured, not guessed (docs/performance.md, "Making it fast" and
"Against PyTorch").  Every replacement computes what Chainer's code does
(bit for bit where stated, else to float32 rounding), is tested against
it in tests/test_cpu_fast.py, and is undone by ``uninstall()``.  Nothing
is replaced on import: a run calls ``install_for_run()``, which leaves
Chainer's code as it is under ``VOX_CHAINER_CPU_FAST=0``.

Convolutions
------------
On the CPU Chainer 7.8.1 spends more time *copying* than multiplying in
its convolutions.  ``Convolution2DFunction`` builds the im2col array ``col``
as ``(n, c, kh, kw, out_h, out_w)`` and calls ``numpy.tensordot(col, W,
...)``, which transposes ``col`` to ``(n, out_h, out_w, c, kh, kw)`` and
copies it (the biggest array of the layer, ``kh * kw`` times its input)
and copies ``W`` transposed as well, before one GEMM.
``Convolution2DGradW`` does the same for the weight gradient, and
``Deconvolution2DFunction`` (also the input gradient of every
convolution) copies ``W`` transposed and its input.  With the smoke
profile's narrow layers those copies took longer than the GEMMs.

This module replaces the three ``_forward_cpu_core`` methods (the plain
NumPy path: not iDeep, not grouped, not CuPy) with the same algorithm laid
out so that no operand needs a transposed copy:

* im2col writes ``col`` as ``(c, kh, kw, n, out_h, out_w)``, i.e. the
  ``(K, n * out_h * out_w)`` matrix the GEMM reads, with
  ``K = c * kh * kw``;
* forward ``y = W(out_c, K) @ col(K, nP)``, returned as the ``(n, out_c,
  out_h, out_w)`` view of the ``(out_c, n, out_h, out_w)`` result (Chainer
  also returned a transposed view);
* weight gradient ``gW = gy(out_c, nP) @ col(K, nP).T`` (BLAS reads the
  transposed operand in place);
* deconvolution ``gcol = W(in_c, K').T @ x(in_c, nP)``, then col2im.

im2col copies straight from the input, writing the padding's zeros only
where they fall (Chainer first copies the whole input into a padded
array); col2im adds straight into the unpadded image, skipping the terms
that land in the padding (Chainer adds into a padded image and returns a
cropped, non-contiguous view of it), each pixel the same terms added in
the same order onto 0, bit for bit.

Same products and the same sums; only the memory layout changes.  The
results agree with Chainer's to float32 rounding (tests/test_cpu_fast.py:
the order in which a GEMM adds up its products is BLAS's, and a GEMM of
another shape may round the last bit differently), and they are as
deterministic run to run as before (same shapes, same BLAS, same threads).

Leaky ReLU
----------
``LeakyReLU`` and its gradient scale the non-positive entries through
boolean-mask indexing (``y = x.copy(); y[x <= 0] *= slope``), a gather and
a scatter of half the array.  Here the forward is ``maximum(x, x *
slope)`` (for ``0 < slope <= 1``) and the gradient ``gy * [1,
slope][cond <= 0]`` (a table lookup; a product with 1.0 is exact): the
same float32 products, bit for bit (signed zeros, NaN and infinities
included), in cache-sized blocks, about 10x (forward) and 4x (gradient)
faster than ``numpy.where``, which this module used before.  The StarGANs
spent 13% of a CPU iteration in Chainer's.

Threads
-------
Outside BLAS, NumPy runs on one thread, while the copies and elementwise
passes here are a third of a step.  im2col, col2im, leaky ReLU and
RMSprop split their work into ``threads()`` chunks (as many threads as
NumPy's OpenBLAS uses at the moment, so ``OPENBLAS_NUM_THREADS`` and
threadpoolctl's limits apply to them too), run at once in a thread pool:
NumPy releases the GIL in copies and ufunc loops.  Each chunk writes its
own part of the output and computes each value as the unchunked code
would, so results do not depend on the number of threads (tested with 1
and 3).

The weight gradient reuses the forward's im2col
----------------------------------------------
``Convolution2DGradW`` builds the same im2col array the forward built
from the same ``x`` (the convolution's retained input).  The forward keeps
it on its node (only when backprop is on and the array is at most
``COL_CACHE_BYTES``: bc7db4a2's ``dec1`` builds 2.5 GiB and rebuilds it)
and hands it to the weight-gradient node, which uses it once and lets it
go.  The same array, so the same values bit for bit; one im2col pass per
convolution and step fewer.

RMSprop in place
----------------
``RMSpropRule.update_core_cpu`` evaluates ``ms += (1 - alpha) * grad *
grad`` and ``param -= lr * grad / (sqrt(ms) + eps)`` with five temporaries
the size of the parameter (the heads' 48M-parameter weights: 190 MB each,
allocated and page-faulted anew every step).  Here the same ufuncs run in
the same order, a block of ``BLOCK`` elements at a time through two small
buffers that stay in cache: bit for bit the same update.  It was 7% of a classifier step and a third of cfcefd21's critic
step.

Batch normalization in fewer passes
-----------------------------------
Chainer's training-mode ``BatchNormalization`` on NumPy makes about a
dozen passes over the input (``x.mean``, ``x.var`` with its own
temporaries, ``x - mean``, ``* inv_std``, ``* gamma``, ``+ beta`` and a
final ``astype`` copy) and its gradient about as many (``x_hat`` rebuilt,
then ``(x_hat * ggamma + gbeta) * inv_m`` and two more, each a new
array).  Here the per-channel sums are taken over the array as laid out
in memory (``(n, c, h*w)`` or ``(c, n, h*w)``: both occur, the
convolutions return the latter), ``x - mean`` is computed once and scaled
in place, and the gradient is ``gy * (gamma * inv_std) - (x_hat * a +
b)`` with per-channel ``a`` and ``b``, in place.  Same formulas, other
summation order and other grouping of the per-channel factors: equal to
Chainer's to float32 rounding (tests/test_cpu_fast.py, forward, backward
and double backward; the double backward is Chainer's own
``BatchNormalizationGrad.backward``, unchanged, fed the same retained
values).  Other layouts, dtypes and iDeep / cuDNN go to Chainer's code.

The allocator
-------------
Every step allocates and frees arrays of tens to hundreds of MB (im2col,
col2im, gradients).  glibc serves each allocation over 32 MB by a fresh
``mmap`` and returns it on ``free``, so each step page-faults and zeroes
them again: system time was a large share of a step.  ``install()`` asks
glibc (``mallopt``, through ctypes; nothing on other C libraries) to keep
freed memory in its heap instead (``M_MMAP_MAX = 0``, a 1 GiB trim
threshold); ``uninstall()`` restores glibc's defaults.  Values are not
affected.

``VOX_CHAINER_CPU_FAST=0`` leaves Chainer's code untouched.
"""
import ctypes
import ctypes.util
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy
from vox import compat  # noqa: F401  (before chainer: Chainer today)
import chainer
from chainer.backends import intel64 as _intel64
from chainer.functions.activation import leaky_relu as _leaky_relu
from chainer.functions.connection import convolution_2d as _conv2d
from chainer.functions.connection import deconvolution_2d as _deconv2d
from chainer.functions.normalization import batch_normalization as _bn
from chainer.optimizers import rmsprop as _rmsprop
from chainer.utils import conv as _conv

_ORIGINAL = {}
COL_CACHE_BYTES = 256 * 2 ** 20


def _blas_threads_fn():
    """NumPy's OpenBLAS ``openblas_get_num_threads`` (None if not found)."""
    try:
        with open('/proc/self/maps') as maps:
            paths = {line.split()[-1] for line in maps
                     if 'openblas' in line.rsplit('/', 1)[-1]}
    except OSError:
        return None
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in ('openblas_get_num_threads64_',
                     'openblas_get_num_threads'):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn.restype = ctypes.c_int
                return fn
    return None


_THREADS = {'fn': None, 'looked': False, 'pool': None, 'pool_size': 0,
            'off': False}
PARALLEL_MIN_BYTES = 2 ** 20


def threads():
    """How many threads the copies and elementwise passes here use: as
    many as NumPy's BLAS does now (it follows OPENBLAS_NUM_THREADS and
    threadpoolctl's limits), 1 if that cannot be asked."""
    if _THREADS['off']:
        return 1
    if not _THREADS['looked']:
        _THREADS['fn'], _THREADS['looked'] = _blas_threads_fn(), True
    fn = _THREADS['fn']
    return max(1, int(fn())) if fn is not None else 1


def parallel(fn, n, nbytes):
    """``fn(start, stop)`` over ``[0, n)`` in ``threads()`` contiguous
    chunks at once (NumPy releases the GIL in copies and ufunc loops).

    Every caller's chunks write disjoint parts of the output and compute
    each value as the unchunked code would, so the results do not depend
    on the number of threads."""
    k = min(threads(), n) if nbytes >= PARALLEL_MIN_BYTES else 1
    if k <= 1:
        fn(0, n)
        return
    if _THREADS['pool_size'] < k - 1:
        _THREADS['pool'] = ThreadPoolExecutor(k - 1)
        _THREADS['pool_size'] = k - 1
    pool = _THREADS['pool']
    bounds = [n * i // k for i in range(k + 1)]
    futures = [pool.submit(fn, bounds[i], bounds[i + 1])
               for i in range(1, k)]
    fn(bounds[0], bounds[1])
    for f in futures:
        f.result()


def _taps(k, d, s, p, out, size):
    """Per kernel offset: ``(t0, t1, r0)``, the outputs ``t0 <= t < t1``
    whose input ``t * s + k * d - p`` lies inside ``[0, size)``, the first
    of them being ``r0``; the others read Chainer's zero padding."""
    taps = []
    for j in range(k):
        first = j * d - p
        t0 = min(out, max(0, -(first // s)))
        t1 = max(t0, min(out, -((first - size) // s)))
        taps.append((t0, t1, first + t0 * s))
    return taps


def im2col_knp(img, kh, kw, sy, sx, ph, pw, cover_all=False, dy=1, dx=1):
    """``(col, out_h, out_w)``: col is ``(c, kh, kw, n, out_h, out_w)``.

    The values of Chainer's ``im2col_cpu`` (same padding, strides,
    dilation and ``cover_all``), with the batch axis moved next to the
    spatial ones so ``col.reshape(c * kh * kw, -1)`` is a free view.
    Copied straight from the input (no padded copy of it first), the
    padding's zeros written only where they fall, channels split across
    ``threads()``.
    """
    n, c, h, w = img.shape
    out_h = _conv.get_conv_outsize(h, kh, sy, ph, cover_all, dy)
    assert out_h > 0, 'Height in the output should be positive.'
    out_w = _conv.get_conv_outsize(w, kw, sx, pw, cover_all, dx)
    assert out_w > 0, 'Width in the output should be positive.'
    src = img.transpose(1, 0, 2, 3)  # (c, n, h, w), a view
    col = numpy.empty((c, kh, kw, n, out_h, out_w), dtype=img.dtype)
    rows = _taps(kh, dy, sy, ph, out_h, h)
    cols = _taps(kw, dx, sx, pw, out_w, w)

    def fill(a, b):
        for j, (t0, t1, r0) in enumerate(rows):
            for i, (s0, s1, q0) in enumerate(cols):
                dst = col[a:b, j, i]
                dst[:, :, :t0] = 0
                dst[:, :, t1:] = 0
                dst[:, :, t0:t1, :s0] = 0
                dst[:, :, t0:t1, s1:] = 0
                if t1 > t0 and s1 > s0:
                    dst[:, :, t0:t1, s0:s1] = src[
                        a:b, :, r0:r0 + (t1 - t0 - 1) * sy + 1:sy,
                        q0:q0 + (s1 - s0 - 1) * sx + 1:sx]
    parallel(fill, c, col.nbytes)
    return col, out_h, out_w


def col2im_knp(gcol, sy, sx, ph, pw, h, w, dy=1, dx=1):
    """Chainer's ``col2im_cpu`` for ``gcol`` laid out ``(c, kh, kw, n,
    in_h, in_w)``: returns the ``(n, c, h, w)`` image laid out ``(c, n,
    h, w)``.  Each pixel is the sum of the same terms added in the same
    order onto 0 as in Chainer's (bit for bit), added straight into the
    unpadded image (contributions that land in the padding are skipped
    instead of cropped away), channels split across ``threads()``."""
    c, kh, kw, n, in_h, in_w = gcol.shape
    img = numpy.empty((c, n, h, w), dtype=gcol.dtype)
    # the inverse map of im2col's: input pixel r = t * s + j * d - p
    rows = _taps(kh, dy, sy, ph, in_h, h)
    cols = _taps(kw, dx, sx, pw, in_w, w)

    def add(a, b):
        img[a:b] = 0
        for j, (t0, t1, r0) in enumerate(rows):
            for i, (s0, s1, q0) in enumerate(cols):
                if t1 > t0 and s1 > s0:
                    img[a:b, :, r0:r0 + (t1 - t0 - 1) * sy + 1:sy,
                        q0:q0 + (s1 - s0 - 1) * sx + 1:sx] += gcol[
                            a:b, j, i, :, t0:t1, s0:s1]
    parallel(add, c, img.nbytes + gcol.nbytes)
    return img.transpose(1, 0, 2, 3)


def _conv_forward_cpu_core(self, x, W, b):
    if self._use_ideep:
        return self._forward_ideep(x, W, b)
    out_c, _, kh, kw = W.shape
    n = x.shape[0]
    col, out_h, out_w = im2col_knp(
        x, kh, kw, self.sy, self.sx, self.ph, self.pw,
        cover_all=self.cover_all, dy=self.dy, dx=self.dx)
    if (chainer.config.enable_backprop and col.nbytes <= COL_CACHE_BYTES
            and _conv2d.Convolution2DGradW.__init__ is _conv_grad_w_init):
        self._vox_col = (x, (kh, kw), col, out_h, out_w)
    y = numpy.dot(W.reshape(out_c, -1), col.reshape(-1, n * out_h * out_w)
                  ).astype(x.dtype, copy=False)
    if b is not None:
        y += b.reshape(-1, 1)
    return y.reshape(out_c, n, out_h, out_w).transpose(1, 0, 2, 3),


def _conv_grad_w_forward_cpu_core(self, x, gy):
    if self._use_ideep:
        return self._forward_ideep(x, gy)
    n, out_c = gy.shape[:2]
    cached, self._vox_col = getattr(self, '_vox_col', None), None
    if cached is not None and cached[0] is x and cached[1] == (
            self.kh, self.kw):
        col, out_h, out_w = cached[2:]
    else:
        col, out_h, out_w = im2col_knp(
            x, self.kh, self.kw, self.sy, self.sx, self.ph, self.pw,
            cover_all=self.cover_all, dy=self.dy, dx=self.dx)
    gy = gy.transpose(1, 0, 2, 3).reshape(out_c, -1)  # free if laid out so
    gW = numpy.dot(gy, col.reshape(-1, n * out_h * out_w).T)
    return gW.reshape(out_c, x.shape[1], self.kh, self.kw).astype(
        self.W_dtype, copy=False),


def _conv_grad_w_init(self, conv2d, w_shape, w_dtype, w_layout):
    _ORIGINAL[(_conv2d.Convolution2DGradW, '__init__')](
        self, conv2d, w_shape, w_dtype, w_layout)
    # The forward's im2col of the same x, handed over (used once).
    self._vox_col = getattr(conv2d, '_vox_col', None)
    conv2d._vox_col = None


def _deconv_forward_cpu_core(self, x, W, b):
    if self._use_ideep:
        return self._forward_ideep(x, W, b)
    in_c, out_c, kh, kw = W.shape
    n, _, h, w = x.shape
    x = x.transpose(1, 0, 2, 3).reshape(in_c, -1)  # free if laid out so
    gcol = numpy.dot(W.reshape(in_c, -1).T, x).astype(x.dtype, copy=False)
    y = col2im_knp(
        gcol.reshape(out_c, kh, kw, n, h, w), self.sy, self.sx, self.ph,
        self.pw, self.outh, self.outw, dy=self.dy, dx=self.dx)
    if b is not None:
        y += b.reshape((1, b.size, 1, 1))
    return y,


def _memory_flat(a):
    """``(flat, layout)``: ``a`` as the 1-D view of its memory, for the
    C order and the ``(c, n, h, w)`` order of a 4-D array; None else."""
    if a.flags.c_contiguous:
        return a.reshape(-1), 'C'
    if a.ndim == 4 and a.transpose(1, 0, 2, 3).flags.c_contiguous:
        return a.transpose(1, 0, 2, 3).reshape(-1), 'CN'
    return None, None


BLOCK = 2 ** 18  # elements per pass of a blocked loop (1 MiB of float32)


def _scale_non_positive(cond, v, slope):
    """``numpy.where(cond <= 0, v * slope, v)`` bit for bit, faster.

    The forward (``cond is v``, ``0 < slope <= 1``) is ``maximum(v, v *
    slope)``; the gradient ``v * [1, slope][cond <= 0]`` (a product with
    1.0 is exact).  Both in blocks that stay in cache, split across
    threads, when both arrays are laid out alike; ``numpy.where`` (and a
    boolean-mask ``multiply``) are several times slower.
    """
    cf, layout = _memory_flat(cond)
    vf, layout_v = _memory_flat(v)
    if (layout is None or layout != layout_v or cond.shape != v.shape
            or cond.dtype != v.dtype):
        return numpy.where(cond <= 0, v * slope, v)
    out = numpy.empty_like(vf)
    forward = cond is v and 0 < slope <= 1
    factors = numpy.array([1, slope], dtype=v.dtype)

    def run(a, b):
        for s in range(a, b, BLOCK):
            e = min(s + BLOCK, b)
            vs, o = vf[s:e], out[s:e]
            if forward:
                numpy.multiply(vs, slope, out=o)
                numpy.maximum(vs, o, out=o)
            else:
                non_positive = numpy.less_equal(cf[s:e], 0)
                numpy.take(factors, non_positive.view(numpy.uint8), out=o)
                o *= vs
    parallel(run, out.size, 3 * out.nbytes)
    if layout == 'C':
        return out.reshape(v.shape)
    n, c, h, w = v.shape
    return out.reshape(c, n, h, w).transpose(1, 0, 2, 3)


def _leaky_relu_forward_cpu(self, inputs):
    if (_intel64.should_use_ideep('>=auto')
            and _intel64.inputs_all_ready(inputs)):
        return self.forward_ideep(inputs)
    x, = inputs
    y = _scale_non_positive(x, x, self.slope)
    if self.slope >= 0:
        self.retain_outputs((0,))
    else:
        self.retain_inputs((0,))
    return y,


def _leaky_relu_grad_forward_cpu(self, inputs):
    if (_intel64.should_use_ideep('>=auto')
            and _intel64.inputs_all_ready(inputs)):
        return self.forward_ideep(inputs)
    gy, = inputs
    return _scale_non_positive(self.cond, gy, self.slope),


def _channels_3d(a, c):
    """``(a3, axis)``: a C-contiguous 3-D view of the ``(n, c, h, w)`` array
    ``a``, ``(n, c, h * w)`` (axis 1 is the channel) or ``(c, n, h * w)``
    (axis 0), whichever its memory is; ``None`` for other layouts."""
    if a.ndim != 4 or a.shape[1] != c:
        return None
    n, _, h, w = a.shape
    if a.flags.c_contiguous:
        return a.reshape(n, c, h * w), 1
    t = a.transpose(1, 0, 2, 3)
    if t.flags.c_contiguous:
        return t.reshape(c, n, h * w), 0
    return None


def _per_channel_sum(a3, axis):
    # pairwise sums along the contiguous h * w axis, then over the batch
    return a3.sum(axis=2).sum(axis=1 - axis)


def _expand(v, axis):
    return v[None, :, None] if axis == 1 else v[:, None, None]


def _to_4d(a3, axis, shape):
    n, c, h, w = shape
    if axis == 1:
        return a3.reshape(n, c, h, w)
    return a3.reshape(c, n, h, w).transpose(1, 0, 2, 3)


def _bn_own_statistics(impl):
    """True where a subclass computes the statistics itself, e.g. ChainerMN's
    multi-node BatchNormalization, whose ``get_mean_and_var`` and
    ``get_ggamma_and_gbeta`` all-reduce over the ranks: the fused passes
    below compute them locally, so such an impl keeps Chainer's own code."""
    base = _bn.GeneralBatchNormalizationImpl
    return (type(impl).get_mean_and_var is not base.get_mean_and_var
            or type(impl).get_ggamma_and_gbeta
            is not base.get_ggamma_and_gbeta)


def _bn_fits(axis, gamma, x):
    return (isinstance(x, numpy.ndarray) and isinstance(gamma, numpy.ndarray)
            and x.dtype == gamma.dtype and x.dtype.kind == 'f'
            and tuple(axis) == (0, 2, 3) and gamma.ndim == 1)


def _bn_forward(self, axis, gamma, x, x_layout, xp, expander, beta, eps,
                decay, running_mean, running_var):
    view = (_channels_3d(x, gamma.size) if xp is numpy
            and x_layout is None and _bn_fits(axis, gamma, x)
            and not _bn_own_statistics(self) else None)
    if view is None:
        return _ORIGINAL[(_bn.GeneralBatchNormalizationImpl, 'forward')](
            self, axis, gamma, x, x_layout, xp, expander, beta, eps, decay,
            running_mean, running_var)
    x3, ax = view
    m = x.size // gamma.size
    m_ = x.dtype.type(m)  # a Python int over 65535 would promote to float64
    mean = _per_channel_sum(x3, ax) / m_
    d = x3 - _expand(mean, ax)
    var = _per_channel_sum(numpy.multiply(d, d), ax) / m_
    inv_std = numpy.reciprocal(numpy.sqrt(var + eps, dtype=x.dtype))
    d *= _expand(gamma * inv_std, ax)
    d += _expand(beta, ax)
    if running_mean is not None:  # as Chainer updates them
        adjust = m / max(m - 1., 1.)  # unbiased estimation
        running_mean *= decay
        running_mean += (1 - decay) * mean
        running_var *= decay
        running_var += (1 - decay) * adjust * var
    return (_to_4d(d, ax, x.shape), x_layout, running_mean, running_var,
            mean, var, inv_std, None)


def _bn_backward(self, axis, gamma, gy, x, x_layout, xp, expander, mean,
                 inv_std, eps, var, forward_data):
    view = (_channels_3d(x, gamma.size) if xp is numpy
            and x_layout is None and _bn_fits(axis, gamma, x)
            and isinstance(gy, numpy.ndarray) and gy.dtype == x.dtype
            and not _bn_own_statistics(self) else None)
    if view is None:
        return _ORIGINAL[(_bn.GeneralBatchNormalizationImpl, 'backward')](
            self, axis, gamma, gy, x, x_layout, xp, expander, mean, inv_std,
            eps, var, forward_data)
    x3, ax = view
    perm = (1, 0, 2, 3) if ax == 0 else (0, 1, 2, 3)
    gy3 = numpy.ascontiguousarray(gy.transpose(perm)).reshape(x3.shape)
    inv_m = x.dtype.type(1. / (x.size // gamma.size))
    x_hat = x3 - _expand(mean, ax)
    x_hat *= _expand(inv_std, ax)
    gbeta = _per_channel_sum(gy3, ax)
    tmp = numpy.multiply(gy3, x_hat)
    ggamma = _per_channel_sum(tmp, ax)
    # gx = gamma * inv_std * (gy - (x_hat * ggamma + gbeta) / m)
    x_hat *= _expand(ggamma * inv_m, ax)
    x_hat += _expand(gbeta * inv_m, ax)
    numpy.subtract(gy3, x_hat, out=tmp)
    tmp *= _expand(gamma * inv_std, ax)
    return _to_4d(tmp, ax, x.shape), None, ggamma, gbeta


def _rmsprop_update_core_cpu(self, param):
    grad = param.grad
    if grad is None:
        return
    hp = self.hyperparam
    eps = grad.dtype.type(hp.eps)
    if hp.eps != 0 and eps == 0:
        raise ValueError(
            'eps of RMSprop optimizer is too small for {} ({})'.format(
                grad.dtype.name, hp.eps))
    ms = self.state['ms']
    if not (isinstance(grad, numpy.ndarray) and grad.flags.c_contiguous):
        return _ORIGINAL[(_rmsprop.RMSpropRule, 'update_core_cpu')](
            self, param)
    data = param.data
    if not (ms.flags.c_contiguous and data.flags.c_contiguous):
        return _ORIGINAL[(_rmsprop.RMSpropRule, 'update_core_cpu')](
            self, param)
    g_all, ms_all, p_all = grad.reshape(-1), ms.reshape(-1), data.reshape(-1)

    def run(a, b):
        tmp_b = numpy.empty(min(BLOCK, b - a), grad.dtype)
        denom_b = numpy.empty_like(tmp_b)
        for s in range(a, b, BLOCK):
            e = min(s + BLOCK, b)
            # Chainer's expressions, operation for operation, a block at
            # a time (the temporaries stay in cache)
            g, ms, tmp, denom = (g_all[s:e], ms_all[s:e], tmp_b[:e - s],
                                 denom_b[:e - s])
            ms *= hp.alpha
            numpy.multiply(1 - hp.alpha, g, out=tmp)
            tmp *= g
            ms += tmp
            if hp.eps_inside_sqrt:
                numpy.add(ms, eps, out=denom)
                numpy.sqrt(denom, out=denom)
            else:
                numpy.sqrt(ms, out=denom)
                denom += eps
            numpy.multiply(hp.lr, g, out=tmp)
            tmp /= denom
            p_all[s:e] -= tmp
    parallel(run, g_all.size, 5 * grad.nbytes)


_PATCHES = {
    (_conv2d.Convolution2DFunction, '_forward_cpu_core'):
        _conv_forward_cpu_core,
    (_conv2d.Convolution2DGradW, '_forward_cpu_core'):
        _conv_grad_w_forward_cpu_core,
    (_deconv2d.Deconvolution2DFunction, '_forward_cpu_core'):
        _deconv_forward_cpu_core,
    (_leaky_relu.LeakyReLU, 'forward_cpu'): _leaky_relu_forward_cpu,
    (_leaky_relu._LeakyReLUGrad, 'forward_cpu'):
        _leaky_relu_grad_forward_cpu,
    (_conv2d.Convolution2DGradW, '__init__'): _conv_grad_w_init,
    (_bn.GeneralBatchNormalizationImpl, 'forward'): _bn_forward,
    (_bn.GeneralBatchNormalizationImpl, 'backward'): _bn_backward,
    (_rmsprop.RMSpropRule, 'update_core_cpu'): _rmsprop_update_core_cpu,
}

# glibc's mallopt parameters (malloc.h).  Any mallopt call turns glibc's
# dynamic thresholds off for good, so "back" means the values they settle
# at in a process that has freed a large array (the mmap threshold's
# ceiling, 32 MiB on 64-bit, and twice that for trimming), as in a
# training step with Chainer's own code.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_MALLOC_KEEP = {_M_MMAP_MAX: 0, _M_TRIM_THRESHOLD: 2 ** 30}
_MALLOC_BACK = {_M_MMAP_MAX: 65536, _M_MMAP_THRESHOLD: 32 * 2 ** 20,
                _M_TRIM_THRESHOLD: 64 * 2 ** 20}
_MALLOC_STATE = {'kept': False}


def _glibc():
    if not sys.platform.startswith('linux'):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
        return libc if hasattr(libc, 'mallopt') else None
    except OSError:
        return None


def _keep_freed_memory(keep):
    if keep == _MALLOC_STATE['kept']:
        return
    libc = _glibc()
    if libc is not None:
        for key, value in (_MALLOC_KEEP if keep else _MALLOC_BACK).items():
            libc.mallopt(key, value)
        _MALLOC_STATE['kept'] = keep


# The replacements by change, for before / after measurements of one
# (tools/bench_cpu_fast.py --skip); 'malloc' is the mallopt setting,
# 'parallel' the threads of the copies and elementwise passes.
GROUPS = {
    'conv': ['_forward_cpu_core'],
    'leaky_relu': ['forward_cpu'],
    'col_reuse': ['__init__'],
    'batchnorm': ['forward', 'backward'],
    'rmsprop': ['update_core_cpu'],
    'malloc': [],
    'parallel': [],  # threads() is 1: copies and passes on one thread
}


def install(skip=()):
    """Replaces Chainer's CPU cores with these (idempotent); ``skip``
    names groups of ``GROUPS`` to leave as Chainer's (or glibc's)."""
    unknown = set(skip) - set(GROUPS)
    if unknown:
        raise ValueError(f'unknown cpu_fast groups: {sorted(unknown)}')
    uninstall()
    skipped = {name for g in skip for name in GROUPS[g]}
    _THREADS['off'] = 'parallel' in skip
    for (cls, name), fn in _PATCHES.items():
        _ORIGINAL.setdefault((cls, name), getattr(cls, name))
        if name not in skipped:
            setattr(cls, name, fn)
    if 'malloc' not in skip:
        _keep_freed_memory(True)


def uninstall():
    """Puts Chainer's own cores back (tests compare the two)."""
    for (cls, name), fn in _ORIGINAL.items():
        setattr(cls, name, fn)
    _keep_freed_memory(False)


def installed():
    return all(getattr(cls, name) is fn for (cls, name), fn in
               _PATCHES.items())


def install_for_run(environ=None):
    """What a run does before it builds anything: installs these cores
    unless ``VOX_CHAINER_CPU_FAST=0`` (then Chainer's own stay); returns
    whether they are installed (environment.json records it)."""
    environ = os.environ if environ is None else environ
    if environ.get('VOX_CHAINER_CPU_FAST', '1') != '0':
        install()
    return installed()
