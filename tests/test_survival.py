"""Runs that survive: kill -9 and resume, determinism, NaN stops.

Uses each experiment's ``test`` profile (the smallest run with two
snapshots, one per epoch, on a 72-utterance built-in corpus) in a
temporary results folder: the classifier, the AutoEncoder and both
StarGANs, whose profiles put the first snapshot (the kill point) inside an
n_critic phase, with generator steps before and after it.

Resumed runs are compared with an uninterrupted one twice over: the log
(every key, every iteration) and the final snapshot, array by array and
bit for bit (parameters, BatchNorm statistics, both optimizers' RMSprop
state, iterator, random states, lr schedule, report state), leaving out
only wall-clock times.
"""
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vox.runs import folders, runner
from vox.config import load_config
from vox.data.dataset import SpectrogramCropDataset
from vox.extensions.guards import NonFiniteError

REPO = Path(__file__).resolve().parent.parent
IDS = ['e19098ab', 'bc7db4a2', '54314b33', 'cfcefd21']
GANS = ('54314b33', 'cfcefd21')

#: The loss term a NaN in the input shows up in first: the classifier's
#: cross entropies, the AutoEncoder's MSE, the critic's terms (the update
#: after the first snapshot is a D-only step).
NAN_TERM = {'e19098ab': 'main/loss_', 'bc7db4a2': 'main/mse',
            '54314b33': 'dis/loss_', 'cfcefd21': 'dis/loss_'}


@pytest.fixture(scope='module')
def env():
    return dict(os.environ)  # VOX_CACHE: the session's (conftest.py)


def command(exp_id, results, run):
    return [sys.executable, '-m', 'vox.cli', 'run', exp_id, '--profile',
            'test', '--results', str(results), '--run', run]


def training_log(run_dir):
    log = json.loads((run_dir / 'log').read_text())
    for entry in log:
        entry.pop('elapsed_time')
    return log


def run_to_end(exp_id, results, run, env):
    """(run folder, stdout) of the command run to its end."""
    out = subprocess.run(command(exp_id, results, run), cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return results / exp_id / run, out.stdout


def announced_snapshots(stdout):
    return [line.split()[-1] for line in stdout.splitlines()
            if line.startswith('vox: wrote snapshot_iter_')]


def interrupt_after_first_snapshot(exp_id, results, run, env, sig):
    """(exit status, stdout, stderr) of the command, sent ``sig`` as soon
    as it announces its first snapshot."""
    results.mkdir(parents=True, exist_ok=True)
    with open(results / f'{run}.stderr', 'w+') as err, subprocess.Popen(
            command(exp_id, results, run), cwd=REPO, env=env,
            stdout=subprocess.PIPE, stderr=err, text=True) as proc:
        for line in proc.stdout:
            if line.startswith('vox: wrote snapshot_iter_'):
                proc.send_signal(sig)
                break
        stdout = proc.communicate(timeout=120)[0]
        err.seek(0)
        return proc.returncode, stdout, err.read()


def snapshot_arrays(path):
    """Every array of a Chainer npz snapshot, the time-dependent ones made
    comparable: the trainer's elapsed time is dropped, and the LogReport's
    log loses its ``elapsed_time`` entries."""
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.pop('_snapshot_elapsed_time')
    log = json.loads(str(arrays.pop('extensions/LogReport/_log')))
    for entry in log:
        entry.pop('elapsed_time')
    arrays['extensions/LogReport/_log'] = np.asarray(json.dumps(log))
    return arrays


def assert_bit_identical(a, b):
    assert sorted(a) == sorted(b)
    differ = [k for k in a if a[k].dtype != b[k].dtype
              or a[k].shape != b[k].shape or a[k].tobytes() != b[k].tobytes()]
    assert not differ, f'{len(differ)} arrays differ, e.g. {differ[:5]}'


def optimizer_state(arrays, name):
    """RMSprop's ``ms`` arrays of optimizer ``name``, by parameter."""
    prefix = f'updater/optimizer:{name}/'
    return {k: v for k, v in arrays.items()
            if k.startswith(prefix) and k.endswith('/ms')}


@pytest.fixture(scope='module')
def uninterrupted(tmp_path_factory, env):
    """exp_id -> (run folder, stdout) of one uninterrupted test-profile
    run, made once per module and shared by the tests that compare to it."""
    done = {}

    def get(exp_id):
        if exp_id not in done:
            results = tmp_path_factory.mktemp(f'whole-{exp_id}')
            done[exp_id] = run_to_end(exp_id, results, 'whole', env)
        return done[exp_id]
    return get


@pytest.mark.slow
@pytest.mark.parametrize('exp_id', IDS)
def test_kill_9_then_rerun_equals_uninterrupted(exp_id, tmp_path, env,
                                                uninterrupted):
    whole, whole_out = uninterrupted(exp_id)
    final = announced_snapshots(whole_out)[-1]
    # Same seed and config, killed with SIGKILL right after its first
    # snapshot is announced, then the same command again.
    rc, _, _ = interrupt_after_first_snapshot(exp_id, tmp_path, 'killed',
                                              env, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    killed = tmp_path / exp_id / 'killed'
    assert not (killed / 'summary.json').exists()
    [first] = [p.name for p in killed.glob('snapshot_iter_*')]
    kill_iteration = int(first.rsplit('_', 1)[1])
    resumed, resumed_out = run_to_end(exp_id, tmp_path, 'killed', env)
    # It resumed (a fresh start would give the same log, by determinism):
    # it says so and writes only the snapshots after the first.
    assert 'resuming run killed' in resumed_out
    assert announced_snapshots(resumed_out) == announced_snapshots(
        whole_out)[1:]
    # Same iterations, same losses (every key, dis/* and gen/* included).
    assert training_log(resumed) == training_log(whole)
    # And the same final state, bit for bit: parameters, BatchNorm
    # statistics, every optimizer's RMSprop state and step count, iterator
    # position, random states, lr schedule, triggers.
    end_whole = snapshot_arrays(whole / final)
    end_resumed = snapshot_arrays(resumed / final)
    assert_bit_identical(end_resumed, end_whole)
    names = {'gen', 'dis'} if exp_id in GANS else {'main'}
    for name in names:
        assert optimizer_state(end_whole, name), name  # RMSprop ms saved
    if exp_id in GANS:
        # The kill point lies inside a critic phase, with G steps before
        # and after it; G stepped once every n_critic updates throughout.
        n_critic = load_config(exp_id, 'test').losses.n_critic
        iterations = int(end_whole['updater/iteration'])
        assert kill_iteration % n_critic and \
            n_critic <= kill_iteration < iterations - n_critic
        assert int(end_resumed['updater/optimizer:dis/t']) == iterations
        assert int(end_resumed['updater/optimizer:gen/t']) == \
            iterations // n_critic
    # The same config twice gives the same log, bit for bit.
    again, _ = run_to_end(exp_id, tmp_path, 'again', env)
    assert training_log(again) == training_log(whole)
    assert_bit_identical(snapshot_arrays(again / final), end_whole)


@pytest.mark.slow
def test_ctrl_c_stops_with_a_snapshot_mid_epoch_and_resumes_exactly(
        tmp_path, env, uninterrupted):
    # The GAN with an lr schedule: SIGINT as soon as the first snapshot is
    # announced stops at the end of the iteration then under way (the next
    # one, mid-epoch and mid critic phase, unless the signal wins the race
    # with the announcement's own iteration), with a snapshot and exit
    # status 130 (stopped, not finished: `make exp-X && next` stops too);
    # rerunning the same command resumes from there.
    exp_id = 'cfcefd21'
    whole, whole_out = uninterrupted(exp_id)
    rc, stdout, stderr = interrupt_after_first_snapshot(
        exp_id, tmp_path, 'stopped', env, signal.SIGINT)
    assert rc == 130, stdout[-2000:] + stderr[-2000:]
    assert 'SIGINT: stopped at iteration' in stderr
    stopped_at = int(stderr.split('stopped at iteration ')[1].split(',')[0])
    run_dir = tmp_path / exp_id / 'stopped'
    assert (run_dir / f'snapshot_iter_{stopped_at}').exists()
    assert not (run_dir / 'summary.json').exists()
    first, last = [int(name.rsplit('_', 1)[1])
                   for name in announced_snapshots(whole_out)]
    assert first <= stopped_at < last
    resumed, resumed_out = run_to_end(exp_id, tmp_path, 'stopped', env)
    assert 'resuming run stopped' in resumed_out
    assert training_log(resumed) == training_log(whole)
    final = announced_snapshots(whole_out)[-1]
    assert_bit_identical(snapshot_arrays(resumed / final),
                         snapshot_arrays(whole / final))


@pytest.mark.slow
@pytest.mark.parametrize('exp_id', IDS)
def test_non_finite_loss_stops_with_diagnosis(exp_id, tmp_path, monkeypatch):
    config = load_config(exp_id, 'test')
    batch_size = config.train.batch_size
    original = SpectrogramCropDataset.get_example
    state = {'calls': 0, 'n_train': None}

    def corrupt_after_first_epoch(self, i):
        example = original(self, i)
        if self.train:
            state['n_train'] = len(self)
            state['calls'] += 1
            # The first epoch ends with iteration ceil(N / B) (its batch
            # may straddle the boundary); corrupt from the middle of the
            # next iteration's batch on.
            first_epoch = math.ceil(len(self) / batch_size)
            if state['calls'] > first_epoch * batch_size + batch_size // 2:
                example = (example[0] * np.nan,) + example[1:]
        return example

    monkeypatch.setattr(SpectrogramCropDataset, 'get_example',
                        corrupt_after_first_epoch)
    with pytest.raises(NonFiniteError) as e:
        runner.run(exp_id, profile='test', results=tmp_path, run_name='nan')
    first_epoch = math.ceil(state['n_train'] / batch_size)
    run_dir = tmp_path / exp_id / 'nan'
    message = str(e.value)
    # Named: the loss term and the iteration of the corrupt batch.
    assert f'non-finite {NAN_TERM[exp_id]}' in message, message
    iteration = int(message.split('at iteration ')[1].split(';')[0])
    assert iteration == first_epoch + 1
    # Kept: the last good snapshot, and nothing after it.
    snapshots = sorted(run_dir.glob('snapshot_iter_*'))
    assert [p.name for p in snapshots] == [f'snapshot_iter_{first_epoch}']
    # Saved: the offending batch, with its labels.
    batch = np.load(run_dir / f'nonfinite_batch_iter_{iteration}.npz')
    assert batch['x'].shape == (batch_size, 1, config.data.crop_frames, 256)
    assert np.isnan(batch['x']).any() and not np.isnan(batch['x'][0]).any()
    assert batch['speaker'].shape == batch['sex'].shape == (batch_size,)
    # The kept snapshot is good: with clean data again, resuming from it
    # finishes the run.
    monkeypatch.undo()
    runner.run(exp_id, profile='test', results=tmp_path,
               resume=str(snapshots[0]))
    assert (run_dir / 'summary.json').exists()
    assert [e['iteration'] for e in training_log(run_dir)][0] == first_epoch


def test_two_runs_never_share_a_folder(tmp_path):
    a, _, _ = folders.choose_run_dir(tmp_path, 'x', None, 'smoke', fresh=True)
    a.mkdir(parents=True)
    b, _, _ = folders.choose_run_dir(tmp_path, 'x', None, 'smoke', fresh=True)
    assert a != b


def test_unwritable_results_folder_is_refused_before_training(tmp_path):
    blocker = tmp_path / 'a-file'  # fails even for root, unlike chmod
    blocker.write_text('')
    with pytest.raises(folders.VoxError, match='cannot write results'):
        folders.make_run_dir(blocker / 'e19098ab' / 'r')


def test_newest_unfinished_run_of_the_same_profile_is_resumed(tmp_path):
    base = tmp_path / 'x'
    for name, profile, finished in (('a', 'smoke', False),
                                    ('b', 'faithful', False),
                                    ('c', 'smoke', True)):
        d = base / name
        d.mkdir(parents=True)
        (d / 'config.yaml').write_text(f'profile: {profile}\n')
        (d / 'snapshot_iter_5').write_text('')
        if finished:
            (d / 'summary.json').write_text('{}')
    run_dir, _, what = folders.choose_run_dir(tmp_path, 'x', None, 'smoke')
    assert run_dir == base / 'a' and 'resuming' in what
    run_dir, _, _ = folders.choose_run_dir(tmp_path, 'x', None, 'smoke',
                                          fresh=True)
    assert run_dir.parent == base and run_dir.name not in 'abc'
