"""StarGANUpdater: losses, gradient penalty, schedule, resume, reporting.

Tiny fake Links on 1x4x8 inputs stand in for the real G and D (they follow
the interface: ``G(x, c)`` and ``D(x) -> (feature, adversarial, classes)``);
only the ``gp_reduce`` factor test uses the experiments' own critics.
"""
import collections
import copy

import numpy
import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
from chainer import gradient_check
import chainer.functions as F
import chainer.links as L
from chainer import serializers

from vox.config import StarGANLosses, load_config
from vox.training.stargan import DISCRIMINATORS
from vox.updaters.stargan import (
    LABEL_NAMES, StarGANUpdater, critic_input_gradient, gradient_penalty,
    labels_to_onehot)

DiscriminatorOutput = collections.namedtuple(
    'DiscriminatorOutput', ('feature', 'adversarial', 'classes'))

N_CLASSES = (3, 2, 2)
N_LABELS = sum(N_CLASSES)
OFFSETS = (0, 3, 5)
# Real (speaker, birthplace, sex) rows: speaker determines the others.
COMBOS = numpy.array([[0, 0, 0], [1, 1, 0], [2, 0, 1]], dtype=numpy.int32)
SHAPE = (1, 4, 8)

DIS_KEYS = {'dis/loss_adv', 'dis/loss_gp', 'dis/loss_cls', 'dis/loss'} | {
    f'dis/{t}_{n}' for t in ('loss_cls', 'acc') for n in LABEL_NAMES}
GEN_KEYS = {'gen/loss_adv', 'gen/loss_cls', 'gen/loss_rec', 'gen/loss_id',
            'gen/loss_fm', 'gen/loss'} | {
    f'gen/{t}_{n}' for t in ('loss_cls', 'acc') for n in LABEL_NAMES}


# -- fake models --------------------------------------------------------------

class ConvGen(chainer.Chain):
    """1x1 convolution over the spectrogram and the tiled labels."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.conv = L.Convolution2D(1 + N_LABELS, 1, 1)

    def forward(self, x, c):
        b, _, t, f = x.shape
        c = F.broadcast_to(F.reshape(c, (b, -1, 1, 1)), (b, c.shape[1], t, f))
        return F.sigmoid(self.conv(F.concat((x, c), axis=1)))


class IdentityGen(chainer.Chain):
    """G(x, c) = x (one unused parameter so an optimizer can own it)."""

    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.unused = chainer.Parameter(numpy.zeros(1, numpy.float32))

    def forward(self, x, c):
        return F.identity(chainer.as_variable(x))


class ConstGen(IdentityGen):
    """G(x, c) = a constant image."""

    def __init__(self, value):
        super().__init__()
        self.value = value

    def forward(self, x, c):
        xp = chainer.backend.get_array_module(x)
        return chainer.Variable(xp.full(x.shape, self.value, x.dtype))


class StampGen(IdentityGen):
    """Writes the label code c into x[:, 0, 0, :N_LABELS], keeps the rest."""

    def forward(self, x, c):
        xp = chainer.backend.get_array_module(x)
        mask = xp.zeros(x.shape, x.dtype)
        mask[:, 0, 0, :N_LABELS] = 1
        code = xp.zeros(x.shape, x.dtype)
        code[:, 0, 0, :N_LABELS] = getattr(c, 'array', c)
        return chainer.as_variable(x * (1 - mask) + code)


class TwoConvCritic(chainer.Chain):
    """conv 3x3 -> act = feature (4x4x8); adversarial conv 2x2/2; linear heads.
    """

    def __init__(self, activation=F.leaky_relu):
        super().__init__()
        self.activation = activation
        with self.init_scope():
            self.conv1 = L.Convolution2D(1, 4, 3, pad=1)
            self.conv2 = L.Convolution2D(4, 1, 2, stride=2)
            self.heads = chainer.ChainList(
                *[L.Linear(4 * 4 * 8, n) for n in N_CLASSES])

    def forward(self, x):
        h = self.activation(self.conv1(x))
        return DiscriminatorOutput(
            h, self.conv2(h), tuple(head(h) for head in self.heads))


class FunctionCritic(chainer.Chain):
    """adversarial = scale * adv_fn(x) on a 1x2x2 map; feature = x; zero
    class logits unless ``stamp_logits`` (then 100 * the stamped code)."""

    def __init__(self, adv_fn, stamp_logits=False):
        super().__init__()
        self.adv_fn = adv_fn
        self.stamp_logits = stamp_logits
        with self.init_scope():
            self.scale = chainer.Parameter(numpy.ones((), numpy.float32))

    def forward(self, x):
        x = chainer.as_variable(x)
        b = x.shape[0]
        adv = F.broadcast_to(
            F.reshape(self.adv_fn(x), (b, 1, 1, 1)), (b, 1, 2, 2))
        adv = F.broadcast_to(self.scale, adv.shape) * adv
        if self.stamp_logits:
            row = x[:, 0, 0, :N_LABELS] * 100
            classes = tuple(row[:, o:o + n]
                            for o, n in zip(OFFSETS, N_CLASSES))
        else:
            xp = chainer.backend.get_array_module(x)
            classes = tuple(chainer.Variable(xp.zeros((b, n), x.dtype))
                            for n in N_CLASSES)
        return DiscriminatorOutput(x, adv, classes)


def mean_critic(**kw):
    return FunctionCritic(lambda x: F.mean(x, axis=(1, 2, 3)), **kw)


def constant_critic(value):
    # ignores its input entirely: no gradient path from x to the score
    def adv(x):
        xp = chainer.backend.get_array_module(x)
        return chainer.Variable(xp.full(x.shape[0], value, x.dtype))
    return FunctionCritic(adv)


# -- helpers ------------------------------------------------------------------

def make_dataset(n=10, stamped=False, seed=0):
    rs = numpy.random.RandomState(seed)
    data = []
    for i in range(n):
        s, b, x_sex = COMBOS[i % len(COMBOS)]
        x = rs.uniform(0, 1, SHAPE).astype(numpy.float32)
        if stamped:  # real spectrograms carry their own label code
            x[0, 0, :N_LABELS] = labels_to_onehot(
                COMBOS[i % len(COMBOS)][None], N_CLASSES)[0]
        data.append((x, numpy.int32(s), numpy.int32(b), numpy.int32(x_sex)))
    return data


def make_updater(gen=None, dis=None, *, dataset=None, batch_size=4,
                 optimizer=None, seed=0, init_seed=0, updater_cls=None,
                 **loss):
    numpy.random.seed(init_seed)  # Chainer's initializers use it
    gen = ConvGen() if gen is None else gen
    dis = TwoConvCritic() if dis is None else dis
    optimizer = optimizer or (lambda: chainer.optimizers.Adam(alpha=1e-2))
    opt_g = optimizer()
    opt_g.setup(gen)
    opt_d = optimizer()
    opt_d.setup(dis)
    dataset = make_dataset() if dataset is None else dataset
    it = chainer.iterators.SerialIterator(dataset, batch_size, shuffle=False)
    kw = dict(n_critic=1, lambda_gp=10, lambda_cls=1, lambda_rec=10,
              lambda_id=5, lambda_fm=1)
    kw.update(loss)
    return (updater_cls or StarGANUpdater)(
        it, opt_g, opt_d, n_classes=N_CLASSES, label_combinations=COMBOS,
        seed=seed, losses=StarGANLosses(**kw))


def observe(updater, fn):
    """Run fn() in a Reporter scope registered as a Trainer does."""
    reporter = chainer.Reporter()
    for name, opt in updater.get_all_optimizers().items():
        reporter.add_observer(name, opt.target)
    obs = {}
    with reporter.scope(obs):
        fn()
    cpu = chainer.backend.CpuDevice()
    return {k: numpy.array(cpu.send(chainer.as_array(v)))
            for k, v in obs.items()}


def run(updater, n):
    return [observe(updater, updater.update) for _ in range(n)]


def batch_arrays(dataset, n=4):
    return chainer.dataset.concat_examples(dataset[:n])


class RecordingUpdater(StarGANUpdater):
    def draw(self, batchsize, rng=None):
        labels, eps = super().draw(batchsize, rng)
        self.__dict__.setdefault('draws', []).append(
            (labels.copy(), eps.copy()))
        return labels, eps


# -- labels -------------------------------------------------------------------

def test_labels_to_onehot():
    labels = numpy.array([[2, 1, 0], [0, 0, 1]], numpy.int32)
    out = labels_to_onehot(labels, N_CLASSES)
    assert out.dtype == numpy.float32
    numpy.testing.assert_array_equal(out, [[0, 0, 1, 0, 1, 1, 0],
                                           [1, 0, 0, 1, 0, 0, 1]])
    with pytest.raises(ValueError):
        labels_to_onehot(numpy.array([[3, 0, 0]]), N_CLASSES)  # speaker 3
    with pytest.raises(ValueError):
        labels_to_onehot(numpy.array([[0, -1, 0]]), N_CLASSES)
    with pytest.raises(ValueError):
        labels_to_onehot(numpy.array([0, 0, 0]), N_CLASSES)
    with pytest.raises(TypeError):
        labels_to_onehot(numpy.zeros((1, 3), numpy.float32), N_CLASSES)


def test_constructor_validation():
    with pytest.raises(ValueError):
        StarGANLosses(n_critic=0)
    with pytest.raises(ValueError):
        StarGANLosses(lambda_gp=-1)
    assert StarGANLosses() == StarGANLosses(
        n_critic=5, lambda_gp=10, lambda_cls=1, lambda_rec=10, lambda_id=5,
        lambda_fm=1)
    with pytest.raises(ValueError):  # birthplace 2 does not exist
        StarGANUpdater(
            chainer.iterators.SerialIterator(make_dataset(), 2),
            chainer.optimizers.SGD().setup(ConvGen()),
            chainer.optimizers.SGD().setup(TwoConvCritic()),
            n_classes=N_CLASSES, label_combinations=[[0, 2, 0]], seed=0)


# -- gradient penalty ---------------------------------------------------------

# The reduction of the critic's (1, h, w) map that the penalty
# differentiates, written out independently of the updater.
GP_REDUCE = {'sum': lambda a: F.sum(a, axis=(1, 2, 3)),
             'mean': lambda a: F.mean(a, axis=(1, 2, 3))}


@pytest.mark.parametrize('gp_reduce', sorted(GP_REDUCE))
@pytest.mark.parametrize('activation', [F.leaky_relu, F.tanh])
def test_gradient_penalty_matches_finite_differences(activation, gp_reduce):
    numpy.random.seed(1)
    with chainer.using_config('dtype', numpy.float64):
        dis = TwoConvCritic(activation)
    rs = numpy.random.RandomState(2)
    real = rs.uniform(0, 1, (3,) + SHAPE)
    fake = rs.uniform(0, 1, (3,) + SHAPE)
    eps = rs.uniform(0, 1, 3)

    # value: input gradients by central differences, then the formula
    x_hat = eps[:, None, None, None] * real + (1 - eps[:, None, None, None]) \
        * fake

    def scores():
        return (GP_REDUCE[gp_reduce](dis(x_hat).adversarial).array,)
    gx, = gradient_check.numerical_grad(
        scores, (x_hat,), (numpy.ones(3),), eps=1e-5)
    norms = numpy.sqrt((gx ** 2).sum(axis=(1, 2, 3)))
    assert not numpy.allclose(norms, 1)  # the penalty is not trivially 0
    expected = numpy.mean((norms - 1) ** 2)
    gp = gradient_penalty(dis, real, fake, eps, gp_reduce)
    assert gp.dtype == numpy.float64
    numpy.testing.assert_allclose(gp.array, expected, rtol=1e-7)

    # gradient wrt the critic's parameters (double backprop) vs differences
    dis.cleargrads()
    gradient_penalty(dis, real, fake, eps, gp_reduce).backward()
    for param in (dis.conv1.W, dis.conv1.b, dis.conv2.W):
        numeric, = gradient_check.numerical_grad(
            lambda: (gradient_penalty(dis, real, fake, eps, gp_reduce).array,),
            (param.array,), (numpy.ones(()),), eps=1e-5)
        # (the input gradient of a piecewise-linear critic does not depend
        # on the bias, so its GP gradient is 0 there: the weights suffice)
        if param is not dis.conv1.b:
            assert numpy.abs(numeric).max() > 1e-4
        grad = 0 * numeric if param.grad is None else param.grad
        numpy.testing.assert_allclose(grad, numeric,
                                      rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize('exp_id, factor', [('cfcefd21', 16),
                                             ('54314b33', 64)])
def test_gp_reduce_sum_is_the_map_size_times_mean(exp_id, factor):
    """The experiment's own critic at its crop length (1/8 of the channels:
    the map size does not depend on the width): the faithful ``sum`` input
    gradient is exactly ``h * w`` times the ``mean`` one, 4x4 = 16 in
    cfcefd21 and 8x8 = 64 in 54314b33."""
    config = load_config(exp_id)
    assert config.losses.gp_reduce == 'sum'
    numpy.random.seed(0)
    dis = DISCRIMINATORS[config.discriminator.name](N_CLASSES, width=1 / 8)
    x = numpy.random.RandomState(1).uniform(
        0, 1, (2, 1, config.data.crop_frames, 256)).astype(numpy.float32)
    h, w = dis(x).adversarial.shape[2:]
    assert h * w == factor
    grads = {r: critic_input_gradient(dis, chainer.Variable(x), r,
                                      False).array for r in GP_REDUCE}
    assert numpy.abs(grads['mean']).max() > 0
    # a power-of-two factor through a backward linear in its seed: exact
    numpy.testing.assert_array_equal(grads['sum'], factor * grads['mean'])


def test_gradient_penalty_of_input_independent_critic_is_one():
    dis = constant_critic(3.0)
    x = numpy.random.RandomState(0).uniform(0, 1, (2,) + SHAPE)
    gp = gradient_penalty(dis, x.astype(numpy.float32),
                          x[::-1].astype(numpy.float32),
                          numpy.array([0.3, 0.6], numpy.float32))
    assert abs(float(gp.array) - 1) < 1e-5  # ||0|| = 0 -> (0 - 1)^2


# -- loss terms ---------------------------------------------------------------

def real_batch(value, n=2):
    x = numpy.full((n,) + SHAPE, value, numpy.float32)
    labels = [COMBOS[:n, k].copy() for k in range(3)]
    return (x, *labels)


def test_adversarial_sign_conventions():
    # linear critic: score = mean(x); real 0.75, fake 0.25
    upd = make_updater(ConstGen(0.25), mean_critic())
    terms = upd.forward(*real_batch(0.75))
    assert float(terms['dis/loss_adv'].array) == pytest.approx(0.25 - 0.75)
    assert float(terms['gen/loss_adv'].array) == pytest.approx(-0.25)
    # a constant critic: no real/fake difference; G's term is -score
    upd = make_updater(ConstGen(0.25), constant_critic(3.0))
    terms = upd.forward(*real_batch(0.75))
    assert float(terms['dis/loss_adv'].array) == 0
    assert float(terms['gen/loss_adv'].array) == -3
    assert float(terms['dis/loss_gp'].array) == pytest.approx(1, abs=1e-5)


def test_dis_step_raises_real_score_over_fake():
    upd = make_updater(
        ConstGen(0.25), mean_critic(),
        optimizer=lambda: chainer.optimizers.SGD(lr=0.1),
        dataset=[(numpy.full(SHAPE, 0.75, numpy.float32), numpy.int32(0),
                  numpy.int32(0), numpy.int32(0))] * 4,
        lambda_gp=0, lambda_cls=0, n_critic=100)
    upd.update()
    # d loss_adv / d scale = mean fake - mean real = -0.5
    assert float(upd.dis.scale.array) == pytest.approx(1 + 0.1 * 0.5)


def test_identity_generator_zeroes_rec_id_fm():
    dataset = make_dataset()
    terms = make_updater(IdentityGen()).forward(*batch_arrays(dataset))
    assert float(terms['gen/loss_rec'].array) == 0
    assert float(terms['gen/loss_id'].array) == 0
    assert float(terms['gen/loss_fm'].array) == 0  # fake == real
    # ... and they are not zero for a generator that changes its input
    terms = make_updater(ConvGen()).forward(*batch_arrays(dataset))
    for key in ('gen/loss_rec', 'gen/loss_id', 'gen/loss_fm'):
        assert float(terms[key].array) > 1e-4


def test_feature_matching_compares_batch_means():
    # fake = real with the batch's samples swapped: same batch-mean feature
    # (feature = x here), hence loss_fm = 0 although every sample changed
    class SwapGen(IdentityGen):
        def forward(self, x, c):
            return chainer.as_variable(x)[::-1]
    terms = make_updater(SwapGen(), mean_critic()).forward(
        *batch_arrays(make_dataset()))
    assert float(terms['gen/loss_fm'].array) == pytest.approx(0, abs=1e-12)
    assert float(terms['gen/loss_id'].array) > 0.1


def test_classification_losses_vanish_for_an_oracle():
    # G stamps the target code into the image; D reads it with logits 100
    dataset = make_dataset(stamped=True)
    upd = make_updater(StampGen(), mean_critic(stamp_logits=True),
                       dataset=dataset)
    x, s, b, x_sex = batch_arrays(dataset, 3)
    org = numpy.stack([s, b, x_sex], axis=1)
    trg = COMBOS[[1, 2, 0]]  # every row differs from its original
    gen = upd.gen_terms(x, org, trg)
    assert float(gen['loss_cls'].array) < 1e-6  # against the TARGET labels
    for name in LABEL_NAMES:
        assert float(gen['acc_' + name].array) == 1
    assert float(gen['loss_id'].array) == 0
    assert float(gen['loss_rec'].array) == 0
    dis = upd.dis_terms(x, org, trg, numpy.full(3, 0.5, numpy.float32))
    assert float(dis['loss_cls'].array) < 1e-6  # real against real labels
    # D's term uses the labels given as the real ones: wrong ones cost ~100
    dis_wrong = upd.dis_terms(x, trg, trg, numpy.full(3, 0.5, numpy.float32))
    assert float(dis_wrong['loss_cls'].array) > 200


def test_totals_weight_unweighted_reports():
    upd = make_updater(lambda_gp=3, lambda_cls=7, lambda_rec=11,
                       lambda_id=13, lambda_fm=17)
    obs = observe(upd, upd.update)
    numpy.testing.assert_allclose(
        obs['dis/loss'], obs['dis/loss_adv'] + 3 * obs['dis/loss_gp']
        + 7 * obs['dis/loss_cls'], rtol=1e-5)
    numpy.testing.assert_allclose(
        obs['gen/loss'], obs['gen/loss_adv'] + 7 * obs['gen/loss_cls']
        + 11 * obs['gen/loss_rec'] + 13 * obs['gen/loss_id']
        + 17 * obs['gen/loss_fm'], rtol=1e-5)
    for prefix in ('dis', 'gen'):
        numpy.testing.assert_allclose(
            obs[prefix + '/loss_cls'],
            sum(obs[f'{prefix}/loss_cls_{n}'] for n in LABEL_NAMES),
            rtol=1e-6)


# -- reporting ----------------------------------------------------------------

def test_every_documented_key_is_reported():
    upd = make_updater(n_critic=1)
    obs = observe(upd, upd.update)
    assert set(obs) == DIS_KEYS | GEN_KEYS
    for key, value in obs.items():
        assert value.dtype == numpy.float32, key
        assert numpy.isfinite(value), key
    upd = make_updater(n_critic=2)  # first update: D only
    assert set(observe(upd, upd.update)) == DIS_KEYS


def test_forward_as_evaluator_eval_func():
    upd = make_updater()
    params = {name: p.array.copy() for opt in upd.get_all_optimizers()
              .values() for name, p in opt.target.namedparams()}
    rng_state = upd._rng.get_state()[1].copy()
    it = chainer.iterators.SerialIterator(make_dataset(6), 3, repeat=False,
                                          shuffle=False)
    evaluator = chainer.training.extensions.Evaluator(
        it, {'gen': upd.gen, 'dis': upd.dis}, eval_func=upd.forward)
    result = evaluator()
    assert set(result) == DIS_KEYS | GEN_KEYS  # no 'validation/' w/o trainer
    assert all(numpy.isfinite(float(v)) for v in result.values())
    # nothing was updated, the training draws are untouched
    for opt in upd.get_all_optimizers().values():
        assert opt.t == 0
        for name, p in opt.target.namedparams():
            numpy.testing.assert_array_equal(p.array, params[name])
    numpy.testing.assert_array_equal(upd._rng.get_state()[1], rng_state)


# -- schedule -----------------------------------------------------------------

def test_n_critic_schedule():
    upd = make_updater(n_critic=3)
    counts = []
    for obs in (observe(upd, upd.update) for _ in range(6)):
        counts.append((upd.iteration, upd.get_optimizer('dis').t,
                       upd.get_optimizer('gen').t, 'gen/loss' in obs))
    # G is updated by the updates that bring iteration to 3 and 6
    assert counts == [(1, 1, 0, False), (2, 2, 0, False), (3, 3, 1, True),
                      (4, 4, 1, False), (5, 5, 1, False), (6, 6, 2, True)]
    assert [upd.is_gen_step(i) for i in range(6)] == [
        False, False, True, False, False, True]


def test_dis_step_is_one_update_of_the_full_loss_and_leaves_g_alone():
    lr = 0.1
    upd = make_updater(optimizer=lambda: chainer.optimizers.SGD(lr=lr),
                       n_critic=100, lambda_gp=10, lambda_cls=1)
    dis_before = copy.deepcopy(upd.dis)
    gen_before = copy.deepcopy(upd.gen)
    rng = copy.deepcopy(upd._rng)
    opt = upd.get_optimizer('dis')
    upd.gen.cleargrads()
    calls = []
    original = opt.update
    opt.update = lambda *a, **k: (calls.append(1), original(*a, **k))
    upd.update()
    assert len(calls) == 1 and opt.t == 1
    assert all(p.grad is None for p in upd.gen.params())  # no grad into G
    assert upd.get_optimizer('gen').t == 0

    # expected: one SGD step on loss_adv + 10 gp + cls at the same draws
    ref = make_updater(gen_before, dis_before, n_critic=100)
    x, s, b, x_sex = batch_arrays(make_dataset())
    trg, eps = ref.draw(len(x), rng)
    ref.dis.cleargrads()
    terms = ref.dis_terms(x, numpy.stack([s, b, x_sex], 1), trg, eps)
    assert float(terms['loss_gp'].array) > 1e-3
    terms['loss'].backward()
    for (name, p), q in zip(upd.dis.namedparams(), ref.dis.params()):
        numpy.testing.assert_allclose(p.array, q.array - lr * q.grad,
                                      rtol=1e-5, atol=1e-7, err_msg=name)


def test_targets_are_rows_of_label_combinations():
    seen_by_g = []

    class SpyGen(ConvGen):
        def forward(self, x, c):
            seen_by_g.append(numpy.array(getattr(c, 'array', c)))
            return super().forward(x, c)

    upd = make_updater(SpyGen(), n_critic=1000, updater_cls=RecordingUpdater)
    for _ in range(20):
        upd.update()
    combos = {tuple(r) for r in COMBOS}
    drawn = numpy.concatenate([labels for labels, _ in upd.draws])
    assert drawn.dtype == numpy.int32 and drawn.shape == (80, 3)
    assert {tuple(r) for r in drawn} == combos  # all used, nothing else
    # what G was actually conditioned on in the D steps
    codes = numpy.concatenate(seen_by_g)
    assert codes.dtype == numpy.float32
    decoded = numpy.stack([codes[:, o:o + n].argmax(axis=1)
                           for o, n in zip(OFFSETS, N_CLASSES)], axis=1)
    numpy.testing.assert_array_equal(labels_to_onehot(decoded, N_CLASSES),
                                     codes)
    numpy.testing.assert_array_equal(decoded, drawn)
    # uniform over the combinations
    many, eps = upd.draw(30000)
    which = (many[:, None, :] == COMBOS[None]).all(axis=2)
    assert (which.sum(axis=1) == 1).all()
    assert numpy.all(numpy.abs(which.mean(axis=0) - 1 / 3) < 0.02)
    assert eps.dtype == numpy.float32 and 0 <= eps.min() and eps.max() < 1
    assert abs(eps.mean() - 0.5) < 0.01


def test_resume_mid_cycle_is_bit_exact(tmp_path):
    def params(upd):
        return [p.array.copy() for opt in upd.get_all_optimizers().values()
                for p in opt.target.params()]

    full = make_updater(n_critic=3, updater_cls=RecordingUpdater, seed=5)
    full_obs = run(full, 7)

    first = make_updater(n_critic=3, updater_cls=RecordingUpdater, seed=5)
    first_obs = run(first, 4)  # mid-cycle: next G update at iteration 6
    path = str(tmp_path / 'updater.npz')
    serializers.save_npz(path, first)

    # different seed and initial weights: everything must come from the file
    resumed = make_updater(n_critic=3, updater_cls=RecordingUpdater, seed=99,
                           init_seed=7)
    serializers.load_npz(path, resumed)
    assert resumed.iteration == 4
    resumed_obs = run(resumed, 3)

    for got, want in zip(first_obs + resumed_obs, full_obs):
        assert got.keys() == want.keys()
        for key in want:
            assert got[key].tobytes() == want[key].tobytes(), key
    assert 'gen/loss' in resumed_obs[1] and 'gen/loss' not in resumed_obs[0]
    for got, want in zip(first.draws + resumed.draws, full.draws):
        numpy.testing.assert_array_equal(got[0], want[0])
        assert got[1].tobytes() == want[1].tobytes()
    for got, want in zip(params(resumed), params(full)):
        assert got.tobytes() == want.tobytes()
    for name in ('gen', 'dis'):
        assert resumed.get_optimizer(name).t == full.get_optimizer(name).t


def test_trainer_runs(tmp_path):
    upd = make_updater(n_critic=2)
    trainer = chainer.training.Trainer(upd, (3, 'iteration'),
                                       out=str(tmp_path))
    log = chainer.training.extensions.LogReport(
        trigger=(1, 'iteration'), filename=None)
    trainer.extend(log)
    trainer.run()
    assert [('gen/loss' in e) for e in log.log] == [False, True, False]
    assert all('dis/loss_gp' in e for e in log.log)


# -- device -------------------------------------------------------------------

@pytest.mark.gpu
def test_gpu_matches_cpu():
    import cupy
    cpu = make_updater(n_critic=2, optimizer=lambda: chainer.optimizers.SGD(
        lr=0.01))
    gpu = make_updater(n_critic=2, optimizer=lambda: chainer.optimizers.SGD(
        lr=0.01), device='@cupy:0')
    cpu_obs, gpu_obs = run(cpu, 4), run(gpu, 4)
    for c, g in zip(cpu_obs, gpu_obs):
        assert c.keys() == g.keys()
        for key in c:
            numpy.testing.assert_allclose(g[key], c[key], rtol=1e-4,
                                          atol=1e-5, err_msg=key)
    assert isinstance(gpu.dis.conv1.W.array, cupy.ndarray)
