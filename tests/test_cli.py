"""Mistakes a user makes get one line that says what to do, not a traceback."""
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def vox(*args, env=None):
    return subprocess.run([sys.executable, '-m', 'vox.cli', *args],
                          capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, **(env or {})}, timeout=120)


def one_line_error(result):
    assert result.returncode == 2, result.stderr
    assert 'Traceback' not in result.stderr
    lines = [l for l in result.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unknown_experiment_id_lists_known_ids():
    line = one_line_error(vox('run', 'e19098ac'))
    assert "unknown experiment ID 'e19098ac'" in line
    assert "did you mean 'e19098ab'" in line and 'known IDs:' in line


def test_missing_corpus_path_says_what_to_give(tmp_path):
    line = one_line_error(vox('run', 'e19098ab', '--profile', 'smoke',
                              '--corpus', str(tmp_path / 'nowhere'),
                              '--results', str(tmp_path)))
    assert 'nowhere' in line and 'manifest.tsv' in line


def test_unknown_profile_lists_profiles():
    line = one_line_error(vox('run', 'e19098ab', '--profile', 'smok'))
    assert "unknown profile 'smok'" in line and 'smoke' in line


def test_typo_in_yaml_names_the_key(tmp_path):
    src = (REPO / 'experiments/e19098ab/config.yaml').read_text()
    bad = tmp_path / 'config.yaml'
    bad.write_text(src.replace('batch_size: 10', 'batchsize: 10'))
    line = one_line_error(vox('run', str(bad), '--results', str(tmp_path)))
    assert "unknown key 'batchsize'" in line and 'batch_size' in line


def test_list_shows_every_experiment():
    out = vox('list')
    assert out.returncode == 0
    assert 'e19098ab' in out.stdout
