"""vox evaluate: judge a StarGAN run without listening.

    vox evaluate RUN [--classifier CLASSIFIER_RUN] [--crops 3] [--targets 4]
                 [--seed 0] [--device @numpy]

Two figures, printed and written to ``RUN/evaluation.json``:

1. Target-attribute accuracy.  An e19098ab classifier run trained on the
   same corpus (``--classifier``; default: the newest e19098ab run with a
   snapshot under the same results root, ``RUN/../../e19098ab/``)
   classifies converted validation crops.  Each validation utterance gives
   ``--crops`` fixed crops of the classifier's length (256 frames; the
   generators are fully convolutional, so cfcefd21's 64-frame model
   converts them whole), each converted to ``--targets`` targets drawn
   uniformly, with a fixed seed, from the corpus's real (speaker,
   birthplace, sex) rows.  Per label group: the accuracy over all
   conversions; over the conversions whose target differs from the source
   in that group (``changed``: e.g. the sex-conversion accuracy is
   ``changed.sex.accuracy``, chance 0.5 for two sexes, and ``still_source``
   says how often the source's class is still heard); chance
   ``1 / n_classes``; and the classifier's accuracy on the unconverted
   crops (its ceiling on this data).
2. Content preservation: the log-spectral distance (dB) between each crop
   and its identity conversion (to its own labels), on the model's
   256 bins in the [-50, 50] dB range the [0, 1] map covers:
   ``mean over crops and frames of sqrt(mean over bins of (dB_in -
   dB_out)^2)``.  For scale, the same distance between the input and its
   conversions to the drawn targets is reported too.
"""
import dataclasses
import json
from pathlib import Path

import numpy as np
import yaml

from vox.base.errors import VoxError
from vox.base.labels import GROUPS


def register(sub):
    p = sub.add_parser('evaluate', help='score a StarGAN run with the '
                       'e19098ab classifier')
    p.add_argument('run', help='a StarGAN run folder')
    p.add_argument('--classifier', help='an e19098ab run folder (default: '
                   'the newest one under the same results root)')
    p.add_argument('--crops', type=int, default=3,
                   help='fixed crops per validation utterance (default 3)')
    p.add_argument('--targets', type=int, default=4,
                   help='targets drawn per crop (default 4)')
    p.add_argument('--seed', type=int, default=0,
                   help='seed of the target draw (default 0)')
    p.add_argument('--device', help="'@numpy' (default) or '@cupy:0'")
    p.set_defaults(func=main)


def find_classifier(run_dir):
    """The newest e19098ab run with a snapshot under ``run_dir``'s root."""
    from vox.training.store import snapshots
    root = Path(run_dir).resolve().parent.parent
    folder = root / 'e19098ab'
    found = []
    if folder.is_dir():
        for d in folder.iterdir():
            snaps = snapshots(d) if d.is_dir() else []
            if snaps and (d / 'config.yaml').exists():
                found.append((snaps[-1].stat().st_mtime, d))
    if not found:
        raise VoxError(
            f'no trained e19098ab classifier under {folder}; train one on '
            f'the same corpus with `make exp-e19098ab RESULTS={root}` '
            f'(PROFILE=smoke for a quick one) or give --classifier RUN')
    return max(found)[1]


def lsd_db(x, y):
    """Mean log-spectral distance (dB) between [0, 1] maps (N, 1, T, F)."""
    from vox.data import audio
    diff = (np.asarray(x, np.float64) - np.asarray(y, np.float64)) * (
        audio.DB_MAX - audio.DB_MIN)
    return float(np.sqrt((diff ** 2).mean(axis=-1)).mean())


def classify(classifier, x, device, batch_size=16):
    """(N, 3) predicted class indices of [0, 1] crops (N, 1, T, F)."""
    import chainer
    out = []
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        for i in range(0, len(x), batch_size):
            logits = classifier(device.send(x[i:i + batch_size]))
            out.append(np.stack(
                [chainer.backend.CpuDevice().send(y.array).argmax(axis=1)
                 for y in logits], axis=1))
    return np.concatenate(out).astype(np.int32)


def score(gen, classifier, x, labels, combinations, n_classes, *,
          targets_per_crop=4, seed=0, device=None):
    """Both figures for crops ``x`` (N, 1, T, F) with ``labels`` (N, 3)."""
    import chainer

    from vox.inference.conversion import convert_unit
    device = chainer.get_device(device or '@numpy')
    x = np.asarray(x, np.float32)
    labels = np.asarray(labels, np.int32)
    combinations = np.asarray(combinations, np.int32)
    rng = np.random.RandomState(seed)
    k = targets_per_crop
    idx = rng.randint(len(combinations), size=(len(x), k))
    targets = combinations[idx].reshape(-1, 3)
    sources = np.repeat(labels, k, axis=0)
    inputs = np.repeat(x, k, axis=0)
    converted = convert_unit(gen, inputs, targets, device=device)
    predicted = classify(classifier, converted, device)
    real = classify(classifier, x, device)
    identity = convert_unit(gen, x, labels, device=device)
    result = {'n_crops': int(len(x)), 'n_conversions': int(len(targets)),
              'targets_per_crop': k, 'seed': seed,
              'target_accuracy': {}, 'changed': {}, 'chance': {},
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
    result['identity_lsd_db'] = lsd_db(x, identity)
    result['conversion_lsd_db'] = lsd_db(inputs, converted)
    return result


def load_eval_data(run, crop_frames, crops):
    """Validation crops of ``crop_frames`` from the run's own corpus."""
    from vox.data.sources import load_data
    with open(run.path / 'config.yaml') as f:
        facts = (yaml.safe_load(f) or {}).get('corpus') or {}
    manifest = facts.get('manifest')
    corpus = manifest if manifest and Path(manifest).exists() else None
    config = dataclasses.replace(run.config, data=dataclasses.replace(
        run.config.data, crop_frames=crop_frames, validation_crops=crops))
    data = load_data(config.data, config.seed, corpus)
    if data.labels.names != run.labels.names:
        raise VoxError(f'{data.manifest}: its labels differ from '
                       f'{run.path}/labels.json; the run was trained on '
                       f'another corpus')
    return data


def _fmt(v):
    return 'n/a' if v is None else f'{v:.3f}'


def report(result):
    lines = [f"{'group':12s} {'target acc':>10s} {'changed acc':>11s} "
             f"{'n changed':>9s} {'still src':>9s} {'chance':>7s} "
             f"{'real acc':>8s}"]
    for g in GROUPS:
        c = result['changed'][g]
        lines.append(
            f"{g:12s} {_fmt(result['target_accuracy'][g]):>10s} "
            f"{_fmt(c['accuracy']):>11s} {c['n']:>9d} "
            f"{_fmt(c['still_source']):>9s} {_fmt(result['chance'][g]):>7s} "
            f"{_fmt(result['classifier_accuracy_real'][g]):>8s}")
    lines.append(f"sex-conversion accuracy: "
                 f"{_fmt(result['changed']['sex']['accuracy'])} over "
                 f"{result['changed']['sex']['n']} conversions to the other "
                 f"sex (chance {_fmt(result['chance']['sex'])})")
    lines.append(f"identity conversion log-spectral distance: "
                 f"{result['identity_lsd_db']:.2f} dB (to the targets: "
                 f"{result['conversion_lsd_db']:.2f} dB)")
    return '\n'.join(lines)


def main(args):
    import chainer

    from vox.training.store import load_models, load_run, newest_snapshot
    device = chainer.get_device(args.device or '@numpy')
    if args.crops < 1 or args.targets < 1:
        raise VoxError('--crops and --targets must be at least 1')
    run = load_run(args.run)
    if run.config.kind != 'stargan':
        raise VoxError(f'{run.path}: a {run.config.kind} run; give a StarGAN '
                       f'run (54314b33, cfcefd21)')
    snapshot = newest_snapshot(run.path)
    run, models = load_models(run.path, snapshot=snapshot, device=device)
    cls_dir = Path(args.classifier) if args.classifier else \
        find_classifier(run.path)
    cls_run = load_run(cls_dir)
    if cls_run.config.kind != 'classifier':
        raise VoxError(f'--classifier {cls_dir}: a {cls_run.config.kind} '
                       f'run; give an e19098ab run')
    if cls_run.labels.names != run.labels.names:
        raise VoxError(f'--classifier {cls_run.path}: trained on other '
                       f'labels than {run.path} (different corpus); train '
                       f'e19098ab on the same corpus')
    cls_snapshot = newest_snapshot(cls_run.path)
    cls_run, cls_models = load_models(cls_run.path, snapshot=cls_snapshot,
                                      device=device)
    data = load_eval_data(run, cls_run.config.data.crop_frames, args.crops)
    examples = [data.validation[i] for i in range(len(data.validation))]
    x = np.stack([e[0] for e in examples])
    labels = np.asarray([e[1:] for e in examples], np.int32)
    result = score(models['generator'], cls_models['classifier'], x, labels,
                   data.combinations, data.labels.n_classes,
                   targets_per_crop=args.targets, seed=args.seed,
                   device=device)
    result = {'run': str(run.path), 'snapshot': snapshot.name,
              'classifier_run': str(cls_run.path),
              'classifier_snapshot': cls_snapshot.name,
              'corpus': str(data.manifest),
              'crop_frames': int(x.shape[2]),
              'crops_per_utterance': args.crops, **result}
    with open(run.path / 'evaluation.json', 'w') as f:
        json.dump(result, f, indent=2)
    print(f'vox: {run.config.id} {run.path.name} ({snapshot.name}) judged by '
          f'{cls_run.path.name} ({cls_snapshot.name}) on {len(x)} '
          f'validation crops of {x.shape[2]} frames')
    print(report(result))
    print(f'vox: wrote {run.path / "evaluation.json"}')
