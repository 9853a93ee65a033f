"""`make exp-e19098ab PROFILE=smoke`, end to end, as a new user runs it.

Generates the built-in corpus and its features into a temporary cache,
trains the smoke profile and checks the run folder.  About two minutes on
2 CPU cores (most of it corpus generation and feature extraction).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('e2e')
    env = dict(os.environ)  # VOX_CACHE: the session's (conftest.py)
    result = subprocess.run(
        [sys.executable, '-m', 'vox.cli', 'run', 'e19098ab', '--profile',
         'smoke', '--results', str(root / 'results'), '--run', 'smoke'],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return root / 'results' / 'e19098ab' / 'smoke'


@pytest.mark.slow
def test_run_folder_has_everything(smoke_run):
    for name in ('config.yaml', 'command.txt', 'environment.json',
                 'labels.json', 'log', 'cross_entropy.png', 'accuracy.png',
                 'summary.json', 'summary.md'):
        assert (smoke_run / name).is_file(), name
    assert list(smoke_run.glob('snapshot_iter_*'))
    resolved = yaml.safe_load((smoke_run / 'config.yaml').read_text())
    assert resolved['profile'] == 'smoke' and resolved['seed'] == 0
    assert resolved['train']['optimizer'] == 'RMSprop'
    env = json.loads((smoke_run / 'environment.json').read_text())
    assert env['packages']['chainer'] == '7.8.1'
    assert 'smoke' in (smoke_run / 'command.txt').read_text()


@pytest.mark.slow
def test_it_learned(smoke_run):
    log = json.loads((smoke_run / 'log').read_text())
    assert log[-1]['main/loss'] < 0.7 * log[0]['main/loss']
    assert log[-1]['validation/main/loss'] < log[0]['validation/main/loss']
    # Two sexes: chance is 0.5.
    assert log[-1]['validation/main/acc_sex'] >= 0.8
    summary = json.loads((smoke_run / 'summary.json').read_text())
    blog = {r['figure']: r['blog'] for r in summary['reference']}
    assert blog['training_hours'] == 16.10
