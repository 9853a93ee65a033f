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

import vox.compat  # noqa: F401  (before chainer: Chainer today)
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


# Importing vox installs nothing (a run does): these tests turn the
# kernels on themselves.
pytestmark = pytest.mark.usefixtures('fast_kernels')


@pytest.fixture
def restore():
    yield
    cpu_fast.install()


def test_installed_for_these_tests():
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


@pytest.mark.parametrize('n_threads', [1, 3])
@pytest.mark.parametrize('layout', ['nchw', 'cnhw'])
def test_leaky_relu_bit_identical(n_threads, layout, restore, monkeypatch):
    monkeypatch.setattr(cpu_fast, 'threads', lambda: n_threads)
    monkeypatch.setattr(cpu_fast, 'PARALLEL_MIN_BYTES', 0)
    monkeypatch.setattr(cpu_fast, 'BLOCK', 64)  # several blocks per thread
    rng = numpy.random.RandomState(4)
    x = rng.normal(size=(3, 4, 5, 6)).astype(numpy.float32)
    if layout == 'cnhw':
        x = x.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)
    x.flat[:7] = [0.0, -0.0, numpy.nan, -numpy.inf, numpy.inf, -1e-45, 1e-45]
    gy = rng.normal(size=x.shape).astype(numpy.float32)
    ggx = rng.normal(size=x.shape).astype(numpy.float32)
    gy.flat[7:12] = [numpy.nan, -0.0, numpy.inf, -numpy.inf, 0.0]
    if layout == 'cnhw':  # the gradients laid out as x, too
        gy, ggx = (a.transpose(1, 0, 2, 3).copy().transpose(1, 0, 2, 3)
                   for a in (gy, ggx))
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


def test_weight_gradient_reuses_the_forward_im2col(monkeypatch):
    rng = numpy.random.RandomState(5)
    x = rng.normal(size=(2, 3, 9, 11)).astype(numpy.float32)
    W = rng.normal(size=(4, 3, 4, 4)).astype(numpy.float32)
    b = rng.normal(size=4).astype(numpy.float32)
    calls = []
    im2col = cpu_fast.im2col_knp

    def counted(*args, **kwargs):
        calls.append(1)
        return im2col(*args, **kwargs)
    monkeypatch.setattr(cpu_fast, 'im2col_knp', counted)
    cached = _run(x, W, b, dict(stride=2, pad=1), False)
    assert len(calls) == 1  # the forward's, handed to the weight gradient
    monkeypatch.setattr(cpu_fast, 'COL_CACHE_BYTES', 0)
    rebuilt = _run(x, W, b, dict(stride=2, pad=1), False)
    assert len(calls) == 3
    for c, r in zip(cached, rebuilt):
        numpy.testing.assert_array_equal(c, r)


def _bn_run(x, gamma, beta, gy, ggx, gggamma):
    """y, gx, ggamma, gbeta, and the double-backward gradients."""
    xv, gv, bv = (chainer.Variable(a) for a in (x, gamma, beta))
    y = F.batch_normalization(xv, gv, bv, eps=2e-5)
    gx, ggamma, gbeta = chainer.grad(
        [y], [xv, gv, bv], grad_outputs=[chainer.Variable(gy)],
        enable_double_backprop=True)
    second = chainer.grad([gx, ggamma], [xv, gv],
                          grad_outputs=[chainer.Variable(ggx),
                                        chainer.Variable(gggamma)])
    return [a.array for a in (y, gx, ggamma, gbeta) + tuple(second)]


@pytest.mark.parametrize('layout,n,c,h,w', [
    ('nchw', 3, 5, 6, 7), ('cnhw', 3, 5, 6, 7), ('strided', 3, 5, 6, 7),
    ('cnhw', 4, 2, 128, 130)])  # over 65535 values per channel
def test_batch_normalization_same_as_chainer(layout, n, c, h, w, restore):
    rng = numpy.random.RandomState(6)
    shape = {'nchw': (n, c, h, w), 'cnhw': (c, n, h, w),
             'strided': (n, c, h, 2 * w)}[layout]
    # an offset mean and unequal scales per channel, as after a convolution
    x = (rng.normal(size=shape) * 3 + 2).astype(numpy.float32)
    if layout == 'cnhw':
        x = x.transpose(1, 0, 2, 3)  # the layout vox's convolutions return
    elif layout == 'strided':
        x = x[..., ::2]  # neither layout: Chainer's own code
    gamma = rng.uniform(0.5, 1.5, size=c).astype(numpy.float32)
    beta = rng.normal(size=c).astype(numpy.float32)
    gy, ggx = (rng.normal(size=x.shape).astype(numpy.float32)
               for _ in range(2))
    gggamma = rng.normal(size=c).astype(numpy.float32)
    cpu_fast.uninstall()
    reference = _bn_run(x, gamma, beta, gy, ggx, gggamma)
    cpu_fast.install()
    ours = _bn_run(x, gamma, beta, gy, ggx, gggamma)
    names = ('y', 'gx', 'ggamma', 'gbeta', 'ggx (double)', 'gggamma (double)')
    for name, r, o in zip(names, reference, ours):
        assert o.shape == r.shape and o.dtype == r.dtype, name
        numpy.testing.assert_allclose(o, r, rtol=1e-4, atol=2e-5 * float(
            numpy.abs(r).max()), err_msg=name)


def test_batch_normalization_running_statistics(restore):
    rng = numpy.random.RandomState(7)
    x = (rng.normal(size=(4, 3, 5, 5)) + 1).astype(numpy.float32)
    stats = []
    for install in (cpu_fast.uninstall, cpu_fast.install):
        install()
        bn = chainer.links.BatchNormalization(3)
        with chainer.using_config('train', True):
            bn(x)
        stats.append((bn.avg_mean.copy(), bn.avg_var.copy()))
    for r, o in zip(*stats):
        numpy.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-6)


def test_batch_normalization_double_backward_float64():
    rng = numpy.random.RandomState(8)
    x = rng.normal(size=(3, 2, 4, 4)).transpose(1, 0, 2, 3).copy()
    x = x.transpose(1, 0, 2, 3)  # (3, 2, 4, 4) laid out (c, n, h, w)
    gamma, beta = rng.uniform(0.5, 1.5, size=2), rng.normal(size=2)
    gy = rng.normal(size=x.shape)
    ggs = [rng.normal(size=a.shape) for a in (x, gamma, beta)]
    gradient_check.check_double_backward(
        lambda x, g, b: F.batch_normalization(x, g, b),
        (x, gamma, beta), gy, ggs, dtype=numpy.float64, atol=1e-4,
        rtol=1e-3)


@pytest.mark.parametrize('eps_inside_sqrt', [False, True])
@pytest.mark.parametrize('n_threads', [1, 3])
def test_rmsprop_bit_identical(eps_inside_sqrt, n_threads, restore,
                               monkeypatch):
    monkeypatch.setattr(cpu_fast, 'threads', lambda: n_threads)
    monkeypatch.setattr(cpu_fast, 'PARALLEL_MIN_BYTES', 0)
    monkeypatch.setattr(cpu_fast, 'BLOCK', 4)  # several blocks per thread
    rng = numpy.random.RandomState(9)
    W0 = rng.normal(size=(7, 5)).astype(numpy.float32)
    grads = [rng.normal(size=W0.shape).astype(numpy.float32)
             for _ in range(3)]
    finals = []
    for install in (cpu_fast.uninstall, cpu_fast.install):
        install()
        link = chainer.Link()
        with link.init_scope():
            link.W = chainer.Parameter(W0.copy())
        opt = chainer.optimizers.RMSprop(lr=1e-3, alpha=0.99, eps=1e-8,
                                         eps_inside_sqrt=eps_inside_sqrt)
        opt.setup(link)
        for g in grads:
            link.W.grad = g.copy()
            opt.update()
        finals.append((link.W.array.copy(), opt.target.W.update_rule
                       .state['ms'].copy()))
    for r, o in zip(*finals):
        numpy.testing.assert_array_equal(o, r)


@pytest.mark.parametrize('case', CASES)
@pytest.mark.parametrize('n_threads', [1, 3])
def test_im2col_col2im_bit_identical(case, n_threads, monkeypatch):
    """Chainer's im2col / col2im values, whatever the number of threads."""
    from chainer.utils import conv
    n, c, h, w, _, (kh, kw), s, p, d, cover, _ = case
    sy, sx = (s, s) if isinstance(s, int) else s
    ph, pw = (p, p) if isinstance(p, int) else p
    monkeypatch.setattr(cpu_fast, 'threads', lambda: n_threads)
    monkeypatch.setattr(cpu_fast, 'PARALLEL_MIN_BYTES', 0)
    rng = numpy.random.RandomState(10)
    x = rng.normal(size=(n, c, h, w)).astype(numpy.float32)
    ours, oh, ow = cpu_fast.im2col_knp(x, kh, kw, sy, sx, ph, pw,
                                       cover_all=cover, dy=d, dx=d)
    ref = conv.im2col_cpu(x, kh, kw, sy, sx, ph, pw, cover_all=cover,
                          dy=d, dx=d)
    numpy.testing.assert_array_equal(ours.transpose(3, 0, 1, 2, 4, 5), ref)
    gcol = rng.normal(size=ours.shape).astype(numpy.float32)
    img = cpu_fast.col2im_knp(gcol, sy, sx, ph, pw, h, w, dy=d, dx=d)
    ref = conv.col2im_cpu(numpy.rollaxis(gcol, 3), sy, sx, ph, pw, h, w,
                          dy=d, dx=d)
    assert img.shape == ref.shape
    numpy.testing.assert_array_equal(img, ref)


def test_threads_follow_blas():
    assert cpu_fast.threads() >= 1


def test_batchnorm_keeps_an_impl_that_computes_its_own_statistics():
    """ChainerMN's multi-node BatchNormalization subclasses Chainer's impl
    and all-reduces in ``get_mean_and_var``; the fused forward must not
    bypass such a hook (it did, and 2-rank runs then normalised per rank)."""
    from chainer.functions.normalization import batch_normalization as bn

    class ShiftedStatistics(bn.GeneralBatchNormalizationImpl):
        def get_mean_and_var(self, axis, gamma, x, xp, interm_dtype):
            mean, var = super().get_mean_and_var(axis, gamma, x, xp,
                                                 interm_dtype)
            return mean + 1, var  # stands in for another rank's statistics

    x = numpy.random.RandomState(0).rand(3, 4, 5, 6).astype(numpy.float32)
    gamma = numpy.ones(4, numpy.float32)
    beta = numpy.zeros(4, numpy.float32)
    outputs = {}
    for mode in ('fast', 'stock'):
        cpu_fast.install() if mode == 'fast' else cpu_fast.uninstall()
        try:
            func = bn.BatchNormalization(
                impl_selector=lambda f, inputs: ShiftedStatistics())
            y, = func.apply((x, gamma, beta))
            outputs[mode] = y.array
        finally:
            cpu_fast.install()
    numpy.testing.assert_array_equal(outputs['fast'], outputs['stock'])
    # and the hook really ran: the output is centred on -1/std, not 0
    assert outputs['fast'].mean() < -0.5
