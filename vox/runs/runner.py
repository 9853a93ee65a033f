"""Runs a Trainer experiment: corpus -> features -> run folder -> trainer.

Results land in ``<results>/<ID>/<run>/`` (vox/runs/folders.py) with the
resolved config, the command line, package versions and git revision,
Chainer's ``log``, the PlotReport PNGs, samples, snapshots and a summary
beside the blog's figures.  This module is the run loop around the
Trainer: seeding, the guards, resuming and what is written at the end.
"""
import dataclasses
import io
import random
import sys
import time
from pathlib import Path

import chainer
import numpy as np
from chainer.training import extensions

from vox.base.device import get_device
from vox.base.errors import Stopped, VoxError
from vox.base.files import resolved
from vox.base.labels import GROUPS
from vox.base.memory import check_fits
from vox.base.npz import save_npz
from vox.config import ExperimentConfig, load_config
from vox.data.sources import cache_dir, load_data
from vox.extensions.guards import (GracefulStop, NonFiniteGuard,
                                   RandomStates, RememberingConverter,
                                   StopRequested)
from vox.reports.report import write_report
from vox.reports.summary import write_summary
from vox.runs.folders import (check_disk_space, check_recorded_config,
                              check_recorded_labels, choose_run_dir,
                              lock_run_dir, make_run_dir, remove_if_untrained,
                              remove_leftovers, write_run_info)
from vox.training.distributed import current as current_parallel
from vox.training.registry import trainer_module
from vox.training.store import snapshots


def seed_everything(seed, device):
    """Initialisation draws from NumPy's global generator (and CuPy's)."""
    random.seed(seed)
    np.random.seed(seed)
    if device.xp.__name__ == 'cupy':
        device.xp.random.seed(seed)


def attach_guards(trainer, data, config, parallel=None):
    """NonFiniteGuard, RandomStates and GracefulStop; in a distributed run
    (``parallel``, default: this process's) each rank saves its own
    non-finite batch, only rank 0 writes the stop snapshot and every rank
    stops at the same iteration."""
    parallel = parallel or current_parallel()
    updater = trainer.updater
    updater.converter = RememberingConverter(updater.converter)
    batch_file = 'nonfinite_batch_iter_{iteration}' + (
        f'_rank{parallel.rank}.npz' if parallel.size > 1 else '.npz')
    trainer.extend(NonFiniteGuard(updater.converter, batch_file))
    trainer.extend(RandomStates({'crops': data.train.rng,
                                 'order': data.order_rng}))
    stop_snapshot = extensions.snapshot(
        filename='snapshot_iter_{.updater.iteration}',
        n_retains=config.report.snapshots_kept, savefun=save_npz)
    if not parallel.is_writer:
        def stop_snapshot(trainer):  # rank 0 writes the run folder
            pass
    trainer.extend(GracefulStop(stop_snapshot, agree=parallel.any))


def run(exp_id, profile=None, device=None, corpus=None, run_name=None,
        results=None, argv=None, fresh=False, resume=None):
    """Trains experiment ``exp_id`` (an ID or a config.yaml, or a loaded
    ExperimentConfig); returns the run folder."""
    config = exp_id if isinstance(exp_id, ExperimentConfig) else \
        load_config(exp_id, profile)
    if not isinstance(config, ExperimentConfig):
        raise VoxError(f'{exp_id}: a {config.kind} experiment, not one '
                       f'trained by a Trainer')
    trainer_module(config.kind, config.id)
    device = get_device(device)
    run_dir, snapshot, what = choose_run_dir(
        results, config.id, run_name, config.profile, fresh, resume)
    created = [d for d in (run_dir, run_dir.parent) if not d.exists()]
    make_run_dir(run_dir)
    try:
        # Nothing in the folder is touched before the lock is held: a second
        # launch on a running job's folder must leave it as it is.
        with lock_run_dir(run_dir):
            try:
                remove_leftovers(run_dir)
                return _train(config, device, run_dir, snapshot, what,
                              corpus, argv)
            except BaseException:
                remove_if_untrained(created)  # no empty run folder left
                raise
    except OSError as e:
        raise disk_error(e, run_dir) from None


def disk_error(e, run_dir):
    """A file-system failure during a run (a full disk, a cache deleted
    meanwhile), as one line naming the path and how to go on."""
    where = e.filename or run_dir
    cache = cache_dir()
    if is_under(where, cache):  # not the run folder's disk: say which
        return VoxError(f'{where}: {e.strerror or e}; that is the cache '
                        f'({cache}, VOX_CACHE): free space on its disk (or '
                        f'set VOX_CACHE to a folder on a larger one) and '
                        f'rerun the same command')
    found = snapshots(run_dir) if run_dir.is_dir() else []
    resume = (f'{found[-1].name} is kept; free space (or fix the folder) and '
              f'rerun the same command to resume from it' if found else
              'free space (or fix the folder) and rerun the same command')
    return VoxError(f'{where}: {e.strerror or e}; {resume}')


def is_under(path, folder):
    try:
        return resolved(path).is_relative_to(resolved(folder))
    except (TypeError, ValueError):
        return False


def check_label_space(labels, kind):
    """Says at start-up which label groups have a single class (their heads
    are trivial); refuses a StarGAN with one speaker: nothing to convert."""
    single = [(g, labels.names[g][0]) for g in GROUPS
              if len(labels.names[g]) == 1]
    if kind == 'stargan' and any(g == 'speaker' for g, _ in single):
        raise VoxError(
            f'the corpus has one speaker ({labels.names["speaker"][0]}): a '
            f'StarGAN converts between speakers and needs two or more; give '
            f'a corpus with several speakers')
    for group, name in single:
        print(f'vox: warning: the corpus has a single {group} ({name}): '
              + ('the AutoEncoder does not use labels' if kind ==
                 'autoencoder' else f'the {group} head is trivial (always '
                 f'right, nothing to learn)') + '; training anyway',
              file=sys.stderr)


#: Bytes a float32 parameter costs in training: itself, its gradient, the
#: optimizer's state (RMSprop's running mean square) and a copy in flight.
BYTES_PER_PARAMETER = 16
#: Widths the parameter count is measured at (small: they build in well
#: under a second) to extrapolate to a width above 1.
PROBE_WIDTHS = (1 / 16, 1 / 8, 1 / 4)


def check_models_fit(config, n_classes):
    """Refuses a ``width`` whose models would not fit in memory, before
    they are built.  Hidden channels scale with the width, so parameters
    grow with its square: counted at three small widths, the exact
    quadratic through them gives the count at the width asked for."""
    sections = {k: getattr(config, k) for k in
                ('model', 'generator', 'discriminator')
                if getattr(config, k) is not None}
    widest = max(m.width for m in sections.values())
    if widest <= 1:
        return
    counts = []
    for w in PROBE_WIDTHS:
        small = dataclasses.replace(config, **{
            k: dataclasses.replace(m, width=m.width * w / widest)
            for k, m in sections.items()})
        models = trainer_module(config.kind).build_models(small, n_classes)
        counts.append(sum(p.size or 0 for link in models.values()
                          for p in link.params()))
    quadratic = np.polyfit(PROBE_WIDTHS, counts, 2)
    params = max(counts[-1], float(np.polyval(quadratic, widest)))
    names = ', '.join(f'{k}.width {m.width:g}' for k, m in sections.items())
    check_fits(params * BYTES_PER_PARAMETER,
               f'{names}: about {params:.3g} parameters',
               'lower the width (1 is the blog\'s model)')


def check_batch_size(config, data):
    """A batch larger than the training set would only repeat crops (and a
    huge one is killed for memory with nothing printed)."""
    n, b = len(data.train), config.train.batch_size
    if b > n:
        raise VoxError(
            f'train.batch_size {b} is larger than the {n} training crops of '
            f'{data.manifest}; lower train.batch_size to {n} or less, or '
            f'use a larger corpus')


def snapshot_problem(path):
    """Why ``path`` is not a readable snapshot, or None.  Every array is
    read (zip CRCs checked) before any of it goes into the trainer."""
    try:
        with np.load(str(path)) as z:
            for name in z.files:
                z[name]
    except Exception as e:  # truncated, not a zip, bad CRC, ...
        return str(e).splitlines()[0] if str(e) else type(e).__name__
    return None


def load_snapshot(trainer, config, run_dir, snapshot):
    """Loads RESUME= (``snapshot``) or else the newest snapshot in the
    folder that loads (saying which it skipped); returns it or None."""
    candidates = [Path(snapshot)] if snapshot is not None \
        else snapshots(run_dir)[::-1]
    skipped = []
    for path in candidates:
        problem = snapshot_problem(path)
        if problem:
            skipped.append(f'{path.name} ({problem})')
            continue
        try:
            chainer.serializers.load_npz(str(path), trainer)
        except (KeyError, ValueError) as e:
            problem = (f'not a snapshot of {config.id} ({config.profile}): '
                       f'{str(e).splitlines()[0]}')
            if snapshot is None:  # the folder's own: an older one may do
                skipped.append(f'{path.name} ({problem})')
                continue
            raise VoxError(f'{path}: {problem}; give a snapshot of this '
                           f'experiment and profile, or another RUN=name'
                           ) from None
        if skipped:
            print(f'vox: warning: {"; ".join(skipped)} does not load; '
                  f'resuming from the newest one that does, {path.name}',
                  file=sys.stderr)
        return path
    if skipped:
        raise VoxError(f'no snapshot in {run_dir} loads: {"; ".join(skipped)}'
                       f'; delete them to start over, or give another '
                       f'RUN=name')
    return None


def _train(config, device, run_dir, snapshot, what, corpus, argv,
           parallel=None, notes=None):
    """Trains in ``run_dir``; ``parallel``: this rank's hooks in a
    distributed run (vox/runs/distributed.py), where every rank runs this
    and only rank 0 reads and writes the folder; ``notes(data)``: lines it
    prints at start-up."""
    parallel = parallel or current_parallel()
    writer = parallel.is_writer
    # The folder's record and the snapshot are checked against this config
    # before anything is written: a mismatched resume writes nothing.
    if writer:
        check_recorded_config(run_dir, config)
        data = load_data(config.data, config.seed, corpus)  # cache first
    parallel.broadcast(None)
    if not writer:
        data = load_data(config.data, config.seed, corpus)
    if writer:
        check_label_space(data.labels, config.kind)
    check_batch_size(config, data)
    check_models_fit(config, data.labels.n_classes)
    if writer:
        check_recorded_labels(run_dir, data.labels)
        print(f'vox: {config.id} ({config.profile}): {what} in {run_dir}')
        print(f'vox: corpus {data.manifest} classes '
              f'{data.labels.n_classes}, {len(data.train)} training / '
              f'{len(data.validation)} validation crops, device {device}')
        for line in (notes(data) if notes else []):
            print(f'vox: {line}')
    seed_everything(config.seed, device)
    trainer = trainer_module(config.kind).build_trainer(
        config, data, run_dir, device)
    attach_guards(trainer, data, config, parallel)
    # The snapshot to resume from, RESUME= or else the newest one in the
    # folder that loads, is loaded here, before trainer.run, which is why
    # the snapshot extension has no autoload (vox/training/common.py).
    # Chainer's autoload happens inside trainer.run, in the snapshot
    # extension's initialize at priority -100, after extensions of higher
    # priority have initialised from their fresh state: ExponentialShift
    # sets the optimizer's lr from its not-yet-loaded schedule (the lr
    # itself is not in the snapshot), so a resumed cfcefd21 trained with
    # the undecayed lr until the next decay.
    if writer:
        check_disk_space(run_dir, trainer, config.report.snapshots_kept)
        snapshot = load_snapshot(trainer, config, run_dir, snapshot)
    snapshot = parallel.broadcast(snapshot)
    if snapshot is not None and parallel.size > 1:
        # The other ranks load rank 0's bytes: no shared folder needed.
        blob = parallel.broadcast(
            Path(snapshot).read_bytes() if writer else None)
        if not writer:
            chainer.serializers.load_npz(io.BytesIO(blob), trainer)
    if writer:
        if snapshot is not None:
            print(f'vox: resumed from {Path(snapshot).name} (iteration '
                  f'{trainer.updater.iteration})', flush=True)
        write_run_info(run_dir, config, data, device, argv or sys.argv)
    start = time.time()
    try:
        trainer.run(show_loop_exception_msg=False)
    except StopRequested as e:
        # Not finished: a non-zero status (128 + the signal, as the shell
        # gives) keeps `make exp-X && next-step` from going on.
        # Every rank stops; rank 0 alone says so.
        raise Stopped(f'{e}; rerun the same command to resume' if writer
                      else '', 128 + e.signum) from None
    if writer:
        write_summary(run_dir, config, trainer, time.time() - start)
        write_report(run_dir)
    return run_dir
