"""``vox evaluate``'s procedure: judge a StarGAN run without listening.

Validation crops of the run's own corpus, ``crops`` fixed ones per
utterance at the judge's length (256 frames; the generators are fully
convolutional, so cfcefd21's 64-frame model converts them whole), each
converted to ``targets`` targets drawn uniformly, with a fixed seed, from
the corpus's real (speaker, birthplace, sex) rows.  Two kinds of figure:

1. The judge: an e19098ab classifier run on the same corpus classifies
   the conversions.  Per label group: the accuracy over all conversions;
   over those whose target differs from the source in that group
   (``changed``: the sex-conversion accuracy is ``changed.sex.accuracy``,
   chance 0.5; ``still_source`` says how often the source's class is still
   heard); chance ``1 / n_classes``; and the judge's accuracy on the
   unconverted crops (its ceiling on this data).  The judge is named with
   its own validation accuracy and epochs, and flagged when it trained
   fewer than ``min_judge_epochs`` or on another corpus.
2. Content: vox.evaluation.content's measures between each crop's original
   audio and the Griffin-Lim resynthesis of its conversion, each with two
   rows computed the same way: ``ceiling``, the copy-synthesis reference
   (the crop's own magnitude resynthesised: what Griffin-Lim alone keeps)
   and ``floor``, the copy synthesis of a random crop of another
   utterance (chance).  ``kept`` places each measure between them (0 =
   floor, 1 = ceiling); ``content_kept`` is their mean.  The identity
   conversion's log-spectral distance is kept from before, with the same
   distance to the targets for scale.

vox.reports.conversion_quality turns the result into the headline.
"""
import dataclasses
import json
from pathlib import Path

import chainer
import numpy as np

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.base.progress import progress
from vox.config import load_raw
from vox.data import audio
from vox.data.sources import load_data
from vox.evaluation import content
from vox.reports.findings import confounded_from_manifest
from vox.extensions.samples import (GL_ITERATIONS, crop_wave,
                                    resynthesize_many)
from vox.inference.conversion import convert_unit
from vox.training.store import snapshots

#: A judge trained fewer epochs is flagged: a tenth of e19098ab's 1000.
#: An underfit classifier keys on coarse cues (level, tilt, pitch range)
#: that a generator can imitate without keeping any speech.
MIN_JUDGE_EPOCHS = 100


def _labels_of(run_dir):
    try:
        return json.loads((Path(run_dir) / 'labels.json').read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None


def find_classifier(run_dir, labels=None):
    """The newest e19098ab run with a snapshot under ``run_dir``'s root,
    trained on the same classes (``labels``: the run's names per group,
    None: any): a judge of another corpus cannot judge these targets."""
    root = Path(run_dir).resolve().parent.parent
    folder = root / 'e19098ab'
    found, other = [], 0
    if folder.is_dir():
        for d in folder.iterdir():
            snaps = snapshots(d) if d.is_dir() else []
            if snaps and (d / 'config.yaml').exists():
                if labels is not None and _labels_of(d) != labels:
                    other += 1
                    continue
                found.append((snaps[-1].stat().st_mtime, d))
    if not found:
        why = (f'the {other} e19098ab run{"s" * (other > 1)} under {folder} '
               f'{"were" if other > 1 else "was"} trained on another corpus'
               if other else f'no trained e19098ab classifier under {folder}')
        raise VoxError(
            f'{why}; train one on the same corpus with `make exp-e19098ab '
            f'RESULTS={root}` (PROFILE=smoke for a quick one) or give '
            f'--classifier RUN')
    return max(found)[1]


def lsd_db(x, y):
    """Mean log-spectral distance (dB) between [0, 1] maps (N, 1, T, F)."""
    diff = (np.asarray(x, np.float64) - np.asarray(y, np.float64)) * (
        audio.DB_MAX - audio.DB_MIN)
    return float(np.sqrt((diff ** 2).mean(axis=-1)).mean())


def classify(classifier, x, device, batch_size=16):
    """(N, 3) predicted class indices of [0, 1] crops (N, 1, T, F)."""
    out = []
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        for i in range(0, len(x), batch_size):
            logits = classifier(device.send(x[i:i + batch_size]))
            out.append(np.stack(
                [chainer.backend.CpuDevice().send(y.array).argmax(axis=1)
                 for y in logits], axis=1))
    return np.concatenate(out).astype(np.int32)


def draw_targets(labels, combinations, targets_per_crop, seed):
    """(source index per conversion, target labels (N * k, 3))."""
    rng = np.random.RandomState(seed)
    idx = rng.randint(len(combinations), size=(len(labels),
                                               targets_per_crop))
    targets = np.asarray(combinations, np.int32)[idx].reshape(-1, 3)
    return np.repeat(np.arange(len(labels)), targets_per_crop), targets


def judge_scores(predicted, real, targets, sources, labels, n_classes):
    """Figure 1 from the judge's answers on conversions and real crops."""
    result = {'target_accuracy': {}, 'changed': {}, 'chance': {},
              'classifier_accuracy_real': {}}
    for g, name in enumerate(GROUPS):
        hit = predicted[:, g] == targets[:, g]
        changed = targets[:, g] != sources[:, g]
        result['target_accuracy'][name] = float(hit.mean())
        result['changed'][name] = {
            'n': int(changed.sum()),
            'accuracy': float(hit[changed].mean()) if changed.any() else None,
            'still_source': float((predicted[changed, g]
                                   == sources[changed, g]).mean())
            if changed.any() else None}
        result['chance'][name] = 1.0 / n_classes[g]
        result['classifier_accuracy_real'][name] = float(
            (real[:, g] == labels[:, g]).mean())
    return result


def floor_partners(utterance_ids, seed=0):
    """For each crop, a random crop of another utterance (the floor's
    pairing); all crops of one utterance when there is no other."""
    ids = np.asarray(utterance_ids)
    rng = np.random.RandomState(seed + 1)
    partners = np.empty(len(ids), np.int64)
    for i in range(len(ids)):
        others = np.flatnonzero(ids != ids[i])
        partners[i] = rng.choice(others) if len(others) else i
    return partners


#: Crops per batched Griffin-Lim call of :func:`resynthesize_unit` (each
#: call's result is the same for any grouping; this only paces the bar).
RESYNTHESIS_CHUNK = 32


def resynthesize_unit(x, label='vox: resynthesising',
                      n_iter=GL_ITERATIONS, xp=None):
    """Griffin-Lim waves (the samples' settings) of unit crops (N, 1, T, F),
    batched (:func:`vox.extensions.samples.resynthesize_many`) on ``xp``."""
    chunks = [x[i:i + RESYNTHESIS_CHUNK]
              for i in range(0, len(x), RESYNTHESIS_CHUNK)]
    waves = []
    for chunk in progress(chunks, label=f'{label} ({len(x)} crops, '
                          f'{RESYNTHESIS_CHUNK} a step)'):
        waves += resynthesize_many([audio.from_unit(c[0]) for c in chunk],
                                   n_iter=n_iter, xp=xp)
    return waves


def content_scores(waves, copies, outputs, utterance_ids, seed=0):
    """Figure 2.

    ``waves``: each crop's original audio; ``copies``: the copy synthesis
    of each crop; ``outputs``: ``{row: (source crop index per output,
    output waves)}`` (the conversions; tests add identity, shuffled and
    pitch-shifted rows).  Returns per row the measures' means, plus the
    ``ceiling`` and ``floor`` rows and, per output row, ``kept`` (each
    measure's position between floor and ceiling; None for a measure whose
    ceiling does not clear its floor on this data), ``outside`` (those
    beyond [0, 1]) and ``content_kept`` (the mean of the defined
    positions, each clipped to [0, 1], so one degenerate measure cannot
    drag it past the floor).
    """
    refs = [content.analyse(w) for w in waves]
    copy_an = [content.analyse(w) for w in copies]
    partners = floor_partners(utterance_ids, seed)
    rows = {'ceiling': content.mean_measures(
                [content.compare(r, c) for r, c in zip(refs, copy_an)]),
            'floor': content.mean_measures(
                [content.compare(refs[i], copy_an[p])
                 for i, p in enumerate(partners)])}
    kept = {}
    for name, (source, out_waves) in outputs.items():
        pairs = [content.compare(refs[s], content.analyse(w))
                 for s, w in progress(list(zip(source, out_waves)),
                                      label=f'vox: content of {name}')]
        rows[name] = content.mean_measures(pairs)
        positions = {m: content.measure_position(
            m, rows[name][m]['mean'], rows['floor'][m]['mean'],
            rows['ceiling'][m]['mean']) for m in content.MEASURES}
        # a position outside [0, 1] (a measure below its floor, e.g. the
        # voicing agreement of a near-constant voicing track) counts as the
        # floor or the ceiling in the mean, and is shown apart
        valid = [min(max(v, 0.0), 1.0) for v in positions.values()
                 if v is not None]
        kept[name] = {'kept': positions,
                      'outside': {m: v for m, v in positions.items()
                                  if v is not None and not 0 <= v <= 1},
                      'content_kept': float(np.mean(valid)) if valid
                      else None,
                      'n_measures': len(valid)}
    return {'rows': rows, 'positions': kept,
            'measures': {m: {'what': what, 'higher_is_better': up,
                             'min_separation': gap}
                         for m, (what, up, gap) in content.MEASURES.items()}}


def _read_json_log(run_dir):
    try:
        with open(Path(run_dir) / 'log') as f:
            return json.load(f)
    except (OSError, ValueError):
        return []


def _manifest_text(run_dir):
    try:
        facts = load_raw(Path(run_dir) / 'config.yaml').get('corpus') or {}
        return Path(facts['manifest']).read_text()
    except (OSError, KeyError, TypeError, ValueError, VoxError):
        return None


def judge_facts(cls_run_dir, run_dir, min_epochs=MIN_JUDGE_EPOCHS):
    """The judge's name, its validation accuracy and epochs, and flags."""
    log = _read_json_log(cls_run_dir)
    last = log[-1] if log else {}
    val = {g: last.get(f'validation/main/acc_{g}') for g in GROUPS}
    epoch = last.get('epoch')
    ours, theirs = _manifest_text(run_dir), _manifest_text(cls_run_dir)
    same_corpus = None if ours is None or theirs is None else ours == theirs
    flags = []
    if epoch is None or epoch < min_epochs:
        flags.append(f'trained {epoch if epoch is not None else "?"} '
                     f'epochs (< {min_epochs}): an underfit judge is easy '
                     f'to fool')
    if same_corpus is False:
        flags.append('trained on another corpus than the run')
    elif same_corpus is None:
        flags.append("cannot check the judge's corpus (manifest missing)")
    return {'run': str(cls_run_dir), 'epochs': epoch,
            'validation_accuracy': val, 'same_corpus': same_corpus,
            'min_epochs': min_epochs, 'flags': flags}


def judge_validation_crops(cls_run):
    """How many validation crops the judge's own validation accuracy
    rests on: its run's validation split, rebuilt from its config."""
    facts = load_raw(cls_run.path / 'config.yaml').get('corpus') or {}
    manifest = facts.get('manifest') if isinstance(facts, dict) else None
    try:
        data = load_data(cls_run.config.data, cls_run.config.seed,
                         manifest if manifest and Path(manifest).exists()
                         else None)
    except VoxError:
        return None
    return len(data.validation)


def confounded(manifest):
    """{group: why} of the label groups this corpus ties to single
    speakers (vox.reports.findings.confounded_from_manifest)."""
    try:
        lines = Path(manifest).read_text().splitlines()
    except (OSError, TypeError):
        return {}
    return confounded_from_manifest(lines)


def load_eval_data(run, crop_frames, crops):
    """Validation crops of ``crop_frames`` from the run's own corpus."""
    facts = load_raw(run.path / 'config.yaml').get('corpus') or {}
    manifest = facts.get('manifest') if isinstance(facts, dict) else None
    corpus = manifest if manifest and Path(manifest).exists() else None
    config = dataclasses.replace(run.config, data=dataclasses.replace(
        run.config.data, crop_frames=crop_frames, validation_crops=crops))
    data = load_data(config.data, config.seed, corpus)
    if data.labels.names != run.labels.names:
        raise VoxError(f'{data.manifest}: its labels differ from '
                       f'{run.path}/labels.json; the run was trained on '
                       f'another corpus')
    return data


def validation_crops(dataset):
    """(unit crops (N, 1, T, F), labels (N, 3), original audio per crop,
    utterance index per crop) of a fixed-crop validation dataset."""
    examples = [dataset[i] for i in range(len(dataset))]
    x = np.stack([e[0] for e in examples])
    labels = np.asarray([e[1:] for e in examples], np.int32)
    waves = [crop_wave(dataset, i) for i in range(len(dataset))]
    missing = [dataset.items[i][0].utterance.path
               for i, w in enumerate(waves) if w is None]
    if missing:
        raise VoxError(f'{missing[0]}: cannot read the audio under '
                       f'{len(missing)} validation crop(s); the content '
                       f'measures need the corpus files the run used')
    utterance = {}
    ids = [utterance.setdefault(str(item[0].utterance.path), len(utterance))
           for item in dataset.items]
    return x, labels, waves, np.asarray(ids)


def evaluate(gen, classifier, data, *, targets_per_crop=4, seed=0,
             device=None, gl_iterations=GL_ITERATIONS):
    """Both figures for the validation crops of ``data``.  Every
    resynthesis (copy synthesis and conversions alike) runs
    ``gl_iterations`` Griffin-Lim iterations; fewer only to test the
    wiring fast, since the ceiling is what Griffin-Lim keeps."""
    device = chainer.get_device(device or '@numpy')
    x, labels, waves, ids = validation_crops(data.validation)
    source, targets = draw_targets(labels, data.combinations,
                                   targets_per_crop, seed)
    converted = convert_unit(gen, x[source], targets, device=device)
    identity = convert_unit(gen, x, labels, device=device)
    result = {'n_crops': int(len(x)), 'n_conversions': int(len(targets)),
              'crop_frames': int(x.shape[2]),
              'targets_per_crop': targets_per_crop, 'seed': seed,
              'griffin_lim_iterations': gl_iterations}
    result.update(judge_scores(classify(classifier, converted, device),
                               classify(classifier, x, device), targets,
                               labels[source], labels,
                               data.labels.n_classes))
    result['identity_lsd_db'] = lsd_db(x, identity)
    result['conversion_lsd_db'] = lsd_db(x[source], converted)
    copies = resynthesize_unit(x, 'vox: copy synthesis', gl_iterations,
                               device.xp)
    outputs = resynthesize_unit(converted, 'vox: resynthesising',
                                gl_iterations, device.xp)
    result['content'] = content_scores(
        waves, copies, {'converted': (source, outputs)}, ids, seed)
    return result
