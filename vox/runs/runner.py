"""Runs a Trainer experiment: corpus -> features -> run folder -> trainer.

Results land in ``<results>/<ID>/<run>/`` (vox/runs/folders.py) with the
resolved config, the command line, package versions and git revision,
Chainer's ``log``, the PlotReport PNGs, samples, snapshots and a summary
beside the blog's figures.  This module is the run loop around the
Trainer: seeding, the guards, resuming and what is written at the end.
"""
import random
import sys
import time
from pathlib import Path

import chainer
import numpy as np
from chainer.training import extensions

from vox.base.device import get_device
from vox.base.errors import VoxError
from vox.config import ExperimentConfig, load_config
from vox.data.sources import load_data
from vox.extensions.guards import (GracefulStop, NonFiniteGuard,
                                   RandomStates, RememberingConverter,
                                   StopRequested)
from vox.reports.report import write_report
from vox.reports.summary import write_summary
from vox.runs.folders import (check_disk_space, choose_run_dir, lock_run_dir,
                              make_run_dir, write_run_info)
from vox.training.registry import trainer_module
from vox.training.store import snapshots


def seed_everything(seed, device):
    """Initialisation draws from NumPy's global generator (and CuPy's)."""
    random.seed(seed)
    np.random.seed(seed)
    if device.xp.__name__ == 'cupy':
        device.xp.random.seed(seed)


def attach_guards(trainer, data, config):
    updater = trainer.updater
    updater.converter = RememberingConverter(updater.converter)
    trainer.extend(NonFiniteGuard(updater.converter))
    trainer.extend(RandomStates({'crops': data.train.rng,
                                 'order': data.order_rng}))
    stop_snapshot = extensions.snapshot(
        filename='snapshot_iter_{.updater.iteration}',
        n_retains=config.report.snapshots_kept)
    trainer.extend(GracefulStop(stop_snapshot))


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
    make_run_dir(run_dir)
    with lock_run_dir(run_dir):
        return _train(config, device, run_dir, snapshot, what, corpus, argv)


def _train(config, device, run_dir, snapshot, what, corpus, argv):
    data = load_data(config.data, config.seed, corpus)
    write_run_info(run_dir, config, data, device, argv or sys.argv)
    print(f'vox: {config.id} ({config.profile}): {what} in {run_dir}')
    print(f'vox: corpus {data.manifest} classes {data.labels.n_classes}, '
          f'{len(data.train)} training / {len(data.validation)} validation '
          f'crops, device {device}')
    seed_everything(config.seed, device)
    trainer = trainer_module(config.kind).build_trainer(
        config, data, run_dir, device)
    attach_guards(trainer, data, config)
    check_disk_space(run_dir, trainer, config.report.snapshots_kept)
    # The snapshot to resume from, RESUME= or else the newest complete one
    # in the folder, is loaded here, before trainer.run, which is why the
    # snapshot extension has no autoload (vox/training/common.py).
    # Chainer's autoload happens inside trainer.run, in the snapshot
    # extension's initialize at priority -100, after extensions of higher
    # priority have initialised from their fresh state: ExponentialShift
    # sets the optimizer's lr from its not-yet-loaded schedule (the lr
    # itself is not in the snapshot), so a resumed cfcefd21 trained with
    # the undecayed lr until the next decay.
    if snapshot is None:
        found = snapshots(run_dir)
        snapshot = found[-1] if found else None
    if snapshot is not None:
        chainer.serializers.load_npz(str(snapshot), trainer)
        print(f'vox: resumed from {Path(snapshot).name} (iteration '
              f'{trainer.updater.iteration})', flush=True)
    start = time.time()
    try:
        trainer.run(show_loop_exception_msg=False)
    except StopRequested as e:
        print(f'vox: {e}; rerun the same command to resume', file=sys.stderr)
        return run_dir
    write_summary(run_dir, config, trainer, time.time() - start)
    write_report(run_dir)
    return run_dir
