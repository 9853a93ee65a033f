"""Runs an experiment by ID: corpus -> features -> run folder -> trainer.

Results land in ``<results>/<ID>/<run>/`` with the resolved config, the
command line, package versions and git revision, Chainer's ``log``, the
PlotReport PNGs, samples, snapshots and a summary beside the blog's figures.
"""
import dataclasses
import datetime
import importlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import yaml

from vox import dataset as ds
from vox.config import load_config, to_dict
from vox.corpus.manifest import read_manifest
from vox.device import get_device
from vox.errors import VoxError
from vox.features import load_features

REPO = Path(__file__).resolve().parent.parent

# experiment kind -> module with build_trainer(config, data, run_dir, device),
# build_models(config, n_classes) and SNAPSHOT_PATHS (see vox/runs.py)
TRAINERS = {
    'classifier': 'vox.training.classifier',
    'autoencoder': 'vox.training.autoencoder',
    'stargan': 'vox.training.stargan',
}


def cache_dir():
    return Path(os.environ.get('VOX_CACHE', REPO / 'cache'))


@dataclasses.dataclass
class ExperimentData:
    labels: ds.LabelSpace
    train: ds.SpectrogramCropDataset
    validation: ds.SpectrogramCropDataset
    combinations: np.ndarray      # real (speaker, birthplace, sex) rows
    order_rng: np.random.RandomState
    manifest: Path


def resolve_corpus(source, config):
    """CORPUS=synth | manifest.tsv | a folder holding manifest.tsv."""
    source = source or config.data.corpus.source
    if source == 'synth':
        from vox.corpus.synth import CorpusSpec, ensure_corpus
        c = config.data.corpus
        spec = CorpusSpec(seed=config.seed, birthplaces=c.birthplaces,
                          speakers_per_cell=c.speakers_per_cell,
                          utterances_per_speaker=c.utterances_per_speaker)
        return ensure_corpus(cache_dir() / 'corpus', spec)
    if source.startswith('manifest:'):
        source = source[len('manifest:'):]
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / 'manifest.tsv'
    if not path.exists():
        raise VoxError(
            f'CORPUS={source}: no such manifest; give a manifest.tsv '
            f'(columns path, speaker, birthplace, sex), a folder holding '
            f'one, or CORPUS=synth for the built-in corpus')
    return path


def load_data(config, corpus=None):
    manifest = resolve_corpus(corpus, config)
    try:
        utterances = read_manifest(manifest)
    except ValueError as e:
        raise VoxError(str(e)) from None
    labels = ds.LabelSpace.from_utterances(utterances)
    train_utts, val_utts = ds.split_by_utterance(
        utterances, config.data.validation_fraction, config.seed)
    features = load_features(train_utts + val_utts, cache_dir())
    train_f, val_f = features[:len(train_utts)], features[len(train_utts):]
    d = config.data
    train = ds.SpectrogramCropDataset(
        train_f, labels, d.crop_frames, d.scale, train=True,
        seed=config.seed, min_voiced=d.min_voiced)
    validation = ds.SpectrogramCropDataset(
        val_f, labels, d.crop_frames, d.scale, train=False,
        min_voiced=d.min_voiced, validation_crops=d.validation_crops)
    short = train.too_short + validation.too_short
    if short:
        print(f'vox: skipped {len(short)} utterance(s) shorter than '
              f'{d.crop_frames} frames, e.g. {short[0].path}', file=sys.stderr)
    if len(train) == 0 or len(validation) == 0:
        raise VoxError(
            f'{manifest}: not enough usable audio ({len(train)} training, '
            f'{len(validation)} validation crops of {d.crop_frames} frames); '
            f'each speaker needs at least two utterances of '
            f'{d.crop_frames * 256 / 16000:.1f} s or more')
    return ExperimentData(labels, train, validation,
                          labels.combinations(utterances),
                          np.random.RandomState(config.seed), manifest)


def git_revision():
    try:
        rev = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO,
                             capture_output=True, text=True, check=True)
        dirty = subprocess.run(['git', 'status', '--porcelain'], cwd=REPO,
                               capture_output=True, text=True).stdout.strip()
        return rev.stdout.strip() + ('-dirty' if dirty else '')
    except Exception:
        return 'unknown'


def environment(device):
    versions = {}
    for pkg in ('chainer', 'numpy', 'scipy', 'pyworld', 'soundfile',
                'matplotlib', 'pyyaml', 'cupy-cuda12x', 'cupy-cuda13x'):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {'python': platform.python_version(), 'platform':
            platform.platform(), 'processor': platform.processor(),
            'cpu_count': os.cpu_count(), 'device': str(device),
            'packages': versions, 'git_revision': git_revision()}


def make_run_dir(results, exp_id, run_name, profile):
    results = Path(results or os.environ.get('VOX_RESULTS', REPO / 'results'))
    if not run_name:
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        run_name = stamp if profile in (None, 'faithful') \
            else f'{stamp}-{profile}'
    run_dir = results / exp_id / run_name
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / '.write-test'
        probe.write_text('ok')
        probe.unlink()
    except OSError as e:
        raise VoxError(f'cannot write results into {run_dir}: {e.strerror}; '
                       f'choose another folder with RESULTS=dir') from None
    return run_dir


def write_run_info(run_dir, config, data, device, argv):
    resolved = to_dict(config)
    resolved['corpus'] = {'manifest': str(data.manifest),
                          'n_classes': list(data.labels.n_classes),
                          'train_crops': len(data.train),
                          'validation_crops': len(data.validation)}
    with open(run_dir / 'config.yaml', 'w') as f:
        yaml.safe_dump(resolved, f, sort_keys=False)
    (run_dir / 'command.txt').write_text(
        ' '.join(shlex.quote(a) for a in argv) + '\n')
    with open(run_dir / 'environment.json', 'w') as f:
        json.dump(environment(device), f, indent=2)
    with open(run_dir / 'labels.json', 'w') as f:
        json.dump(data.labels.names, f, indent=1)


def run(exp_id, profile=None, device=None, corpus=None, run_name=None,
        results=None, argv=None):
    config = load_config(exp_id, profile)
    if config.kind not in TRAINERS:
        raise VoxError(f'{exp_id}: unknown experiment kind {config.kind!r}')
    device = get_device(device)
    data = load_data(config, corpus)
    run_dir = make_run_dir(results, exp_id, run_name, profile)
    write_run_info(run_dir, config, data, device, argv or sys.argv)
    print(f'vox: {exp_id} ({config.profile}) -> {run_dir}')
    print(f'vox: corpus {data.manifest} classes {data.labels.n_classes}, '
          f'{len(data.train)} training / {len(data.validation)} validation '
          f'crops, device {device}')
    module = importlib.import_module(TRAINERS[config.kind])
    trainer = module.build_trainer(config, data, run_dir, device)
    start = time.time()
    trainer.run()
    from vox.summary import write_summary
    write_summary(run_dir, config, trainer, time.time() - start)
    return run_dir
