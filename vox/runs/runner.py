"""What every Trainer experiment shares around its recipe:
:func:`train_in_run_folder`.

Results land in ``<results>/<ID>/<run>/`` (vox/runs/folders.py) with the
resolved config, the command line, package versions and git revision,
Chainer's ``log``, the PlotReport PNGs, samples, snapshots and a summary
beside the blog's figures.  The recipe (vox/training/<kind>.py) builds the
Trainer with every extension; this module chooses and locks the folder,
loads the data, seeds, resumes, trains and writes the summary.
"""
import dataclasses
import random
import sys
import time
from pathlib import Path

import chainer
import numpy as np

from vox import cpu_fast
from vox.base.device import get_device
from vox.base.errors import Stopped, VoxError
from vox.base.files import resolved
from vox.base.labels import GROUPS
from vox.base.memory import check_fits
from vox.config import ExperimentConfig, load_config
from vox.data.sources import cache_dir, load_data
from vox.extensions.guards import StopRequested
from vox.reports.report import write_report
from vox.reports.summary import write_summary
from vox.runs.folders import (check_disk_space, check_recorded_config,
                              check_recorded_labels, choose_run_dir,
                              lock_run_dir, make_run_dir, remove_if_untrained,
                              remove_leftovers, write_run_info)
from vox.training.registry import trainer_module
from vox.training.store import snapshots


def seed_everything(seed, device):
    """Initialisation draws from NumPy's global generator (and CuPy's)."""
    random.seed(seed)
    np.random.seed(seed)
    if device.xp.__name__ == 'cupy':
        device.xp.random.seed(seed)


def run(exp_id, profile=None, device=None, corpus=None, run_name=None,
        results=None, argv=None, fresh=False, resume=None, recipe=None):
    """Trains experiment ``exp_id`` (an ID or a config.yaml, or a loaded
    ExperimentConfig) with ``recipe`` (default: its kind's, from
    vox/training/registry.py); returns the run folder."""
    config = exp_id if isinstance(exp_id, ExperimentConfig) else \
        load_config(exp_id, profile)
    if not isinstance(config, ExperimentConfig):
        raise VoxError(f'{exp_id}: a {config.kind} experiment, not one '
                       f'trained by a Trainer')
    return train_in_run_folder(
        recipe_of(config, recipe), config, device=device, corpus=corpus,
        run_name=run_name, results=results, argv=argv, fresh=fresh,
        resume=resume)


def recipe_of(config, recipe=None):
    """The recipe for ``config``: its kind's, which ``recipe`` (an entry
    script's) must be."""
    kinds = trainer_module(config.kind, config.id)
    if recipe is not None and recipe is not kinds:
        raise VoxError(f'{config.id}: a {config.kind} experiment; its entry '
                       f'script names the recipe {recipe.__name__}, not '
                       f'{kinds.__name__}')
    return kinds


def train_in_run_folder(recipe, config, device=None, corpus=None,
                        run_name=None, results=None, argv=None, fresh=False,
                        resume=None):
    """Everything a Trainer experiment does around its recipe: choose,
    create and lock the run folder (resuming its newest snapshot unless
    ``fresh``; ``resume``: a snapshot file), load the data, seed, build the
    Trainer with ``recipe.build_trainer``, record the provenance, train,
    write the summary and report.  Returns the run folder."""
    # vox's CPU kernels for Chainer's (VOX_CHAINER_CPU_FAST=0: Chainer's
    # own); environment.json records which.
    cpu_fast.install_for_run()
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
                return _train(recipe, config, device, run_dir, snapshot,
                              what, corpus, argv)
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


def announce(config, data, device, run_dir, what):
    print(f'vox: {config.id} ({config.profile}): {what} in {run_dir}')
    print(f'vox: corpus {data.manifest} classes '
          f'{data.labels.n_classes}, {len(data.train)} training / '
          f'{len(data.validation)} validation crops, device {device}')


def train(trainer, say=True):
    """``trainer.run()``; Ctrl-C or SIGTERM (GracefulStop) as Stopped,
    with the message only if ``say`` (a distributed run: rank 0)."""
    try:
        trainer.run(show_loop_exception_msg=False)
    except StopRequested as e:
        # Not finished: a non-zero status (128 + the signal, as the shell
        # gives) keeps `make exp-X && next-step` from going on.
        raise Stopped(f'{e}; rerun the same command to resume' if say
                      else '', 128 + e.signum) from None


def _train(recipe, config, device, run_dir, snapshot, what, corpus, argv):
    """Trains in ``run_dir`` (created and locked)."""
    # The folder's record and the snapshot are checked against this config
    # before anything is written: a mismatched resume writes nothing.
    check_recorded_config(run_dir, config)
    data = load_data(config.data, config.seed, corpus)
    check_label_space(data.labels, config.kind)
    check_batch_size(config, data)
    check_models_fit(config, data.labels.n_classes)
    check_recorded_labels(run_dir, data.labels)
    announce(config, data, device, run_dir, what)
    seed_everything(config.seed, device)
    trainer = recipe.build_trainer(config, data, run_dir, device)
    # The snapshot to resume from, RESUME= or else the newest one in the
    # folder that loads, is loaded here, before trainer.run, which is why
    # the recipes' snapshot extension has no autoload.  Chainer's autoload
    # happens inside trainer.run, in the snapshot extension's initialize
    # at priority -100, after extensions of higher priority have
    # initialised from their fresh state: ExponentialShift sets the
    # optimizer's lr from its not-yet-loaded schedule (the lr itself is
    # not in the snapshot), so a resumed cfcefd21 would train with the
    # undecayed lr until the next decay.
    check_disk_space(run_dir, trainer, config.report.snapshots_kept)
    snapshot = load_snapshot(trainer, config, run_dir, snapshot)
    if snapshot is not None:
        print(f'vox: resumed from {Path(snapshot).name} (iteration '
              f'{trainer.updater.iteration})', flush=True)
    write_run_info(run_dir, config, data, device, argv or sys.argv)
    start = time.time()
    train(trainer)
    write_summary(run_dir, config, trainer, time.time() - start)
    write_report(run_dir)
    return run_dir
