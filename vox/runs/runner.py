"""Runs an experiment by ID: corpus -> features -> run folder -> trainer.

Results land in ``<results>/<ID>/<run>/`` with the resolved config, the
command line, package versions and git revision, Chainer's ``log``, the
PlotReport PNGs, samples, snapshots and a summary beside the blog's figures.
"""
import dataclasses
import datetime
import fcntl
import importlib
import importlib.metadata
import io
import json
import os
import platform
import random
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import chainer
import numpy as np
import yaml

from vox.data import dataset as ds
from vox.config import config_path, load_config, load_raw, to_dict
from vox.data.corpus.manifest import read_manifest
from vox.base.device import get_device
from vox.base.errors import VoxError
from vox.data.features import load_features
from vox.training.distributed import current as current_parallel

REPO = Path(__file__).resolve().parent.parent.parent

# experiment kind -> module with build_trainer(config, data, run_dir, device),
# build_models(config, n_classes) and SNAPSHOT_PATHS (see vox/training/store.py)
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
    """CORPUS=synth | manifest.tsv | a folder holding manifest.tsv |
    kind:path (vox/data/corpus/readers.py; a manifest is written to the cache)."""
    source = source or config.data.corpus.source
    if source == 'synth':
        from vox.data.corpus.synth import CorpusSpec, ensure_corpus
        c = config.data.corpus
        spec = CorpusSpec(seed=config.seed, birthplaces=c.birthplaces,
                          speakers_per_cell=c.speakers_per_cell,
                          utterances_per_speaker=c.utterances_per_speaker)
        return ensure_corpus(cache_dir() / 'corpus', spec)
    from vox.data.corpus import readers  # jvs/vctk/csj/CSV: manifest in cache
    kind, rest = readers.split_spec(source)
    if kind in ('jvs', 'vctk', 'csj') or (kind is None and readers.detect(
            rest) not in (None, 'manifest')) or str(rest).lower().endswith(
            '.csv'):
        return readers.manifest_for(source, cache_dir())[0]
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


def results_root(results):
    return Path(results or os.environ.get('VOX_RESULTS', REPO / 'results'))


def _profile_of(run_dir):
    try:
        with open(run_dir / 'config.yaml') as f:
            return (yaml.safe_load(f) or {}).get('profile')
    except OSError:
        return None


def unfinished_runs(results, exp_id, profile):
    """Run folders of this ID and profile with snapshots but no summary."""
    runs = []
    for d in (results_root(results) / exp_id).glob('*'):
        if d.is_dir() and not (d / 'summary.json').exists() \
                and any(d.glob('snapshot_iter_*')) \
                and _profile_of(d) == (profile or 'faithful'):
            runs.append(d)
    return sorted(runs, key=lambda d: d.stat().st_mtime)


def choose_run_dir(results, exp_id, run_name, profile, fresh=False,
                   resume=None):
    """(run folder, snapshot to resume from or None, what happens, in words).

    RESUME=snapshot continues in that snapshot's folder; RUN=name uses (and
    resumes) that folder; otherwise the newest unfinished run of the same
    ID and profile is resumed unless FRESH=1; a new folder gets a timestamp.
    """
    if resume:
        snapshot = Path(resume)
        if not snapshot.is_file():
            raise VoxError(f'RESUME={resume}: no such snapshot file')
        return snapshot.parent, snapshot, f'resuming from {snapshot}'
    base = results_root(results) / exp_id
    if run_name:
        run_dir = base / run_name
        if any(run_dir.glob('snapshot_iter_*')):
            return run_dir, None, f'resuming run {run_name}'
        return run_dir, None, f'starting run {run_name}'
    if not fresh:
        previous = unfinished_runs(results, exp_id, profile)
        if previous:
            return previous[-1], None, (
                f'resuming the unfinished run {previous[-1].name} '
                f'(FRESH=1 starts a new one)')
    run_dir = new_run_dir(base, profile)
    return run_dir, None, f'starting run {run_dir.name}'


def new_run_dir(base, profile):
    """``base/<timestamp>[-profile][-n]``: a folder no other run has."""
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    name = stamp if profile in (None, 'faithful') else f'{stamp}-{profile}'
    run_dir, n = base / name, 1
    while run_dir.exists():  # two runs never share a folder
        n += 1
        run_dir = base / f'{name}-{n}'
    return run_dir


def make_run_dir(run_dir):
    """Creates the folder and proves it is writable before any training."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        probe = run_dir / '.write-test'
        probe.write_text('ok')
        probe.unlink()
    except OSError as e:
        raise VoxError(f'cannot write results into {run_dir}: {e.strerror}; '
                       f'choose another folder with RESULTS=dir') from None
    for leftover in run_dir.glob('tmpsnapshot_iter_*'):
        shutil.rmtree(leftover, ignore_errors=True)  # a write cut by a kill
    return run_dir


def lock_run_dir(run_dir):
    """Holds an exclusive lock for the process's lifetime."""
    handle = open(run_dir / '.lock', 'w')
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise VoxError(f'{run_dir} is in use by another vox process; wait '
                       f'for it or give another RUN=name') from None
    return handle


def check_disk_space(run_dir, trainer, snapshots_kept):
    """Refuses to start when the snapshots cannot fit on the disk."""
    n_bytes = 0
    for opt in trainer.updater.get_all_optimizers().values():
        n_bytes += sum(p.size * p.dtype.itemsize
                       for p in opt.target.params() if p.array is not None)
    # parameters + RMSprop state + BatchNorm statistics, per snapshot
    needed = 2.2 * n_bytes * (snapshots_kept + 1) + 50 * 2 ** 20
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise VoxError(
            f'{run_dir}: {free / 2 ** 20:.0f} MiB free but the snapshots '
            f'need about {needed / 2 ** 20:.0f} MiB; free some space or use '
            f'RESULTS=dir on a larger disk')


def seed_everything(seed, device):
    """Initialisation draws from NumPy's global generator (and CuPy's)."""
    random.seed(seed)
    np.random.seed(seed)
    if device.xp.__name__ == 'cupy':
        device.xp.random.seed(seed)


def write_provenance(run_dir, resolved, device, argv):
    """config.yaml (the resolved config, as a dict), command.txt and
    environment.json: what every run folder needs to be rerun."""
    with open(run_dir / 'config.yaml', 'w') as f:
        yaml.safe_dump(resolved, f, sort_keys=False)
    (run_dir / 'command.txt').write_text(
        ' '.join(shlex.quote(a) for a in argv) + '\n')
    with open(run_dir / 'environment.json', 'w') as f:
        json.dump(environment(device), f, indent=2)


def write_run_info(run_dir, config, data, device, argv):
    resolved = to_dict(config)
    resolved['corpus'] = {'manifest': str(data.manifest),
                          'n_classes': list(data.labels.n_classes),
                          'train_crops': len(data.train),
                          'validation_crops': len(data.validation)}
    write_provenance(run_dir, resolved, device, argv)
    with open(run_dir / 'labels.json', 'w') as f:
        json.dump(data.labels.names, f, indent=1)


def attach_guards(trainer, data, config, parallel=None):
    parallel = parallel or current_parallel()
    from vox.extensions.guards import (GracefulStop, NonFiniteGuard,
                                       RandomStates, RememberingConverter)
    from chainer.training import extensions
    updater = trainer.updater
    updater.converter = RememberingConverter(updater.converter)
    batch_file = 'nonfinite_batch_iter_{iteration}' + (
        f'_rank{parallel.rank}.npz' if parallel.size > 1 else '.npz')
    trainer.extend(NonFiniteGuard(updater.converter, batch_file))
    trainer.extend(RandomStates({'crops': data.train.rng,
                                 'order': data.order_rng}))
    stop_snapshot = extensions.snapshot(
        filename='snapshot_iter_{.updater.iteration}',
        n_retains=config.report.snapshots_kept)
    if not parallel.is_writer:
        def stop_snapshot(trainer):  # rank 0 writes the run folder
            pass
    trainer.extend(GracefulStop(stop_snapshot, agree=parallel.any))


def run(exp_id, profile=None, device=None, corpus=None, run_name=None,
        results=None, argv=None, fresh=False, resume=None, input_wav=None,
        distributed=False, communicator=None):
    path = Path(exp_id) if Path(exp_id).suffix else config_path(exp_id)
    if load_raw(path).get('kind') == 'blurmask':  # not a Trainer experiment
        if distributed:
            raise VoxError(f'{exp_id}: --distributed is for trained '
                           f'experiments; blur-mask runs are one process')
        from vox.blurmask.run import run as run_blurmask
        return run_blurmask(exp_id, profile, device, corpus, run_name,
                            results, argv, input_wav)
    if input_wav:
        raise VoxError(f'--input is for blurmask experiments only, not '
                       f'{exp_id}')
    config = load_config(exp_id, profile)
    if config.kind not in TRAINERS:
        raise VoxError(f'{exp_id}: unknown experiment kind {config.kind!r}')
    if distributed:
        from vox.runs.distributed import run_distributed  # imports us
        return run_distributed(config, profile, device, corpus, run_name,
                               results, argv, fresh, resume, communicator)
    device = get_device(device)
    run_dir, snapshot, what = choose_run_dir(
        results, config.id, run_name, profile, fresh, resume)
    make_run_dir(run_dir)
    with lock_run_dir(run_dir):
        return _train(config, device, run_dir, snapshot, what, corpus, argv)


def _train(config, device, run_dir, snapshot, what, corpus, argv,
           parallel=None, notes=None):
    """Trains in ``run_dir``; ``parallel``: this rank's hooks in a
    distributed run (vox/runs/distributed.py), where every rank runs this
    and only rank 0 writes; ``notes(data)``: lines it prints at start-up."""
    parallel = parallel or current_parallel()
    writer = parallel.is_writer
    if writer:
        data = load_data(config, corpus)  # builds any cache first
    parallel.broadcast(None)
    if not writer:
        data = load_data(config, corpus)
    if writer:
        write_run_info(run_dir, config, data, device, argv or sys.argv)
        print(f'vox: {config.id} ({config.profile}): {what} in {run_dir}')
        print(f'vox: corpus {data.manifest} classes '
              f'{data.labels.n_classes}, {len(data.train)} training / '
              f'{len(data.validation)} validation crops, device {device}')
        for line in (notes(data) if notes else []):
            print(f'vox: {line}')
    seed_everything(config.seed, device)
    module = importlib.import_module(TRAINERS[config.kind])
    trainer = module.build_trainer(config, data, run_dir, device)
    attach_guards(trainer, data, config, parallel)
    if writer:
        check_disk_space(run_dir, trainer, config.report.snapshots_kept)
        # The snapshot to resume from, RESUME= or else the newest one in
        # the folder (what the snapshot extension's autoload would pick),
        # is loaded here, before trainer.run.  Chainer's autoload happens
        # inside trainer.run, in the snapshot extension's initialize at
        # priority -100, after extensions of higher priority have
        # initialised from their fresh state: ExponentialShift sets the
        # optimizer's lr from its not-yet-loaded schedule (the lr itself is
        # not in the snapshot), so a resumed cfcefd21 trained with the
        # undecayed lr until the next decay.
        trainer.get_extension('snapshot').autoload = False
        if snapshot is None:
            from vox.training.store import snapshots  # complete ones
            found = snapshots(run_dir)
            snapshot = found[-1] if found else None
    snapshot = parallel.broadcast(snapshot)
    if snapshot is not None:
        # Every rank loads the same bytes, read by rank 0 (other machines
        # need not see the run folder).
        if parallel.size == 1:
            chainer.serializers.load_npz(str(snapshot), trainer)
        else:
            blob = parallel.broadcast(
                Path(snapshot).read_bytes() if writer else None)
            chainer.serializers.load_npz(io.BytesIO(blob), trainer)
        if writer:
            print(f'vox: resumed from {Path(snapshot).name} (iteration '
                  f'{trainer.updater.iteration})', flush=True)
    from vox.extensions.guards import StopRequested
    start = time.time()
    try:
        trainer.run(show_loop_exception_msg=False)
    except StopRequested as e:
        if writer:
            print(f'vox: {e}; rerun the same command to resume',
                  file=sys.stderr)
        return run_dir
    if writer:
        from vox.reports.summary import write_summary
        write_summary(run_dir, config, trainer, time.time() - start)
        from vox.reports.report import write_report
        write_report(run_dir)
    return run_dir
