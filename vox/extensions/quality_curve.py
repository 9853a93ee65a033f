"""Conversion quality over training: a StarGAN run scores itself.

With ``vox run --judge CLASSIFIER_RUN`` (``report.judge`` in the resolved
config), :func:`add_quality_curve` extends the trainer with
:class:`QualityCurve`, which at every snapshot converts a fixed small set
of validation crops (:data:`CROPS` crops at the judge's length, one per
utterance, each to a fixed target of another speaker) and reports, with
``chainer.report`` so LogReport logs them and PlotReport draws
``quality.png``:

* ``quality/judge``: where the judge's accuracy on the changed targets
  lies between chance (0) and its accuracy on the same crops unconverted
  (1), averaged over the label groups it separates by at least
  ``JUDGE_MIN_SEPARATION`` (the figure ``vox evaluate`` calls "judge at");
  ``quality/judge_<group>``: the changed-target accuracy per group;
* ``quality/content_kept``: the mean position of the four content
  measures of vox.evaluation.content between floor (a random other
  utterance's copy synthesis) and ceiling (the crop's own copy
  synthesis), each clipped to [0, 1]; ``quality/kept_<measure>`` each.

The generator runs in test mode (BatchNormalization's running
statistics, nothing updated) and every draw uses its own RandomState, so
a run with a judge trains exactly as one without.  Without a judge
nothing of this is attached and the log is as before.
"""
import dataclasses

import chainer
import numpy as np
from chainer import training
from chainer.training import extensions

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.data import audio
from vox.data.sources import load_data
from vox.evaluation import content
from vox.extensions.samples import crop_wave, resynthesize
from vox.inference.conversion import convert_unit

#: Crops scored at every snapshot (one per validation utterance): few, as
#: each costs a Griffin-Lim resynthesis and a pyworld analysis per score.
CROPS = 8
#: A group whose judge accuracy on the unconverted crops is not this far
#: above chance says nothing about conversions (as vox evaluate).
JUDGE_MIN_SEPARATION = 0.1
KEYS = ['quality/judge', 'quality/content_kept']


def _classify(classifier, x, device):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        logits = classifier(device.send(x))
        return np.stack([chainer.backend.CpuDevice().send(y.array)
                         .argmax(axis=1) for y in logits], axis=1)


def _targets(labels, combinations, seed):
    """One target per crop, of another speaker, drawn with its own seed."""
    rng = np.random.RandomState(seed)
    combos = np.asarray(combinations, np.int32)
    out = []
    for row in labels:
        others = combos[combos[:, 0] != row[0]]
        pool = others if len(others) else combos
        out.append(pool[rng.randint(len(pool))])
    return np.asarray(out, np.int32)


class QualityCurve(training.Extension):
    priority = training.PRIORITY_WRITER  # before LogReport reads it
    name = 'QualityCurve'

    def __init__(self, gen, judge, x, labels, waves, utterance_ids,
                 targets, n_classes, device, gl_iterations):
        self.gen, self.judge, self.device = gen, judge, device
        self.x, self.labels, self.targets = x, labels, targets
        self.n_classes = n_classes
        self.gl_iterations = gl_iterations
        self.refs = [content.analyse(w) for w in waves]
        copies = [content.analyse(self._wave(c)) for c in x]
        ids = np.asarray(utterance_ids)
        rng = np.random.RandomState(1)
        partner = [rng.choice(np.flatnonzero(ids != i)) if (ids != i).any()
                   else k for k, i in enumerate(ids)]
        self.ceiling = content.mean_measures(
            [content.compare(r, c) for r, c in zip(self.refs, copies)])
        self.floor = content.mean_measures(
            [content.compare(self.refs[k], copies[p])
             for k, p in enumerate(partner)])
        self.real = (_classify(judge, x, device) == labels).mean(axis=0)

    def _wave(self, unit_crop):
        return resynthesize(audio.from_unit(unit_crop[0]),
                            n_iter=self.gl_iterations)

    def scores(self):
        """{log key: value} for the generator as it is now."""
        converted = convert_unit(self.gen, self.x, self.targets,
                                 device=self.device)
        predicted = _classify(self.judge, converted, self.device)
        out, positions = {}, []
        for g, name in enumerate(GROUPS):
            changed = self.targets[:, g] != self.labels[:, g]
            if not changed.any():
                continue
            acc = float((predicted[changed, g]
                         == self.targets[changed, g]).mean())
            out[f'quality/judge_{name}'] = acc
            chance = 1.0 / self.n_classes[g]
            if self.real[g] - chance >= JUDGE_MIN_SEPARATION:
                positions.append((acc - chance) / (self.real[g] - chance))
        if positions:
            out['quality/judge'] = float(np.mean(positions))
        rows = content.mean_measures(
            [content.compare(r, content.analyse(self._wave(c)))
             for r, c in zip(self.refs, converted)])
        kept = []
        for m in content.MEASURES:
            p = content.measure_position(m, rows[m]['mean'],
                                         self.floor[m]['mean'],
                                         self.ceiling[m]['mean'])
            if p is not None:
                p = float(np.clip(p, 0.0, 1.0))
                out[f'quality/kept_{m}'] = p
                kept.append(p)
        if kept:
            out['quality/content_kept'] = float(np.mean(kept))
        return out

    def __call__(self, trainer):
        chainer.report(self.scores())


def add_quality_curve(trainer, gen, judge_run, judge, config, data, device,
                      trigger):
    """QualityCurve at ``trigger`` and ``quality.png`` (both curves)."""
    if judge_run.labels.names != data.labels.names:
        raise VoxError(f'--judge {judge_run.path}: trained on other labels '
                       f'than this corpus; train e19098ab on the same '
                       f'corpus')
    frames = judge_run.config.data.crop_frames
    cfg = dataclasses.replace(config.data, crop_frames=frames,
                              validation_crops=1)
    val = load_data(cfg, config.seed, str(data.manifest)).validation
    picks = np.linspace(0, len(val) - 1, min(CROPS, len(val))).round()
    picks = sorted(set(int(i) for i in picks))
    examples = [val[i] for i in picks]
    x = np.stack([e[0] for e in examples])
    labels = np.asarray([e[1:] for e in examples], np.int32)
    waves = [crop_wave(val, i) for i in picks]
    if any(w is None for w in waves):
        raise VoxError(f'{data.manifest}: cannot read the audio under the '
                       f'validation crops; the content measures need it')
    ids = [str(val.items[i][0].utterance.path) for i in picks]
    trainer.extend(QualityCurve(
        gen, judge, x, labels, waves, [ids.index(i) for i in ids],
        _targets(labels, data.combinations, config.seed),
        data.labels.n_classes, device, audio.GL_ITERATIONS), trigger=trigger)
    trainer.extend(extensions.PlotReport(
        KEYS, x_key='epoch',
        filename='quality.png', trigger=trigger))
