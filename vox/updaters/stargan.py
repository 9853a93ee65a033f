"""StarGAN training step for 54314b33 and cfcefd21 (WGAN-GP + extras).

The blog's training section (54314b33, reused by cfcefd21) says only:

* Discriminator: "(probably) ordinary StarGAN: CGAN + WGAN-gp".
* Generator: "(probably) ordinary StarGAN + feature matching loss +
  identity mapping loss".  Identity mapping because StarGAN had been
  reported to learn images with inverted brightness; feature matching
  "just because".

"Ordinary StarGAN" is read as the reference implementation, yunjey/stargan
(``solver.py``, WGAN-GP variant), and the updater is written in the style of
Chainer's ``examples/dcgan/updater.py``: a ``StandardUpdater`` with the two
optimizers ``{'gen', 'dis'}``, one loss method per network and
``update_core``.

Losses (``B`` samples, label groups ``k`` = speaker, birthplace, sex)
--------------------------------------------------------------------
The critic score of a sample is the mean of ``D(x).adversarial`` over its
``(1, h, w)`` map (a PatchGAN map averaged, as ``torch.mean(out_src)`` does).

Discriminator (every iteration)::

    loss_adv = mean_b score(G(x, c_trg)) - mean_b score(x)    # fake - real
    loss_gp  = mean_b (|| d r(x_hat) / d x_hat ||_2 - 1)^2,
               x_hat = eps * x + (1 - eps) * G(x, c_trg),  eps ~ U[0, 1)
               r = the map's sum (gp_reduce 'sum', the default) or mean
    loss_cls = sum_k CE(D(x).classes[k], real labels k)
    loss     = loss_adv + lambda_gp * loss_gp + lambda_cls * loss_cls

  The fake is generated under ``no_backprop_mode`` (no gradient into G) and
  the whole ``loss`` gets ONE backward and ONE optimizer update.  The GP
  differentiates, per sample, the critic's ``(1, h, w)`` map reduced by
  ``losses.gp_reduce``: ``'sum'`` as yunjey/stargan does
  (``torch.autograd.grad`` with ``grad_outputs`` of ones), or ``'mean'``
  (the score ``loss_adv`` uses).  The input gradients differ by exactly
  the factor ``h*w``: 16 in cfcefd21 (4x4), 64 in 54314b33 (8x8); they
  agree only for a 1x1 map.  A ``1e-12`` inside the square root keeps the
  double-backward finite where the input gradient is exactly 0.

Generator (see "n_critic rule")::

    loss_adv = - mean_b score(G(x, c_trg))
    loss_cls = sum_k CE(D(G(x, c_trg)).classes[k], target labels k)
    loss_rec = mean |x - G(G(x, c_trg), c_org)|            # cycle
    loss_id  = mean |x - G(x, c_org)|                      # identity mapping
    loss_fm  = mean over (C, h, w) of (mean_b f(G(x, c_trg)) - mean_b f(x))^2
               f = D(.).feature, the real side a constant
    loss     = loss_adv + lambda_cls * loss_cls + lambda_rec * loss_rec
               + lambda_id * loss_id + lambda_fm * loss_fm

  The G step uses the same batch and the same target labels as the D step
  of its iteration (as yunjey/stargan does) and the updated D.

Reported values are the UNWEIGHTED terms; ``loss`` is the weighted total.
Keys (as a Trainer names them): ``dis/loss_adv``, ``dis/loss_gp``,
``dis/loss_cls``, ``dis/loss_cls_<group>``, ``dis/acc_<group>``,
``dis/loss``; ``gen/loss_adv``, ``gen/loss_cls``, ``gen/loss_cls_<group>``,
``gen/acc_<group>`` (how often D assigns the fake to its target),
``gen/loss_rec``, ``gen/loss_id``, ``gen/loss_fm``, ``gen/loss``; groups are
:data:`LABEL_NAMES`.

n_critic rule
-------------
The update that runs while ``self.iteration == i`` (``i`` completed updates
before it) always updates D and updates G iff ``(i + 1) % n_critic == 0``:
G is updated in the updates that bring ``updater.iteration`` to a multiple
of ``n_critic``, i.e. after every ``n_critic`` D steps (yunjey/stargan's
``(i+1) % n_critic == 0``).  It depends only on the serialized
``iteration``, so a resumed run keeps the schedule.

Randomness
----------
Every update draws, from the updater's own ``numpy.random.RandomState``
(seeded with ``seed``), first the target rows
``rng.randint(len(label_combinations), size=B)`` and then
``eps = rng.uniform(0, 1, size=B)``, on the host; both are then sent to the
batch's device.  Targets are rows of ``label_combinations`` (the corpus's
real speaker/birthplace/sex combinations), uniformly.  :meth:`forward`
(evaluation) draws from a second RandomState seeded with ``[seed, 1]`` so
evaluating never changes the training draws.  Both states are saved by
:meth:`serialize` with the base class state.
"""
import numpy

import chainer
from chainer.dataset import convert
import chainer.functions as F

from vox.base.labels import GROUPS as LABEL_NAMES
from vox.base.random_state import serialize_random_state
from vox.config import GP_REDUCTIONS, StarGANLosses

# Added to the squared norm in the gradient penalty: d sqrt(s)/ds is
# infinite at s = 0, which would turn a zero input gradient into NaN.
_GP_SQRT_EPS = 1e-12


def labels_to_onehot(labels, n_classes):
    """Concatenated one-hot codes of label indices.

    Args:
        labels: ``(B, G)`` integer array (NumPy or CuPy), column ``g`` a class
            index in ``[0, n_classes[g])``.
        n_classes: ``G`` class counts, e.g. ``(n_speakers, n_birthplaces,
            n_sexes)``.

    Returns:
        ``(B, sum(n_classes))`` float32 array on the labels' device: group
        ``g``'s one-hot occupies columns ``sum(n_classes[:g])`` onwards.
    """
    xp = chainer.backend.get_array_module(labels)
    labels = xp.asarray(labels)
    n_classes = tuple(int(n) for n in n_classes)
    if labels.ndim != 2 or labels.shape[1] != len(n_classes):
        raise ValueError(f'labels must have shape (B, {len(n_classes)}), '
                         f'got {labels.shape}')
    if labels.dtype.kind not in 'iu':
        raise TypeError(f'labels must be integers, got {labels.dtype}')
    if labels.size and (bool((labels < 0).any()) or bool(
            (labels >= xp.asarray(n_classes)).any())):
        raise ValueError(f'labels out of range for n_classes={n_classes}')
    offsets = numpy.concatenate([[0], numpy.cumsum(n_classes)[:-1]])
    out = xp.zeros((labels.shape[0], sum(n_classes)), dtype=numpy.float32)
    rows = xp.arange(labels.shape[0])[:, None]
    out[rows, labels.astype(numpy.int64) + xp.asarray(offsets)] = 1
    return out


def critic_score(adversarial):
    """Per-sample critic score: mean of the adversarial map, ``(B,)``."""
    return F.mean(adversarial, axis=tuple(range(1, adversarial.ndim)))


def critic_input_gradient(dis, x_hat, gp_reduce, enable_double_backprop):
    """``d r(x_hat) / d x_hat`` for the critic's ``(B, 1, h, w)`` map ``D``
    reduced per sample by ``r`` = ``gp_reduce``: ``'sum'`` (the reference
    StarGAN code's ``grad_outputs`` of ones) or ``'mean'`` (the score,
    :func:`critic_score`), summed over the batch as ``grad_outputs`` does.

    Returns a Variable shaped like ``x_hat``; zeros if the critic ignores
    its input.
    """
    if gp_reduce not in GP_REDUCTIONS:
        raise ValueError(f"gp_reduce must be one of "
                         f"{', '.join(GP_REDUCTIONS)}, got {gp_reduce!r}")
    with chainer.force_backprop_mode():
        adversarial = dis(x_hat).adversarial
        if gp_reduce == 'sum':
            total = F.sum(adversarial)
        else:
            total = F.sum(critic_score(adversarial))
        gx, = chainer.grad([total], [x_hat],
                           enable_double_backprop=enable_double_backprop)
    if gx is None:  # the critic ignores its input: the gradient is zero
        xp = chainer.backend.get_array_module(x_hat.array)
        gx = chainer.Variable(xp.zeros_like(x_hat.array))
    return gx


def gradient_penalty(dis, x_real, x_fake, eps, gp_reduce='sum'):
    """WGAN-GP term ``mean_b (||grad_x_hat r(x_hat)||_2 - 1)^2``, ``r`` the
    critic's map reduced by ``gp_reduce`` (:func:`critic_input_gradient`).

    ``x_hat = eps * x_real + (1 - eps) * x_fake`` per sample (``eps`` of
    shape ``(B,)``); inputs are arrays (no graph to either side).  The
    input gradient is taken with ``enable_double_backprop`` so the result
    can be back-propagated to the critic's parameters; it is computed even
    inside ``no_backprop_mode`` (evaluation), then without double backprop.
    """
    x_real = getattr(x_real, 'array', x_real)
    x_fake = getattr(x_fake, 'array', x_fake)
    eps = eps.astype(x_real.dtype, copy=False).reshape(
        (-1,) + (1,) * (x_real.ndim - 1))
    x_hat = chainer.Variable(eps * x_real + (1 - eps) * x_fake)
    gx = critic_input_gradient(dis, x_hat, gp_reduce,
                               chainer.config.enable_backprop)
    axes = tuple(range(1, gx.ndim))
    norm = F.sqrt(F.sum(gx * gx, axis=axes) + _GP_SQRT_EPS)
    return F.mean((norm - 1) ** 2)


def _classification(classes, labels, n_classes):
    """Per-group CE and accuracy of logits ``classes`` against labels."""
    classes = tuple(classes)
    if len(classes) != len(n_classes):
        raise ValueError(f'the discriminator gave {len(classes)} class '
                         f'heads, expected {len(n_classes)}')
    xp = chainer.backend.get_array_module(labels)
    terms = {}
    total = 0
    for k, (name, n, logits) in enumerate(zip(LABEL_NAMES, n_classes,
                                              classes)):
        if logits.shape != (labels.shape[0], n):
            raise ValueError(f'{name} logits have shape {logits.shape}, '
                             f'expected {(labels.shape[0], n)}')
        t = xp.ascontiguousarray(labels[:, k])
        ce = F.softmax_cross_entropy(logits, t)
        terms['loss_cls_' + name] = ce
        terms['acc_' + name] = F.accuracy(logits, t)
        total = total + ce
    terms['loss_cls'] = total
    return terms


class StarGANUpdater(chainer.training.StandardUpdater):
    """StarGAN updater (see the module docstring for losses and schedule).

    Args:
        iterator: yields lists of ``(x, speaker, birthplace, sex)``; ``x``
            float32 ``(1, T, F)`` in ``[0, 1]``, labels int32.
        gen_optimizer, dis_optimizer: optimizers set up on ``G(x, c)`` and
            ``D(x) -> (feature, adversarial, classes)``.
        n_classes: ``(n_speakers, n_birthplaces, n_sexes)``.
        label_combinations: ``(N, 3)`` int array, the corpus's real
            (speaker, birthplace, sex) rows; targets are drawn from it.
        losses: a :class:`vox.config.StarGANLosses` (weights, n_critic,
            gp_reduce); default: its defaults.
        seed: seeds the updater's RandomState (targets and ``eps``).
        converter, device: as for ``StandardUpdater``.
    """

    def __init__(self, iterator, gen_optimizer, dis_optimizer, *, n_classes,
                 label_combinations, seed, losses=None,
                 converter=convert.concat_examples, device=None):
        if losses is None:
            losses = StarGANLosses()
        if not isinstance(losses, StarGANLosses):
            raise TypeError(f'losses must be a vox.config.StarGANLosses, '
                            f'got {type(losses).__name__}')
        self.loss_config = losses
        n_classes = tuple(int(n) for n in n_classes)
        if len(n_classes) != len(LABEL_NAMES) or min(n_classes) < 1:
            raise ValueError(f'n_classes must be {len(LABEL_NAMES)} positive '
                             f'counts {LABEL_NAMES}, got {n_classes}')
        self.n_classes = n_classes
        combos = numpy.asarray(label_combinations)
        if (combos.ndim != 2 or combos.shape[1] != len(n_classes)
                or combos.shape[0] == 0 or combos.dtype.kind not in 'iu'):
            raise ValueError('label_combinations must be a non-empty integer '
                             f'array of shape (N, {len(n_classes)}), got '
                             f'{combos.dtype} {combos.shape}')
        if (combos < 0).any() or (combos >= numpy.asarray(n_classes)).any():
            raise ValueError('label_combinations out of range for '
                             f'n_classes={n_classes}')
        self.label_combinations = combos.astype(numpy.int32)
        seed = int(seed)
        if not 0 <= seed < 2 ** 32:
            raise ValueError(f'seed must be in [0, 2**32), got {seed}')
        self.seed = seed
        self._rng = numpy.random.RandomState(seed)
        self._eval_rng = numpy.random.RandomState([seed, 1])
        super().__init__(
            iterator, {'gen': gen_optimizer, 'dis': dis_optimizer},
            converter=converter, device=device)

    @property
    def gen(self):
        return self.get_optimizer('gen').target

    @property
    def dis(self):
        return self.get_optimizer('dis').target

    # -- schedule and randomness -------------------------------------------

    def is_gen_step(self, iteration=None):
        """Whether the update run at ``iteration`` (default: the next one,
        ``self.iteration``) also updates G: ``(iteration + 1) % n_critic ==
        0``."""
        if iteration is None:
            iteration = self.iteration
        return (iteration + 1) % self.loss_config.n_critic == 0

    def draw(self, batchsize, rng=None):
        """Target label rows ``(B, 3)`` int32 and ``eps`` ``(B,)`` float32,
        on the host, drawn in that order from ``rng`` (default: the
        training RandomState)."""
        rng = self._rng if rng is None else rng
        idx = rng.randint(len(self.label_combinations), size=batchsize)
        labels_trg = self.label_combinations[idx]
        eps = rng.uniform(0.0, 1.0, size=batchsize).astype(numpy.float32)
        return labels_trg, eps

    def minibatch_means(self, feature_fake, feature_real):
        """The minibatch means (axis 0) that feature matching compares:
        the fake's a Variable (G learns through it), the real's a constant
        array."""
        return F.mean(feature_fake, axis=0), feature_real.array.mean(axis=0)

    # -- losses -------------------------------------------------------------

    def _onehot(self, labels):
        return labels_to_onehot(labels, self.n_classes)

    def dis_terms(self, x_real, labels_org, labels_trg, eps):
        """Unweighted D terms and their weighted ``loss`` (Variables)."""
        cfg = self.loss_config
        with chainer.no_backprop_mode():
            x_fake = chainer.as_array(
                self.gen(x_real, self._onehot(labels_trg)))
        out_real = self.dis(x_real)
        out_fake = self.dis(x_fake)
        terms = _classification(out_real.classes, labels_org, self.n_classes)
        terms['loss_adv'] = (F.mean(critic_score(out_fake.adversarial))
                             - F.mean(critic_score(out_real.adversarial)))
        terms['loss_gp'] = gradient_penalty(
            self.dis, x_real, x_fake, eps, self.loss_config.gp_reduce)
        terms['loss'] = (terms['loss_adv'] + cfg.lambda_gp * terms['loss_gp']
                         + cfg.lambda_cls * terms['loss_cls'])
        return terms

    def gen_terms(self, x_real, labels_org, labels_trg):
        """Unweighted G terms and their weighted ``loss`` (Variables)."""
        cfg = self.loss_config
        c_org = self._onehot(labels_org)
        x_fake = self.gen(x_real, self._onehot(labels_trg))
        out_fake = self.dis(x_fake)
        terms = _classification(out_fake.classes, labels_trg, self.n_classes)
        terms['loss_adv'] = -F.mean(critic_score(out_fake.adversarial))
        terms['loss_rec'] = F.mean_absolute_error(
            self.gen(x_fake, c_org), x_real)
        terms['loss_id'] = F.mean_absolute_error(
            self.gen(x_real, c_org), x_real)
        with chainer.no_backprop_mode():
            feature_real = self.dis(x_real).feature
        mean_fake, mean_real = self.minibatch_means(out_fake.feature,
                                                    feature_real)
        terms['loss_fm'] = F.mean_squared_error(mean_fake, mean_real)
        terms['loss'] = (terms['loss_adv']
                         + cfg.lambda_cls * terms['loss_cls']
                         + cfg.lambda_rec * terms['loss_rec']
                         + cfg.lambda_id * terms['loss_id']
                         + cfg.lambda_fm * terms['loss_fm'])
        return terms

    def loss_dis(self, x_real, labels_org, labels_trg, eps):
        """D's loss; reports every term under the ``dis`` observer."""
        terms = self.dis_terms(x_real, labels_org, labels_trg, eps)
        chainer.report(terms, self.dis)
        return terms['loss']

    def loss_gen(self, x_real, labels_org, labels_trg):
        """G's loss; reports every term under the ``gen`` observer."""
        terms = self.gen_terms(x_real, labels_org, labels_trg)
        chainer.report(terms, self.gen)
        return terms['loss']

    # -- entry points -------------------------------------------------------

    def _prepare(self, x, speaker, birthplace, sex, rng):
        x = getattr(x, 'array', x)
        xp = chainer.backend.get_array_module(x)
        device = chainer.backend.get_device_from_array(x)
        labels_org = xp.stack(
            [xp.asarray(getattr(a, 'array', a)).astype(numpy.int32)
             for a in (speaker, birthplace, sex)], axis=1)
        labels_trg, eps = self.draw(len(x), rng)
        return x, labels_org, device.send(labels_trg), device.send(eps)

    def forward(self, x, speaker, birthplace, sex, *, rng=None):
        """Every loss term of one batch, without updating anything.

        For use as an ``Evaluator`` ``eval_func`` (targets
        ``{'gen': gen, 'dis': dis}``): terms are reported as in training and
        returned as ``{'dis/loss_adv': ..., 'gen/loss': ..., ...}``.  Runs
        under the caller's train/backprop config (the GP forces backprop
        locally).  Draws from the evaluation RandomState unless ``rng``
        is given.
        """
        rng = self._eval_rng if rng is None else rng
        x, labels_org, labels_trg, eps = self._prepare(
            x, speaker, birthplace, sex, rng)
        dis = self.dis_terms(x, labels_org, labels_trg, eps)
        gen = self.gen_terms(x, labels_org, labels_trg)
        chainer.report(dis, self.dis)
        chainer.report(gen, self.gen)
        result = {'dis/' + k: v for k, v in dis.items()}
        result.update({'gen/' + k: v for k, v in gen.items()})
        return result

    def update_core(self):
        iterator = self.get_iterator('main')
        batch = iterator.next()
        # The base class's converter call (handles legacy int devices).
        x, speaker, birthplace, sex = convert._call_converter(
            self.converter, batch, self.input_device)
        x, labels_org, labels_trg, eps = self._prepare(
            x, speaker, birthplace, sex, self._rng)
        self.get_optimizer('dis').update(
            self.loss_dis, x, labels_org, labels_trg, eps)
        if self.is_gen_step():
            self.get_optimizer('gen').update(
                self.loss_gen, x, labels_org, labels_trg)
        if self.auto_new_epoch and iterator.is_new_epoch:
            for optimizer in self.get_all_optimizers().values():
                optimizer.new_epoch(auto=True)

    def serialize(self, serializer):
        """Base state (iterator, optimizers, models, iteration) plus both
        RandomStates."""
        super().serialize(serializer)
        serialize_random_state(serializer['rng'], self._rng)
        serialize_random_state(serializer['eval_rng'], self._eval_rng)
