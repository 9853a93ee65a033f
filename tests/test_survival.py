"""Runs that survive (issue 8): kill -9 and resume, determinism, NaN stops.

Uses each experiment's ``test`` profile (the smallest run with two
snapshots) on the built-in corpus, in a temporary results folder.
"""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from vox import runner
from vox.dataset import SpectrogramCropDataset
from vox.extensions.guards import NonFiniteError

REPO = Path(__file__).resolve().parent.parent
IDS = ['e19098ab']


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
    out = subprocess.run(command(exp_id, results, run), cwd=REPO, env=env,
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    return results / exp_id / run


@pytest.mark.slow
@pytest.mark.parametrize('exp_id', IDS)
def test_kill_9_then_rerun_equals_uninterrupted(exp_id, tmp_path, env):
    whole = run_to_end(exp_id, tmp_path, 'whole', env)
    # Same seed and config, killed with SIGKILL right after its first
    # snapshot is announced, then the same command again.
    with subprocess.Popen(command(exp_id, tmp_path, 'killed'), cwd=REPO,
                          env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.DEVNULL, text=True) as proc:
        for line in proc.stdout:
            if line.startswith('vox: wrote snapshot_iter_'):
                proc.send_signal(signal.SIGKILL)
                break
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    killed = tmp_path / exp_id / 'killed'
    assert not (killed / 'summary.json').exists()
    resumed = run_to_end(exp_id, tmp_path, 'killed', env)
    assert training_log(resumed) == training_log(whole)
    # The same config twice gives the same log, bit for bit.
    again = run_to_end(exp_id, tmp_path, 'again', env)
    assert training_log(again) == training_log(whole)


@pytest.mark.slow
def test_non_finite_loss_stops_with_diagnosis(tmp_path, env, monkeypatch):
    original = SpectrogramCropDataset.get_example
    calls = {'n': 0}

    def corrupt_after_first_epoch(self, i):
        example = original(self, i)
        if self.train:
            calls['n'] += 1
            # Batches of 10 over 162 crops: iteration 17 straddles the
            # epoch boundary, so corrupt from the middle of iteration 18.
            if calls['n'] > 175:
                example = (example[0] * np.nan,) + example[1:]
        return example

    monkeypatch.setattr(SpectrogramCropDataset, 'get_example',
                        corrupt_after_first_epoch)
    with pytest.raises(NonFiniteError) as e:
        runner.run('e19098ab', profile='test', results=tmp_path, run_name='nan')
    run_dir = tmp_path / 'e19098ab' / 'nan'
    message = str(e.value)
    assert 'non-finite main/loss_' in message and 'at iteration' in message
    iteration = int(message.split('at iteration ')[1].split(';')[0])
    snapshots = sorted(run_dir.glob('snapshot_iter_*'))
    assert [p.name for p in snapshots] == ['snapshot_iter_17']
    assert iteration > 17
    batch = np.load(run_dir / f'nonfinite_batch_iter_{iteration}.npz')
    assert np.isnan(batch['x']).any() and batch['x'].shape[1:] == (1, 256, 256)
    # The kept snapshot is good: with clean data again, resuming from it
    # finishes the run.
    monkeypatch.undo()
    runner.run('e19098ab', profile='test', results=tmp_path,
               resume=str(snapshots[0]))
    assert (run_dir / 'summary.json').exists()


def test_two_runs_never_share_a_folder(tmp_path):
    a, _, _ = runner.choose_run_dir(tmp_path, 'x', None, 'smoke', fresh=True)
    a.mkdir(parents=True)
    b, _, _ = runner.choose_run_dir(tmp_path, 'x', None, 'smoke', fresh=True)
    assert a != b


def test_unwritable_results_folder_is_refused_before_training(tmp_path):
    blocker = tmp_path / 'a-file'  # fails even for root, unlike chmod
    blocker.write_text('')
    with pytest.raises(runner.VoxError, match='cannot write results'):
        runner.make_run_dir(blocker / 'e19098ab' / 'r')


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
    run_dir, _, what = runner.choose_run_dir(tmp_path, 'x', None, 'smoke')
    assert run_dir == base / 'a' and 'resuming' in what
    run_dir, _, _ = runner.choose_run_dir(tmp_path, 'x', None, 'smoke',
                                          fresh=True)
    assert run_dir.parent == base and run_dir.name not in 'abc'
