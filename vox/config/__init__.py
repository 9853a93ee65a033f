"""Experiment configuration: YAML -> dataclasses, strictly.

``experiments/<ID>/config.yaml`` holds the faithful configuration at the
top level and named ``profiles`` (e.g. ``smoke``) that override parts of
it explicitly.  A profile is merged into the faithful config and the
result is validated as a whole, so a typo in a profile is caught the same
way as a typo in the base (every profile is validated on load, used or not).
"""
import dataclasses
import math
import numbers
from typing import Any, Dict, List, Optional

from vox.base.scales import SCALES, scale_choices
from vox.config.blurmask import KIND as BLURMASK, load_blurmask_config
from vox.config.schema import (  # noqa: F401  (vox.config's public names)
    EXPERIMENTS_DIR, ConfigError, RangeError, check_profiles, config_path,
    deep_merge, find_config, from_dict, known_ids, load_raw, load_yaml,
    resolve, to_dict)


def _check(ok, key, value, what):
    if not ok:
        raise RangeError(key, f'must be {what}, got {value!r}')


def _positive(obj, *keys):
    for key in keys:
        value = getattr(obj, key)
        _check(math.isfinite(value) and value > 0, key, value,
               'a finite number > 0')


def _at_least_1(obj, *keys):
    for key in keys:
        value = getattr(obj, key)
        _check(value >= 1, key, value, 'an integer >= 1')


UNITS = ('epoch', 'iteration')


def _interval(obj, key, optional=False):
    """A Chainer trigger ``[n, 'epoch' | 'iteration']`` with n >= 1."""
    value = getattr(obj, key)
    if value is None and optional:
        return
    _check(isinstance(value, (list, tuple)) and len(value) == 2
           and isinstance(value[0], int) and not isinstance(value[0], bool)
           and value[0] >= 1 and value[1] in UNITS, key, value,
           "[n, 'epoch'] or [n, 'iteration'] with an integer n >= 1"
           + (' (or null)' if optional else ''))


@dataclasses.dataclass
class ModelConfig:
    name: str                 # a key of the trainer's MODELS / GENERATORS /
                              # DISCRIMINATORS table (vox/training/)
    width: float = 1.0        # scales hidden channels; 1.0 is the blog's model

    def __post_init__(self):
        _positive(self, 'width')


@dataclasses.dataclass
class CorpusConfig:
    # 'synth' (the built-in generated corpus) or a manifest.tsv path;
    # CORPUS=... on the command line overrides it.
    source: str = 'synth'
    birthplaces: int = 3
    speakers_per_cell: int = 3
    utterances_per_speaker: int = 10

    def __post_init__(self):
        _at_least_1(self, 'birthplaces', 'speakers_per_cell',
                    'utterances_per_speaker')


@dataclasses.dataclass
class DataConfig:
    crop_frames: int             # T of the 1 x T x 256 input
    scale: str                   # 'unit' ([0,1] dB map) or 'raw' ([0,inf))
    validation_fraction: float = 0.1
    min_voiced: float = 0.5      # crops are drawn where DIO finds this much F0
    validation_crops: int = 1    # fixed crops per validation utterance
    corpus: CorpusConfig = dataclasses.field(default_factory=CorpusConfig)

    def __post_init__(self):
        _at_least_1(self, 'crop_frames', 'validation_crops')
        _check(self.scale in SCALES, 'scale', self.scale, scale_choices())
        _check(0 < self.validation_fraction < 1, 'validation_fraction',
               self.validation_fraction, 'in (0, 1)')
        _check(0 <= self.min_voiced <= 1, 'min_voiced', self.min_voiced,
               'in [0, 1]')


@dataclasses.dataclass
class LRDecayConfig:
    factor: float                # lr is multiplied by this ...
    every_epochs: int            # ... every this many epochs

    def __post_init__(self):
        _positive(self, 'factor')
        _at_least_1(self, 'every_epochs')


@dataclasses.dataclass
class TrainConfig:
    optimizer: str               # 'RMSprop' everywhere in the blog
    lr: float
    batch_size: int
    epochs: int
    lr_decay: Optional[LRDecayConfig] = None
    # RMSprop's other hyperparameters were not given; Chainer 7's defaults.
    alpha: float = 0.99
    eps: float = 1e-8

    def __post_init__(self):
        _positive(self, 'lr', 'eps')
        _at_least_1(self, 'batch_size', 'epochs')
        _check(0 <= self.alpha < 1, 'alpha', self.alpha, 'in [0, 1)')


@dataclasses.dataclass
class ReportConfig:
    log_every: List[Any] = dataclasses.field(
        default_factory=lambda: [1, 'epoch'])
    snapshot_every: List[Any] = dataclasses.field(
        default_factory=lambda: [10, 'epoch'])
    snapshots_kept: int = 3
    # Also written at the end of training; null: no samples at all (the
    # test profiles, where sample PNGs would cost more than the training).
    samples_every: Optional[List[Any]] = dataclasses.field(
        default_factory=lambda: [100, 'epoch'])
    progress_bar: bool = True
    # StarGAN only: an e19098ab run folder (``vox run --judge RUN``) that
    # scores the conversions of a fixed set of validation crops at every
    # snapshot (vox.extensions.quality_curve); null: no scoring, the log
    # as without it.
    judge: Optional[str] = None

    def __post_init__(self):
        _interval(self, 'log_every')
        _interval(self, 'snapshot_every')
        _interval(self, 'samples_every', optional=True)
        _at_least_1(self, 'snapshots_kept')


#: What the gradient penalty may differentiate over the critic's patch map
#: (:attr:`StarGANLosses.gp_reduce`): the reference code's sum, or the mean.
GP_REDUCTIONS = ('sum', 'mean')


@dataclasses.dataclass(frozen=True)
class StarGANLosses:
    """StarGAN loss weights and critic schedule: the YAML ``losses:`` block
    and what :class:`vox.updaters.stargan.StarGANUpdater` takes (its only
    definition).  The blog gives none of them:

    * ``n_critic=5``, ``lambda_gp=10``, ``lambda_cls=1``, ``lambda_rec=10``:
      StarGAN's published defaults (Choi et al. 2018, Sec. 4 / yunjey/stargan
      ``main.py``), which the blog's "ordinary StarGAN" refers to.
    * ``lambda_id=5``: the identity-mapping loss comes from CycleGAN
      (Zhu et al. 2017), whose code weights it ``0.5 * lambda_cycle``
      (``lambda_identity=0.5`` times ``lambda_A=10``); CycleGAN-VC uses the
      same 5 with cycle weight 10.  Here the cycle weight is
      ``lambda_rec=10``, so 5.
    * ``lambda_fm=1``: feature matching (Salimans et al. 2016) was proposed
      as the generator's whole objective, i.e. with weight 1 in place of the
      adversarial term; added beside that term with no stated reason ("just
      because"), the neutral weight 1 is taken.
    * ``gp_reduce='sum'``: what the gradient penalty differentiates, per
      sample, over the critic's ``(1, h, w)`` patch map.  The reference
      StarGAN code (yunjey/stargan ``gradient_penalty``) calls
      ``torch.autograd.grad`` on the map with ``grad_outputs`` of ones,
      i.e. it differentiates the map's *sum*, while its adversarial term
      uses the map's mean.  ``'mean'`` (the score ``loss_adv`` uses, so
      the function held 1-Lipschitz is the one whose expectation is
      compared) is the documented alternative; its input gradient is
      exactly ``1 / (h * w)`` of the sum's: 1/16 in cfcefd21 (4x4 map),
      1/64 in 54314b33 (8x8).
    """

    n_critic: int = 5
    lambda_gp: float = 10.0
    lambda_cls: float = 1.0
    lambda_rec: float = 10.0
    lambda_id: float = 5.0
    lambda_fm: float = 1.0
    gp_reduce: str = 'sum'

    def __post_init__(self):
        if (not isinstance(self.n_critic, numbers.Integral)
                or isinstance(self.n_critic, bool) or self.n_critic < 1):
            raise ValueError(
                f'n_critic must be an integer >= 1, got {self.n_critic!r}')
        for field in ('lambda_gp', 'lambda_cls', 'lambda_rec', 'lambda_id',
                      'lambda_fm'):
            value = getattr(self, field)
            if not math.isfinite(value) or value < 0:
                raise ValueError(
                    f'{field} must be finite and >= 0, got {value!r}')
        if self.gp_reduce not in GP_REDUCTIONS:
            raise ValueError(
                f"gp_reduce must be one of {', '.join(GP_REDUCTIONS)}, "
                f'got {self.gp_reduce!r}')


@dataclasses.dataclass
class ExperimentConfig:
    id: str
    title: str
    kind: str                    # 'classifier' | 'autoencoder' | 'stargan'
    data: DataConfig
    train: TrainConfig
    model: Optional[ModelConfig] = None          # classifier, autoencoder
    seed: int = 0
    status: str = ''
    generator: Optional[ModelConfig] = None
    discriminator: Optional[ModelConfig] = None
    losses: Optional[StarGANLosses] = None
    report: ReportConfig = dataclasses.field(default_factory=ReportConfig)
    # What the blog reported (hours, final loss, VRAM, ...): data, not config.
    reference: Dict[str, Any] = dataclasses.field(default_factory=dict)
    profile: str = 'faithful'

    def __post_init__(self):
        _check(0 <= self.seed < 2 ** 32, 'seed', self.seed,
               'an integer in [0, 2**32)')  # NumPy's RandomState
        if self.kind == 'stargan':
            missing = [k for k in ('generator', 'discriminator')
                       if getattr(self, k) is None]
            if missing:
                raise ValueError(f"kind 'stargan' needs "
                                 f"{' and '.join(map(repr, missing))}")
            if self.losses is None:
                self.losses = StarGANLosses()
        elif self.model is None:
            raise ValueError(f"kind {self.kind!r} needs 'model'")


def load_config(exp_id_or_path, profile=None):
    """Loads and validates an experiment config (every profile checked).

    The one place an experiment's kind picks its schema: an
    :class:`ExperimentConfig` for the Trainer experiments, a
    :class:`vox.config.blurmask.BlurMaskConfig` for ``kind: blurmask``.
    """
    path = find_config(exp_id_or_path)
    raw = load_raw(path)
    if raw.get('kind') == BLURMASK:  # their own schema: vox/config/blurmask
        return load_blurmask_config(path, profile)
    # The base too, even where the profile overrides its bad values.
    from_dict(ExperimentConfig, resolve(raw, None, path), str(path))
    for name in check_profiles(raw, path):
        from_dict(ExperimentConfig, resolve(raw, name, path),
                  f'{path} (profile {name})')
    return from_dict(ExperimentConfig, resolve(raw, profile, path), str(path))

