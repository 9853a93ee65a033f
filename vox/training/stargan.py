"""54314b33 and cfcefd21: StarGAN models, trainer, and conversion helpers.

The models are chosen by name in the YAML (``generator.name``,
``discriminator.name``, see :data:`GENERATORS` / :data:`DISCRIMINATORS`),
the loss weights come from ``losses:`` (:class:`vox.config.StarGANLosses`)
and the step is :class:`vox.updaters.stargan.StarGANUpdater`.

Besides the trainer, this module holds what every use of a trained
generator shares (conversion samples, ``vox convert``, ``vox evaluate``):

* :func:`convert_unit`: whole spectrograms of any length through G (frames
  padded with the silence floor to the generator's frame multiple, then
  trimmed back);
* :class:`SpeakerTable`: the corpus's real (speaker, birthplace, sex)
  combinations with their utterance counts, saved as ``speakers.json`` in
  the run folder, and the rule that picks a target from partial attributes
  ("the most typical speaker": the one with the most utterances among those
  having the given attributes; ties go to the first name in sorted order).
"""
import dataclasses
import difflib
import json
from pathlib import Path

import chainer
import numpy as np
from chainer import training
from chainer.training import extensions

from vox.data.dataset import GROUPS
from vox.base.errors import VoxError
from vox.links.discriminators import ConvBNDiscriminator, ConvDiscriminator
from vox.links.generators import ResNetGenerator, SkipGenerator
from vox.training.common import (add_lr_decay, add_reports, every_or_end,
                                 make_optimizer)
from vox.updaters.stargan import StarGANUpdater, labels_to_onehot

GENERATORS = {
    'skip_generator': SkipGenerator,         # 54314b33
    'resnet_generator': ResNetGenerator,     # cfcefd21
}
DISCRIMINATORS = {
    'conv_bn_discriminator': ConvBNDiscriminator,   # 54314b33
    'conv_discriminator': ConvDiscriminator,        # cfcefd21
}

SNAPSHOT_PATHS = {'generator': 'updater/model:gen/',
                  'discriminator': 'updater/model:dis/'}


def _both(*keys):
    """Training and validation keys, in that order."""
    return list(keys) + [f'validation/{k}' for k in keys]


# PNG -> log keys, grouped as one looks at a StarGAN, at most six keys
# (each with its validation twin, dashed) per figure: the critic's terms,
# the gradient penalty alone (it spans decades: log scale), what the
# generator gets from the critic, its reconstruction-type terms, and per
# label group the two classification terms and the two accuracies.
# Every reported term is in at least one plot, for training and validation.
PLOTS = {
    'critic.png': _both('dis/loss_adv', 'dis/loss_cls', 'dis/loss'),
    'critic_gradient_penalty.png': _both('dis/loss_gp'),
    'generator_adversarial.png': _both('gen/loss_adv', 'gen/loss_cls',
                                       'gen/loss'),
    'generator_reconstruction.png': _both('gen/loss_rec', 'gen/loss_id',
                                          'gen/loss_fm'),
    **{f'classification_{g}.png': _both(f'dis/loss_cls_{g}',
                                        f'gen/loss_cls_{g}')
       for g in GROUPS},
    **{f'accuracy_{g}.png': _both(f'dis/acc_{g}', f'gen/acc_{g}')
       for g in GROUPS},
}

PRINT_KEYS = ['dis/loss_adv', 'dis/loss_gp', 'gen/loss_rec', 'gen/loss_id',
              'dis/acc_speaker', 'gen/acc_sex', 'validation/gen/loss_rec']


def _pick(table, config, what):
    if config.name not in table:
        raise VoxError(f"{what}.name: unknown {what} {config.name!r}; "
                       f"known: {', '.join(sorted(table))}")
    return table[config.name]


def build_models(config, n_classes):
    gen = _pick(GENERATORS, config.generator, 'generator')(
        n_classes, width=config.generator.width)
    dis = _pick(DISCRIMINATORS, config.discriminator, 'discriminator')(
        n_classes, width=config.discriminator.width)
    return {'generator': gen, 'discriminator': dis}


def check_crop_frames(models, frames):
    gen, dis = models['generator'], models['discriminator']
    if frames % gen.frame_multiple or frames < dis.min_frames:
        raise VoxError(
            f'data.crop_frames={frames}: {type(gen).__name__} needs a '
            f'multiple of {gen.frame_multiple} and {type(dis).__name__} at '
            f'least {dis.min_frames} frames')


def build_trainer(config, data, run_dir, device):
    n_classes = data.labels.n_classes
    models = build_models(config, n_classes)
    check_crop_frames(models, config.data.crop_frames)
    gen, dis = models['generator'], models['discriminator']
    gen.to_device(device)
    dis.to_device(device)
    opt_gen = make_optimizer(config.train, gen)
    opt_dis = make_optimizer(config.train, dis)
    batch = config.train.batch_size
    train_iter = chainer.iterators.SerialIterator(
        data.train, batch,
        order_sampler=chainer.iterators.ShuffleOrderSampler(data.order_rng))
    val_iter = chainer.iterators.SerialIterator(
        data.validation, batch, repeat=False, shuffle=False)
    updater = StarGANUpdater(
        train_iter, opt_gen, opt_dis, n_classes=n_classes,
        label_combinations=data.combinations, seed=config.seed,
        device=device, **dataclasses.asdict(config.losses))
    trainer = training.Trainer(updater, (config.train.epochs, 'epoch'),
                               out=str(run_dir))
    trainer.extend(extensions.Evaluator(
        val_iter, {'gen': gen, 'dis': dis}, eval_func=updater.forward,
        device=device), trigger=tuple(config.report.log_every))
    add_lr_decay(trainer, config.train, {'gen': opt_gen, 'dis': opt_dis})
    add_reports(trainer, config, PLOTS, PRINT_KEYS)

    table = SpeakerTable.from_data(data)
    table.save(run_dir)
    if config.report.samples_every is not None:  # null: no samples
        from vox.extensions.conversion_samples import ConversionSamples
        trainer.extend(
            ConversionSamples.from_dataset(gen, data.validation, table,
                                           device=device),
            trigger=every_or_end(config.report.samples_every,
                                 config.train.epochs))
    return trainer


# ---------------------------------------------------------------------------
# Conversion

def convert_unit(gen, x, targets, device=None, batch_size=8):
    """Converts unit-scale spectrograms ``x`` (B, 1, T, F) to ``targets``.

    ``targets``: (B, 3) int label indices (speaker, birthplace, sex).  Any
    T: the frames are padded at the end with 0 (the unit scale's floor, -50
    dB, i.e. silence) to a multiple of ``gen.frame_multiple``, converted in
    one pass (the generators are fully convolutional over time; BN uses its
    running statistics) and trimmed back.  Returns numpy (B, 1, T, F) in
    (0, 1).
    """
    device = chainer.get_device(device or '@numpy')
    x = np.asarray(x, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.int32).reshape(len(x), -1)
    t = x.shape[2]
    pad = (-t) % gen.frame_multiple
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (0, pad), (0, 0)))
    onehot = labels_to_onehot(targets, gen.n_classes)
    out = []
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        for i in range(0, len(x), batch_size):
            y = gen(device.send(x[i:i + batch_size]),
                    device.send(onehot[i:i + batch_size]))
            out.append(chainer.backend.CpuDevice().send(y.array))
    y = np.concatenate(out) if out else np.zeros_like(x)
    return np.ascontiguousarray(y[:, :, :t])


# ---------------------------------------------------------------------------
# Targets by name

SEX_ALIASES = {'m': 'M', 'male': 'M', 'f': 'F', 'female': 'F'}


def _list_names(names, limit=30):
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += f', ... ({len(names)} in all; see labels.json)'
    return shown


@dataclasses.dataclass
class SpeakerTable:
    """The corpus's (speaker, birthplace, sex) rows, by name, with counts.

    ``names``: ``LabelSpace.names`` (group -> sorted class names);
    ``rows``: ``[(speaker, birthplace, sex, n_utterances), ...]``.
    """
    names: dict
    rows: list

    FILE = 'speakers.json'

    @classmethod
    def from_data(cls, data):
        """Rows of an ``ExperimentData`` (utterances of both splits)."""
        counts = {}
        for dataset in (data.train, data.validation):
            for features, _, y in dataset.items:
                key = tuple(int(v) for v in y)
                counts.setdefault(key, set()).add(str(features.utterance.path))
        for row in np.asarray(data.combinations).tolist():
            counts.setdefault(tuple(row), set())
        names = data.labels.names
        rows = [tuple(names[g][i] for g, i in zip(GROUPS, key))
                + (len(paths),) for key, paths in sorted(counts.items())]
        return cls(names, rows)

    def save(self, run_dir):
        with open(Path(run_dir) / self.FILE, 'w') as f:
            json.dump([dict(zip(GROUPS + ('utterances',), r))
                       for r in self.rows], f, indent=1)

    @classmethod
    def load(cls, run_dir, names):
        path = Path(run_dir) / cls.FILE
        if not path.exists():
            raise VoxError(f'{run_dir}: no {cls.FILE}; it is written when a '
                           f'StarGAN run starts (give a StarGAN run folder)')
        with open(path) as f:
            rows = [tuple(r[g] for g in GROUPS) + (int(r['utterances']),)
                    for r in json.load(f)]
        return cls(names, rows)

    def index(self, row):
        """(speaker, birthplace, sex) names -> class indices."""
        return tuple(self.names[g].index(v) for g, v in zip(GROUPS, row))

    def name_of(self, group, value):
        """A name given by a user -> the corpus's class name, or VoxError."""
        valid = list(self.names[group])
        if group == 'sex':
            canon = SEX_ALIASES.get(str(value).lower())
            if canon is None:
                raise VoxError(f"--sex {value!r}: give M or F")
            for name in valid:
                if SEX_ALIASES.get(str(name).lower(), name) == canon:
                    return name
            raise VoxError(f"--sex {canon}: this corpus has no such sex; "
                           f"it has: {', '.join(valid)}")
        if value in valid:
            return value
        close = difflib.get_close_matches(str(value), valid, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise VoxError(f"unknown {group} {value!r}{hint}; valid "
                       f"{group}s: {_list_names(valid)}")

    def matching(self, speaker=None, birthplace=None, sex=None):
        given = (speaker, birthplace, sex)
        return [r for r in self.rows
                if all(v is None or r[i] == v for i, v in enumerate(given))]

    @staticmethod
    def most_typical(rows, exclude=()):
        """The row with the most utterances; ties: first in name order."""
        rows = [r for r in rows if r[0] not in exclude]
        if not rows:
            return None
        return sorted(rows, key=lambda r: (-r[3], r[0], r[1], r[2]))[0]

    def resolve(self, speaker=None, birthplace=None, sex=None):
        """The target row ``(speaker, birthplace, sex)`` for a user's names.

        Names are checked (unknown -> VoxError listing the valid ones; sex
        is M or F); attributes not given come from the most typical
        speaker having the given ones.  All three given but not a real
        combination: used as given (the generator accepts any code).
        """
        given = {g: (None if v is None else self.name_of(g, v))
                 for g, v in zip(GROUPS, (speaker, birthplace, sex))}
        if all(v is None for v in given.values()):
            raise VoxError('give a target: at least one of --speaker, '
                           '--birthplace, --sex')
        row = self.most_typical(self.matching(**given))
        if row is None:
            if all(v is not None for v in given.values()):
                return tuple(given[g] for g in GROUPS)
            said = ', '.join(f'{g}={v}' for g, v in given.items()
                             if v is not None)
            raise VoxError(f'no speaker in the corpus has {said}; give '
                           f'other attributes (see speakers.json)')
        return row[:3]
