"""Blur-mask run configuration: YAML -> ``BlurMaskConfig``, strictly.

``experiments/blurmask-N/config.yaml`` names a shared file with ``base:``
(a path relative to the config, here ``../blurmask-common.yaml``); the
config is deep-merged over the base (profiles included), then a profile is
merged in with :func:`vox.config.schema.resolve` and the result is validated by
:func:`vox.config.schema.from_dict`, so an unknown key is a one-line error that
names the file, the key and its closest valid spelling.  Every profile is
validated on load, used or not, as for the trainer experiments.
"""
import dataclasses
import math
from pathlib import Path
from typing import Any, Dict, Optional

from vox.base.scales import SCALES
from vox.config.schema import (ConfigError, check_profiles, deep_merge,
                               find_config, from_dict, load_raw, resolve)

KIND = 'blurmask'
TARGET_KINDS = ('identity', 'classifier', 'autoencoder')
# target kind -> the outputs it offers (the first is the default)
TARGET_OUTPUTS = {
    'identity': ('input',),
    'classifier': ('logits', 'features'),
    'autoencoder': ('latent', 'output'),
}
# target kind -> the experiment whose newest run 'run: newest' picks
TARGET_EXPERIMENTS = {'classifier': 'e19098ab', 'autoencoder': 'bc7db4a2'}


@dataclasses.dataclass
class TargetConfig:
    """The frozen network ``f``.

    ``kind``: 'identity' (f(x) = x in ``scale``), 'classifier' (an e19098ab
    run) or 'autoencoder' (a bc7db4a2 run).  ``run``: a run folder
    (results/<ID>/<run>) or 'newest' (the newest run of ``experiment``
    under the results root that has a snapshot).  ``output``: classifier
    'logits' (the three heads concatenated, the network's output; needs the
    256 frames it was trained on; the default) or 'features' (the 6th conv
    block's feature map; the ``features64`` profile, on 64 frames);
    autoencoder 'latent' or 'output'.  ``scale``: identity only ('unit' or
    'raw'); a network takes the scale its run was trained on (its config's
    data.scale).
    """
    kind: str = 'classifier'
    run: str = 'newest'
    experiment: Optional[str] = None
    output: Optional[str] = None
    scale: Optional[str] = None


@dataclasses.dataclass
class InputConfig:
    """The spectrogram ``x``: a crop of one utterance, or a WAV.

    ``source``: 'corpus' or 'wav' (``path``; ``vox run ID --input f.wav``
    sets both).  ``corpus``: 'synth' (the built-in corpus) or a
    manifest.tsv / folder, as CORPUS=.  ``speaker``: only that speaker's
    utterances; ``utterance``: index into the (filtered) utterances sorted
    by path.  ``frames``: crop length; ``start``: first frame, or null for
    the most voiced crop (DIO).
    """
    source: str = 'corpus'
    path: Optional[str] = None
    corpus: str = 'synth'
    speaker: Optional[str] = None
    utterance: int = 0
    frames: int = 256
    start: Optional[int] = None


@dataclasses.dataclass
class BlurMaskConfig:
    id: str
    title: str
    kind: str                    # always 'blurmask'
    m_init: float                # every point's m at iteration 0
    lambda_: float               # the notes' lambda ...
    lambda_on: str               # ... multiplies 'entropy' or 'mse'
    iterations: int              # the notes' "epoch": one step on m
    conserve_total: bool         # the notes' "keep the FFT total" fix
    relu_on_m: bool              # m = max(m, 0) at the start of each step
    lr: float = 1.0              # plain gradient descent on m
    status: str = ''
    seed: int = 0                # Griffin-Lim's initial phase
    # H(m) = 'sum' or 'mean' over points of log(max(|m|, log_floor))
    entropy_reduce: str = 'sum'
    log_floor: float = 1.0e-3
    # the blur acts on the raw magnitude ('raw', the notes' FFT matrix) or
    # on the [0, 1] map ('unit'); the target's own scale is applied after
    blur_scale: str = 'raw'
    target: TargetConfig = dataclasses.field(default_factory=TargetConfig)
    input: InputConfig = dataclasses.field(default_factory=InputConfig)
    checkpoints_every: int = 1000   # blurred PNG + Griffin-Lim WAV + m
    keep_fractions: list = dataclasses.field(
        default_factory=lambda: [0.05, 0.1, 0.25])
    griffin_lim_iterations: int = 60
    progress_bar: bool = True
    # The notes' own description of the run: data, not config.
    reference: Dict[str, Any] = dataclasses.field(default_factory=dict)
    profile: str = 'faithful'

    @property
    def weights(self):
        """(a, b) of ``loss = a * MSE - b * H``."""
        lam = self.lambda_
        return (1.0, lam) if self.lambda_on == 'entropy' else (lam, 1.0)

    @property
    def target_output(self):
        return self.target.output or TARGET_OUTPUTS[self.target.kind][0]


def _choice(value, allowed, where):
    if value not in allowed:
        raise ConfigError(f'{where}: expected one of '
                          f'{", ".join(map(repr, allowed))}, got {value!r}')


def validate(cfg, where):
    if cfg.kind != KIND:
        raise ConfigError(f"{where}.kind: expected '{KIND}', got {cfg.kind!r}")
    _choice(cfg.lambda_on, ('entropy', 'mse'), f'{where}.lambda_on')
    _choice(cfg.entropy_reduce, ('sum', 'mean'), f'{where}.entropy_reduce')
    _choice(cfg.blur_scale, SCALES, f'{where}.blur_scale')
    _choice(cfg.target.kind, TARGET_KINDS, f'{where}.target.kind')
    if cfg.target.output is not None:
        _choice(cfg.target.output, TARGET_OUTPUTS[cfg.target.kind],
                f'{where}.target.output')
    if cfg.target.scale is not None:
        _choice(cfg.target.scale, SCALES, f'{where}.target.scale')
        if cfg.target.kind != 'identity':
            raise ConfigError(
                f'{where}.target.scale: only for target.kind identity; a '
                f'network takes the scale its run was trained on')
    _choice(cfg.input.source, ('corpus', 'wav'), f'{where}.input.source')
    if cfg.input.source == 'wav' and not cfg.input.path:
        raise ConfigError(f'{where}.input.path: input.source is wav but no '
                          f'path is given (or use --input file.wav)')
    for name in ('iterations', 'checkpoints_every', 'griffin_lim_iterations'):
        if getattr(cfg, name) < 1:
            raise ConfigError(f'{where}.{name}: must be at least 1')
    if cfg.input.frames < 1 or cfg.input.utterance < 0:
        raise ConfigError(f'{where}.input: frames must be >= 1 and '
                          f'utterance >= 0')
    for name in ('log_floor', 'lr'):
        if not math.isfinite(getattr(cfg, name)) or getattr(cfg, name) <= 0:
            raise ConfigError(f'{where}.{name}: must be a finite number > 0, '
                              f'got {getattr(cfg, name)!r}')
    for name in ('m_init', 'lambda_'):
        if not math.isfinite(getattr(cfg, name)):
            raise ConfigError(f'{where}.{name}: must be finite, got '
                              f'{getattr(cfg, name)!r}')
    fractions = cfg.keep_fractions
    if not fractions or not all(isinstance(f, (int, float)) and 0 < f <= 1
                                for f in fractions):
        raise ConfigError(f'{where}.keep_fractions: a list of numbers in '
                          f'(0, 1], got {fractions!r}')
    return cfg


def merged_raw(path, chain=()):
    """The config file's mapping over its ``base:`` chain (profiles too);
    ``chain``: the files that named this one as their base."""
    path = Path(path)
    raw = load_raw(path)
    base = raw.pop('base', None)
    if base is None:
        return raw
    if not isinstance(base, str) or not base:
        raise ConfigError(f"{path}: 'base' must be the path of one YAML "
                          f"file, relative to {path.name}, got {base!r}")
    base_path = (path.parent / base).resolve()
    if not base_path.exists():
        raise ConfigError(f'{path}: base file {base} not found '
                          f'(looked for {base_path})')
    seen = chain + (path.resolve(),)
    if base_path in seen:
        raise ConfigError(f"{path}: 'base: {base}' leads back to "
                          f"{base_path}, a file of its own base chain; "
                          f"name a file that has no 'base:' pointing back")
    return deep_merge(merged_raw(base_path, seen), raw)


def load_blurmask_config(exp_id_or_path, profile=None):
    """Loads and validates a blur-mask config (every profile checked)."""
    path = find_config(exp_id_or_path)
    raw = merged_raw(path)
    # The base too, even where the profile overrides its bad values.
    validate(from_dict(BlurMaskConfig, resolve(raw, None, path), str(path)),
             str(path))
    for name in check_profiles(raw, path):
        where = f'{path} (profile {name})'
        validate(from_dict(BlurMaskConfig, resolve(raw, name, path), where),
                 where)
    return validate(from_dict(BlurMaskConfig, resolve(raw, profile, path),
                              str(path)), str(path))


def is_blurmask(exp_id_or_path):
    """Does this experiment's config.yaml say ``kind: blurmask``?"""
    return load_raw(find_config(exp_id_or_path)).get('kind') == KIND

