"""``vox run ID --distributed``: the run loop on every rank of ``mpiexec``.

Rank 0 chooses, creates and locks the run folder (the same rules as one
process: resume the newest unfinished run, RUN=, RESUME=, FRESH=) and every
rank gets its choice; every rank then builds the experiment's one-process
Trainer with its recipe, and ``Distributed.apply`` makes it that rank's
part (vox/training/distributed.py says how the work is split); only rank 0
writes.  A user error on any rank ends every rank (MPI_Abort after the
one-line message), as does an uncaught exception (ChainerMN's global
except hook) or a killed rank (mpiexec ends the job when one of its
processes dies).
"""
import contextlib
import io
import sys
import time
from pathlib import Path

import chainer

from vox import cpu_fast
from vox.base.device import get_device
from vox.base.errors import Stopped, VoxError
from vox.data.sources import load_data
from vox.reports.report import write_report
from vox.reports.summary import write_summary
from vox.runs import runner
from vox.runs.folders import (check_disk_space, check_recorded_config,
                              check_recorded_labels, choose_run_dir,
                              lock_run_dir, make_run_dir, remove_if_untrained,
                              remove_leftovers, write_run_info)
from vox.training import distributed


def _on_writer(parallel, make):
    """``make()`` on rank 0; its result, or its VoxError, on every rank."""
    result = error = None
    if parallel.is_writer:
        try:
            result = make()
        except VoxError as e:
            error = str(e)
    result, error = parallel.broadcast((result, error))
    if error is not None:
        raise VoxError(error)
    return result


def notes(config, parallel, n_validation, communicator):
    """What a distributed run tells at start-up, line by line."""
    b = config.train.batch_size
    lines = [f'distributed: {parallel.size} ranks, ChainerMN communicator '
             f'{communicator}; global minibatch {b} = {parallel.size} x '
             f'{b // parallel.size}, BatchNormalization over the global '
             f'minibatch (MultiNodeBatchNormalization)']
    left = distributed.validation_left_out(n_validation, b, parallel.size)
    if left:
        lines.append(f'distributed: validation leaves out its last {left} '
                     f'of {n_validation} crops so that every validation '
                     f'minibatch splits evenly over the ranks')
    for note in config_notes(config):
        lines.append(f'distributed: {note}')
    return lines


def config_notes(config):
    """Where a distributed run of this experiment is not the same
    computation as one process (the experiment's DECISIONS.md says why)."""
    d = getattr(config, 'discriminator', None)
    if d is not None and d.name == 'conv_bn_discriminator' and \
            config.losses.lambda_gp:
        return ['the gradient penalty is back-propagated through the '
                "critic's multi-node BatchNormalization with rank-local "
                "second-order terms (ChainerMN has no multi-node double "
                'backward); see this experiment\'s DECISIONS.md, '
                '"Distributed runs"']
    return []


def run_distributed(config, device=None, corpus=None, run_name=None,
                    results=None, argv=None, fresh=False, resume=None,
                    communicator=None, recipe=None):
    """``runner.run`` for one rank of ``mpiexec -n N`` (a loaded
    ExperimentConfig); returns the run folder."""
    recipe = runner.recipe_of(config, recipe)
    cpu_fast.install_for_run()  # as runner.train_in_run_folder
    parallel, device_spec, name = distributed.start(device, communicator)
    try:
        return _run(recipe, config, device_spec, corpus, run_name, results,
                    argv, fresh, resume, parallel, name)
    except Stopped:  # every rank stopped at the same iteration, state saved
        raise
    except VoxError as e:
        # The other ranks may be waiting in a collective: end them all.
        print(f'vox: error: {e}', file=sys.stderr, flush=True)
        parallel.comm.mpi_comm.Abort(2)


def _run(recipe, config, device_spec, corpus, run_name, results, argv,
         fresh, resume, parallel, name):
    distributed.check_divisible(config.train.batch_size, parallel.size)
    device = get_device(device_spec)

    def choose():
        run_dir, snapshot, what = choose_run_dir(
            results, config.id, run_name, config.profile, fresh, resume)
        created = [d for d in (run_dir, run_dir.parent) if not d.exists()]
        make_run_dir(run_dir)
        return run_dir, snapshot, what, created
    run_dir, snapshot, what, created = _on_writer(parallel, choose)
    # As runner.train_in_run_folder, on rank 0: the lock before anything in
    # the folder is touched, no empty folder left behind, disk errors in
    # one line.  If rank 0 cannot lock, its VoxError ends every rank
    # (run_distributed).
    try:
        with lock_run_dir(run_dir) if parallel.is_writer \
                else contextlib.nullcontext():
            try:
                if parallel.is_writer:
                    remove_leftovers(run_dir)
                return _train_rank(recipe, config, device, run_dir,
                                   snapshot, what, corpus, argv, parallel,
                                   name)
            except BaseException:
                if parallel.is_writer:
                    remove_if_untrained(created)
                raise
    except OSError as e:
        raise runner.disk_error(e, run_dir) from None


def _train_rank(recipe, config, device, run_dir, snapshot, what, corpus,
                argv, parallel, communicator):
    """runner._train on every rank: rank 0 reads and writes the folder."""
    writer = parallel.is_writer
    if writer:
        check_recorded_config(run_dir, config)
        data = load_data(config.data, config.seed, corpus)  # cache first
    parallel.broadcast(None)
    if not writer:
        data = load_data(config.data, config.seed, corpus)
    if writer:
        runner.check_label_space(data.labels, config.kind)
    runner.check_batch_size(config, data)
    runner.check_models_fit(config, data.labels.n_classes)
    if writer:
        check_recorded_labels(run_dir, data.labels)
        runner.announce(config, data, device, run_dir, what)
        for line in notes(config, parallel, len(data.validation),
                          communicator):
            print(f'vox: {line}')
    runner.seed_everything(config.seed, device)
    trainer = parallel.apply(
        recipe.build_trainer(config, data, run_dir, device))
    if writer:
        check_disk_space(run_dir, trainer, config.report.snapshots_kept)
        snapshot = runner.load_snapshot(trainer, config, run_dir, snapshot)
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
    runner.train(trainer, say=writer)  # every rank stops, rank 0 says so
    if writer:
        write_summary(run_dir, config, trainer, time.time() - start)
        write_report(run_dir)
    return run_dir
