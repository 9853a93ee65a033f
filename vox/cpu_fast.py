"""Faster CPU (NumPy) cores for the Chainer functions vox spends its time in.

Measured, not guessed (docs/performance.md, "Making it fast").

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
* deconvolution ``gcol = W(in_c, K').T @ x(in_c, nP)``, then Chainer's own
  col2im, as before.

Same products and the same sums; only the memory layout changes.  The
results agree with Chainer's to float32 rounding (tests/test_cpu_fast.py:
the order in which a GEMM adds up its products is BLAS's, and a GEMM of
another shape may round the last bit differently), and they are as
deterministic run to run as before (same shapes, same BLAS, same threads).

Leaky ReLU
----------
``LeakyReLU`` and its gradient scale the non-positive entries through
boolean-mask indexing (``y = x.copy(); y[x <= 0] *= slope``), a gather and
a scatter of half the array; here ``numpy.where(x <= 0, x * slope, x)``:
the same float32 products, bit for bit (signed zeros, NaN and infinities
included), about 2.5x faster.  The StarGANs spent 13% of a CPU iteration
in it.

``VOX_CHAINER_CPU_FAST=0`` leaves Chainer's code untouched.
"""
import os

import numpy
from chainer.backends import intel64 as _intel64
from chainer.functions.activation import leaky_relu as _leaky_relu
from chainer.functions.connection import convolution_2d as _conv2d
from chainer.functions.connection import deconvolution_2d as _deconv2d
from chainer.utils import conv as _conv

_ORIGINAL = {}


def im2col_knp(img, kh, kw, sy, sx, ph, pw, cover_all=False, dy=1, dx=1):
    """``(col, out_h, out_w)``: col is ``(c, kh, kw, n, out_h, out_w)``.

    The values of Chainer's ``im2col_cpu`` (same padding, strides,
    dilation and ``cover_all``), with the batch axis moved next to the
    spatial ones so ``col.reshape(c * kh * kw, -1)`` is a free view.
    """
    n, c, h, w = img.shape
    out_h = _conv.get_conv_outsize(h, kh, sy, ph, cover_all, dy)
    assert out_h > 0, 'Height in the output should be positive.'
    out_w = _conv.get_conv_outsize(w, kw, sx, pw, cover_all, dx)
    assert out_w > 0, 'Width in the output should be positive.'
    img = numpy.pad(img,
                    ((0, 0), (0, 0), (ph, ph + sy - 1), (pw, pw + sx - 1)),
                    mode='constant', constant_values=(0,))
    img = img.transpose(1, 0, 2, 3)  # (c, n, h, w), a view
    col = numpy.empty((c, kh, kw, n, out_h, out_w), dtype=img.dtype)
    for j in range(kh):
        jdy = j * dy
        j_lim = jdy + sy * out_h
        for i in range(kw):
            idx = i * dx
            i_lim = idx + sx * out_w
            col[:, j, i] = img[:, :, jdy:j_lim:sy, idx:i_lim:sx]
    return col, out_h, out_w


def _conv_forward_cpu_core(self, x, W, b):
    if self._use_ideep:
        return self._forward_ideep(x, W, b)
    out_c, _, kh, kw = W.shape
    n = x.shape[0]
    col, out_h, out_w = im2col_knp(
        x, kh, kw, self.sy, self.sx, self.ph, self.pw,
        cover_all=self.cover_all, dy=self.dy, dx=self.dx)
    y = numpy.dot(W.reshape(out_c, -1), col.reshape(-1, n * out_h * out_w)
                  ).astype(x.dtype, copy=False)
    if b is not None:
        y += b.reshape(-1, 1)
    return y.reshape(out_c, n, out_h, out_w).transpose(1, 0, 2, 3),


def _conv_grad_w_forward_cpu_core(self, x, gy):
    if self._use_ideep:
        return self._forward_ideep(x, gy)
    n, out_c = gy.shape[:2]
    col, out_h, out_w = im2col_knp(
        x, self.kh, self.kw, self.sy, self.sx, self.ph, self.pw,
        cover_all=self.cover_all, dy=self.dy, dx=self.dx)
    gy = gy.transpose(1, 0, 2, 3).reshape(out_c, -1)  # free if laid out so
    gW = numpy.dot(gy, col.reshape(-1, n * out_h * out_w).T)
    return gW.reshape(out_c, x.shape[1], self.kh, self.kw).astype(
        self.W_dtype, copy=False),


def _deconv_forward_cpu_core(self, x, W, b):
    if self._use_ideep:
        return self._forward_ideep(x, W, b)
    in_c, out_c, kh, kw = W.shape
    n, _, h, w = x.shape
    x = x.transpose(1, 0, 2, 3).reshape(in_c, -1)  # free if laid out so
    gcol = numpy.dot(W.reshape(in_c, -1).T, x).astype(x.dtype, copy=False)
    gcol = numpy.rollaxis(gcol.reshape(out_c, kh, kw, n, h, w), 3)
    y = _conv.col2im_cpu(
        gcol, self.sy, self.sx, self.ph, self.pw, self.outh, self.outw,
        dy=self.dy, dx=self.dx)
    if b is not None:
        y += b.reshape((1, b.size, 1, 1))
    return y,


def _leaky_relu_forward_cpu(self, inputs):
    if (_intel64.should_use_ideep('>=auto')
            and _intel64.inputs_all_ready(inputs)):
        return self.forward_ideep(inputs)
    x, = inputs
    y = numpy.where(x <= 0, x * self.slope, x)
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
    return numpy.where(self.cond <= 0, gy * self.slope, gy),


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
}


def install():
    """Replaces Chainer's CPU cores with these (idempotent)."""
    for (cls, name), fn in _PATCHES.items():
        _ORIGINAL.setdefault((cls, name), getattr(cls, name))
        setattr(cls, name, fn)


def uninstall():
    """Puts Chainer's own cores back (tests compare the two)."""
    for (cls, name), fn in _ORIGINAL.items():
        setattr(cls, name, fn)


def installed():
    return all(getattr(cls, name) is fn for (cls, name), fn in
               _PATCHES.items())


if os.environ.get('VOX_CHAINER_CPU_FAST', '1') != '0':
    install()
