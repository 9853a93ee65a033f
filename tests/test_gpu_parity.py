"""CPU and GPU agree: one training step of every model.

Each test builds a model on the CPU from a seeded initialisation, copies it
(parameters and BatchNorm statistics) to GPU 0, gives both the same batch
and compares, CPU against GPU:

* the loss and every reported term,
* the gradient of every parameter after one backward,
* the parameters after one RMSprop update.

The models are the experiments' own Links at reduced width (the structure,
BatchNorm placement, heads and losses are the faithful ones; widths only
scale channels) so a step takes well under a second on either device.
The StarGAN tests run the updater's own critic and generator terms
(WGAN-GP's double backprop included) with the same targets and ``eps``,
then full ``update()`` calls with the same seed.

Tolerances (float32): losses ``rtol=1e-4``; gradients ``rtol=5e-3`` with
an absolute floor of 5e-3 x the array's largest magnitude, and of 1e-4 x
the model's largest gradient for arrays that are rounding noise (sums of
many products in a different order, through BatchNorm on 2 samples).  On
the CPU, float32 against float64 uses under a fifth of these tolerances for
the classifier (tried while writing this file); a real error is O(1).
After one
RMSprop step every parameter has moved by at most ``lr / sqrt(1 - alpha)``
(the first ``ms`` is ``(1 - alpha) g^2``), so a gradient that is ~0 on both
devices but of opposite sign moves the two copies apart by at most twice
that; the updated parameters are compared with that bound.

Marked ``gpu``: skipped without CuPy and a CUDA device (tests/conftest.py).
``VOX_PARITY_DEVICE`` (default ``@cupy:0``) names the second device; with
``@numpy`` the same code compares the CPU with itself, which checks the
tests' own plumbing on a machine without a GPU (call the functions
directly: the marker still skips them under pytest).
CuPy's CUB / cuTENSOR accelerators are switched off while these run
(``CUPY_ACCELERATORS=""``, docs/compat.md) so reductions round as a plain
sum does.
"""
import os

import numpy
import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
from chainer.backends import cuda

from vox.config import StarGANLosses
from vox.links.autoencoder import AutoEncoder
from vox.links.classifier import Classifier
from vox.links.discriminators import ConvBNDiscriminator, ConvDiscriminator
from vox.links.generators import ResNetGenerator, SkipGenerator
from vox.training.autoencoder import AutoEncoderLoss
from vox.training.classifier import ClassifierLoss
from vox.updaters.stargan import StarGANUpdater

pytestmark = pytest.mark.gpu

N_CLASSES = (5, 3, 2)
COMBOS = numpy.array([[0, 0, 0], [1, 1, 1], [2, 2, 0], [3, 0, 1],
                      [4, 1, 0]], dtype=numpy.int32)
DEVICE_SPEC = os.environ.get('VOX_PARITY_DEVICE', '@cupy:0')
LR, ALPHA = 1e-5, 0.99  # the blog's learning rate, Chainer's RMSprop alpha
LOSS_RTOL = 1e-4
GRAD_RTOL = GRAD_ATOL_REL = 5e-3
NOISE_REL = 1e-4
STEP_BOUND = 2 * LR / numpy.sqrt(1 - ALPHA) * 1.01


@pytest.fixture(autouse=True)
def plain_cupy_reductions():
    if DEVICE_SPEC == '@numpy':
        yield
        return
    import cupy
    core = getattr(cupy, '_core', None)
    saved = None
    if core is not None and hasattr(core, 'set_reduction_accelerators'):
        saved = (core.get_reduction_accelerators(),
                 core.get_routine_accelerators())
        core.set_reduction_accelerators([])
        core.set_routine_accelerators([])
    yield
    if saved is not None:
        core.set_reduction_accelerators(saved[0])
        core.set_routine_accelerators(saved[1])


def gpu():
    return chainer.get_device(DEVICE_SPEC)


def on_gpu(a):
    a = getattr(a, 'array', a)
    if DEVICE_SPEC == '@numpy':
        return isinstance(a, numpy.ndarray)
    return isinstance(a, cuda.cupy.ndarray)


def host(a):
    return chainer.backend.CpuDevice().send(getattr(a, 'array', a))


def to_gpu_copy(link):
    """A deep copy of ``link`` (parameters and persistents) on GPU 0."""
    copy = link.copy(mode='copy')
    copy.to_device(gpu())
    return copy


def assert_close(g, c, what, rtol=GRAD_RTOL, atol_rel=GRAD_ATOL_REL,
                 floor=1e-7):
    """``floor``: an absolute tolerance for arrays that are rounding noise
    (e.g. a conv bias followed by BatchNorm has a zero gradient in exact
    arithmetic and ~1e-6 of noise in float32, different on each device)."""
    g, c = host(g), host(c)
    assert g.shape == c.shape, what
    assert numpy.isfinite(c).all() and numpy.isfinite(g).all(), what
    scale = float(numpy.abs(c).max()) if c.size else 0.0
    numpy.testing.assert_allclose(g, c, rtol=rtol,
                                  atol=max(atol_rel * scale, floor),
                                  err_msg=what)


def noise_floor(grads):
    """Absolute tolerance for near-zero gradients: 1e-4 x the largest
    gradient of the model (float32 keeps ~7 digits; 3 are left for sums
    taken in a different order through several layers)."""
    top = max(float(numpy.abs(host(g)).max()) for g in grads if g.size)
    return max(NOISE_REL * top, 1e-7)


def assert_losses_close(g, c, what, rtol=LOSS_RTOL):
    numpy.testing.assert_allclose(float(host(g)), float(host(c)),
                                  rtol=rtol, atol=1e-6, err_msg=what)


def assert_grads_close(gpu_link, cpu_link, what):
    gp = dict(gpu_link.namedparams())
    cp = dict(cpu_link.namedparams())
    assert gp.keys() == cp.keys()
    floor = noise_floor([p.grad for p in cp.values() if p.grad is not None])
    n = 0
    for name in sorted(cp):
        if cp[name].grad is None:
            assert gp[name].grad is None, f'{what}{name}'
            continue
        assert on_gpu(gp[name].grad)
        assert_close(gp[name].grad, cp[name].grad, f'{what}{name} grad',
                     floor=floor)
        n += 1
    assert n > 0, f'{what}: no gradients at all'


def assert_params_close(gpu_link, cpu_link, what, atol=STEP_BOUND):
    gp = dict(gpu_link.namedparams())
    for name, p in cpu_link.namedparams():
        numpy.testing.assert_allclose(host(gp[name].array), p.array,
                                      rtol=0, atol=atol,
                                      err_msg=f'{what}{name} after update')


def rmsprop(link):
    opt = chainer.optimizers.RMSprop(lr=LR, alpha=ALPHA)
    opt.setup(link)
    return opt


def seeded(factory, seed=0):
    numpy.random.seed(seed)
    return factory()


def one_step(loss_link, inputs, device):
    """Loss (and its reports), gradients, then one RMSprop update."""
    opt = rmsprop(loss_link)
    observation = {}
    reporter = chainer.Reporter()
    reporter.add_observer('main', loss_link)
    inputs = [device.send(a) for a in inputs]
    with reporter.scope(observation):
        loss_link.cleargrads()
        loss = loss_link(*inputs)
        loss.backward()
    grads = {name: p.grad.copy() for name, p in loss_link.namedparams()
             if p.grad is not None}
    opt.update()  # uses the gradients just computed
    return loss, observation, grads


def check_step(make_loss_link, inputs):
    cpu_link = seeded(make_loss_link)
    gpu_link = to_gpu_copy(cpu_link)
    before = {n: p.array.copy() for n, p in cpu_link.namedparams()}
    for n, p in gpu_link.namedparams():
        numpy.testing.assert_array_equal(host(p.array), before[n])
    c_loss, c_obs, c_grads = one_step(
        cpu_link, inputs, chainer.backend.CpuDevice())
    g_loss, g_obs, g_grads = one_step(gpu_link, inputs, gpu())
    assert on_gpu(g_loss)
    assert_losses_close(g_loss, c_loss, 'loss')
    assert c_obs.keys() == g_obs.keys()
    for key in c_obs:
        assert_losses_close(g_obs[key], c_obs[key], key)
    assert c_grads.keys() == g_grads.keys() and c_grads
    floor = noise_floor(c_grads.values())
    for name in c_grads:
        assert_close(g_grads[name], c_grads[name], f'{name} grad',
                     floor=floor)
    assert_params_close(gpu_link, cpu_link, '')
    # BatchNorm's running statistics moved the same way.
    g_links = dict(gpu_link.namedlinks())
    for path, link in cpu_link.namedlinks():
        for name in getattr(link, '_persistent', ()):
            value = getattr(link, name)
            if isinstance(value, numpy.ndarray):
                assert_close(getattr(g_links[path], name), value,
                             f'{path}/{name}')


def spectrogram_batch(b, frames, seed=1, raw=False):
    rng = numpy.random.RandomState(seed)
    x = rng.uniform(0, 1, (b, 1, frames, 256)).astype(numpy.float32)
    if raw:  # the AutoEncoder's raw magnitude, [0, inf)
        x = (3 * x ** 3).astype(numpy.float32)
    labels = COMBOS[rng.randint(len(COMBOS), size=b)]
    return x, labels


# -- classifier (e19098ab) and AutoEncoder (bc7db4a2) -------------------------

def test_classifier_step():
    x, labels = spectrogram_batch(2, 256)
    check_step(lambda: ClassifierLoss(Classifier(N_CLASSES, width=1 / 16)),
               [x, labels[:, 0].copy(), labels[:, 1].copy(),
                labels[:, 2].copy()])


def test_autoencoder_step():
    x, _ = spectrogram_batch(2, 32, raw=True)
    check_step(lambda: AutoEncoderLoss(AutoEncoder(width=1 / 16)), [x])


# -- StarGAN generators and discriminators (54314b33, cfcefd21) --------------

STARGANS = {
    '54314b33': (SkipGenerator, ConvBNDiscriminator, 256),
    'cfcefd21': (ResNetGenerator, ConvDiscriminator, 64),
}


def make_updater(gen, dis, device, data=None, batch=2):
    data = data or [(numpy.zeros((1, 8, 256), numpy.float32), 0, 0, 0)]
    it = chainer.iterators.SerialIterator(data, batch, shuffle=False)
    return StarGANUpdater(it, rmsprop(gen), rmsprop(dis),
                          n_classes=N_CLASSES, label_combinations=COMBOS,
                          seed=3, losses=StarGANLosses(n_critic=2),
                          device=device)


def stargan_pair(exp_id):
    gen_cls, dis_cls, frames = STARGANS[exp_id]
    numpy.random.seed(0)
    gen, dis = gen_cls(N_CLASSES, width=1 / 8), dis_cls(N_CLASSES,
                                                       width=1 / 8)
    return gen, dis, to_gpu_copy(gen), to_gpu_copy(dis), frames


def terms(updater, step, device, x, labels_org, labels_trg, eps):
    gen, dis = updater.gen, updater.dis
    gen.cleargrads()
    dis.cleargrads()
    x, labels_org, labels_trg, eps = (
        device.send(a) for a in (x, labels_org, labels_trg, eps))
    if step == 'dis':
        out = updater.dis_terms(x, labels_org, labels_trg, eps)
    else:
        out = updater.gen_terms(x, labels_org, labels_trg)
    out['loss'].backward()
    return out


@pytest.mark.parametrize('exp_id', sorted(STARGANS))
@pytest.mark.parametrize('step', ['dis', 'gen'])
def test_stargan_terms_and_gradients(exp_id, step):
    """The critic's (WGAN-GP double backprop) or the generator's loss:
    every term, and the gradients of both networks."""
    gen, dis, g_gen, g_dis, frames = stargan_pair(exp_id)
    cpu_dev = chainer.backend.CpuDevice()
    cpu_upd = make_updater(gen, dis, cpu_dev)
    gpu_upd = make_updater(g_gen, g_dis, gpu())
    x, labels_org = spectrogram_batch(2, frames)
    labels_trg, eps = cpu_upd.draw(2, numpy.random.RandomState(5))
    c = terms(cpu_upd, step, cpu_dev, x, labels_org, labels_trg, eps)
    g = terms(gpu_upd, step, gpu(), x, labels_org, labels_trg, eps)
    assert c.keys() == g.keys()
    for key in c:
        assert_losses_close(g[key], c[key], f'{step}/{key}')
    if step == 'dis':
        assert_grads_close(g_dis, dis, 'dis')
    else:
        assert_grads_close(g_gen, gen, 'gen')
        assert_grads_close(g_dis, dis, 'dis (through the generator loss)')


@pytest.mark.parametrize('exp_id', sorted(STARGANS))
def test_stargan_updates(exp_id):
    """Two full update() calls (critic; critic + generator, n_critic=2)
    from the same weights, data and seed: the same reports and weights."""
    gen, dis, g_gen, g_dis, frames = stargan_pair(exp_id)
    x, labels = spectrogram_batch(4, frames)
    data = [(x[i], *map(numpy.int32, labels[i])) for i in range(4)]
    cpu_upd = make_updater(gen, dis, chainer.backend.CpuDevice(), data)
    gpu_upd = make_updater(g_gen, g_dis, gpu(), data)
    for _ in range(2):
        obs = []
        for upd in (cpu_upd, gpu_upd):
            reporter = chainer.Reporter()
            reporter.add_observer('gen', upd.gen)
            reporter.add_observer('dis', upd.dis)
            o = {}
            with reporter.scope(o):
                upd.update()
            obs.append(o)
        c_obs, g_obs = obs
        assert c_obs.keys() == g_obs.keys()
        for key in c_obs:
            # The second iteration starts from weights one RMSprop step
            # apart (see the module docstring): a looser rtol.
            assert_losses_close(g_obs[key], c_obs[key], key, rtol=1e-3)
    assert on_gpu(next(g_gen.params()))
    assert on_gpu(next(g_dis.params()))
    # Two RMSprop steps: at most twice the one-step bound apart.
    assert_params_close(g_dis, dis, 'dis', atol=2 * STEP_BOUND)
    assert_params_close(g_gen, gen, 'gen', atol=STEP_BOUND)
