"""vox.cpu_fast: the faster CPU cores compute what Chainer's do.

Forward, input gradient and weight gradient (and bias gradient) of
convolution_2d and deconvolution_2d with strides, asymmetric kernels and
pads, dilation, cover_all and without bias, against Chainer's own cores
(uninstalled for the reference), plus a double-backprop check (WGAN-GP
differentiates a convolution's gradient); leaky ReLU and its gradient
bit for bit.
"""
import numpy
import pytest

import vox  # noqa: F401  (compat before chainer; installs vox.cpu_fast)
import chainer
import chainer.functions as F
from chainer import gradient_check

from vox import cpu_fast

# (n, c, h, w, out_c, (kh, kw), stride, pad, dilate, cover_all, bias)
CASES = [
    (2, 3, 9, 11, 4, (3, 3), 1, 1, 1, False, True),
    (2, 3, 9, 11, 4, (4, 4), 2, 1, 1, False, True),
    (3, 5, 16, 16, 7, (1, 4), (1, 2), (0, 1), 1, False, False),
    (2, 4, 10, 12, 6, (3, 2), (2, 1), (1, 0), 2, False, True),
    (2, 4, 11, 13, 6, (3, 3), 2, 1, 1, True, True),
    (1, 1, 32, 40, 8, (7, 7), 1, 3, 1, False, True),
    (2, 6, 16, 1, 10, (1, 1), 1, 0, 1, False, True),
    (4, 8, 4, 4, 5, (4, 4), 1, 0, 1, False, True),
]


def _run(x, W, b, kwargs, deconv):
    xv, Wv = chainer.Variable(x), chainer.Variable(W)
    bv = None if b is None else chainer.Variable(b)
    fn = F.deconvolution_2d if deconv else F.convolution_2d
    y = fn(xv, Wv, bv, **kwargs)
    y.grad = numpy.random.RandomState(1).normal(
        size=y.shape).astype(numpy.float32)
    y.backward()
    out = [y.array, xv.grad, Wv.grad]
    return out + ([bv.grad] if bv is not None else [])


@pytest.fixture
def restore():
    yield
    cpu_fast.install()


def test_installed_by_import():
    assert cpu_fast.installed()


@pytest.mark.parametrize('case,deconv', [
    (case, deconv) for deconv in (False, True) for case in CASES
    if not (deconv and case[9])])  # cover_all: convolution only
def test_same_as_chainer(case, deconv, restore):
    n, c, h, w, oc, (kh, kw), s, p, d, cover, bias = case
    rng = numpy.random.RandomState(0)
    x = rng.normal(size=(n, c, h, w)).astype(numpy.float32)
    shape = (c, oc) if deconv else (oc, c)
    W = rng.normal(size=shape + (kh, kw)).astype(numpy.float32)
    b = rng.normal(size=oc).astype(numpy.float32) if bias else None
    kwargs = dict(stride=s, pad=p, dilate=d)
    if not deconv:
        kwargs['cover_all'] = cover
    cpu_fast.uninstall()
    reference = _run(x, W, b, kwargs, deconv)
    cpu_fast.install()
    ours = _run(x, W, b, kwargs, deconv)
    for name, r, o in zip(('y', 'gx', 'gW', 'gb'), reference, ours):
        assert o.shape == r.shape and o.dtype == r.dtype, name
        numpy.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-5 * float(
            numpy.abs(r).max()), err_msg=name)


def test_non_contiguous_input(restore):
    rng = numpy.random.RandomState(2)
    x = rng.normal(size=(6, 3, 8, 2)).astype(numpy.float32)
    x = x.transpose(3, 1, 2, 0)[..., :5]  # (2, 3, 8, 5), strided
    W = rng.normal(size=(4, 3, 3, 3)).astype(numpy.float32)
    cpu_fast.uninstall()
    reference = _run(x, W, None, dict(pad=1), False)
    cpu_fast.install()
    for r, o in zip(reference, _run(x, W, None, dict(pad=1), False)):
        numpy.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('deconv', [False, True])
def test_double_backprop(deconv):
    rng = numpy.random.RandomState(3)
    fn = F.deconvolution_2d if deconv else F.convolution_2d
    x = rng.normal(size=(2, 2, 5, 5))
    W = rng.normal(size=(2, 3, 3, 3) if deconv else (3, 2, 3, 3))
    b = rng.normal(size=3)

    def f(x, W, b):
        return fn(x, W, b, stride=2, pad=1)
    y = f(x, W, b)
    gy = rng.normal(size=y.shape)
    ggx, ggW, ggb = (rng.normal(size=a.shape) for a in (x, W, b))
    gradient_check.check_double_backward(
        f, (x, W, b), gy, (ggx, ggW, ggb), dtype=numpy.float64,
        atol=1e-4, rtol=1e-3)


def test_leaky_relu_bit_identical(restore):
    rng = numpy.random.RandomState(4)
    x = rng.normal(size=(3, 4, 5, 6)).astype(numpy.float32)
    x.flat[:7] = [0.0, -0.0, numpy.nan, -numpy.inf, numpy.inf, -1e-45, 1e-45]
    gy = rng.normal(size=x.shape).astype(numpy.float32)
    ggx = rng.normal(size=x.shape).astype(numpy.float32)
    results = []
    for install in (cpu_fast.uninstall, cpu_fast.install):
        install()
        xv, gyv = chainer.Variable(x), chainer.Variable(gy)
        y = F.leaky_relu(xv, slope=0.2)
        gx, = chainer.grad([y], [xv], grad_outputs=[gyv],
                           enable_double_backprop=True)
        ggy, = chainer.grad([gx], [gyv],
                            grad_outputs=[chainer.Variable(ggx)])
        results.append((y.array, gx.array, ggy.array))
    for a, b in zip(*results):
        assert a.dtype == b.dtype == numpy.float32
        numpy.testing.assert_array_equal(a, b)
        numpy.testing.assert_array_equal(numpy.signbit(a), numpy.signbit(b))
