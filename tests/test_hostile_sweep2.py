"""A second hostile-input sweep: where a run may be written, what a command
may overwrite, the Makefile's variables, and the cases around them.

Each refusal is checked the same way: a non-zero status, one line
(``vox: error: ...``), no traceback, and every file that was there before,
with its md5, exactly as it was (and nothing added).  The runs use
e19098ab's ``test`` profile in temporary results folders.
"""
import fcntl
import hashlib
import json
import shutil
import signal
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml

from vox.base.errors import Stopped, VoxError
from vox.cli import main
from vox.config import load_config, to_dict
from vox.runs import folders

REPO = Path(__file__).resolve().parent.parent
EXP = 'e19098ab'


def md5s(*roots):
    """{path: md5} of every file under ``roots`` (files or folders)."""
    found = {}
    for root in map(Path, roots):
        for p in [root] if root.is_file() else sorted(root.rglob('*')):
            if p.is_file():
                found[str(p)] = hashlib.md5(p.read_bytes()).hexdigest()
    return found


def refused(argv, capsys, *expected):
    """Runs ``vox argv`` in this process (an exception other than VoxError
    escapes and fails the test); checks the one-line refusal."""
    rc = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert rc != 0, err
    # Progress lines (a corpus generated first) may come before it.
    lines = [line for line in err.strip().splitlines()
             if line.startswith('vox: error: ')]
    assert len(lines) == 1 and err.strip().endswith(lines[0]), err
    assert 'Traceback' not in err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def user_folder(path, labels=b'not json {'):
    """A user's folder with files a run would write (and a garbage
    labels.json, which used to be read as JSON)."""
    path.mkdir(parents=True)
    for name in ('log', 'report.html', 'summary.md', 'command.txt',
                 'environment.json', 'notes.txt'):
        (path / name).write_text(f'my own {name}\n')
    (path / 'labels.json').write_bytes(labels)
    return path


def vox_run_folder(path, profile='test', snapshot=True):
    """A run folder as vox leaves it before a snapshot loads."""
    path.mkdir(parents=True)
    (path / 'config.yaml').write_text(yaml.safe_dump(to_dict(load_config(
        EXP, profile))))
    (path / 'command.txt').write_text('vox run\n')
    (path / 'environment.json').write_text('{}\n')
    if snapshot:
        (path / 'snapshot_iter_6').write_bytes(b'a snapshot')
    return path


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """(results, run folder) of one uninterrupted test-profile run."""
    results = tmp_path_factory.mktemp('finished')
    out = subprocess.run(
        [sys.executable, '-m', 'vox.cli', 'run', EXP, '--profile', 'test',
         '--results', str(results), '--run', 'whole'], cwd=REPO,
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return results, results / EXP / 'whole'


# Where a run may be written ---------------------------------------------------

def test_run_into_an_absolute_user_folder_is_refused(tmp_path, capsys):
    notes = user_folder(tmp_path / 'notes')
    before = md5s(tmp_path)
    refused(['run', EXP, '--profile', 'test', '--results',
             tmp_path / 'results', '--run', notes], capsys, 'RUN=',
            'not a folder name')
    assert md5s(tmp_path) == before


def test_run_into_a_user_folder_under_the_results_root_is_refused(
        tmp_path, capsys):
    notes = user_folder(tmp_path / EXP / 'notes')
    before = md5s(tmp_path)
    refused(['run', EXP, '--profile', 'test', '--results', tmp_path,
             '--run', 'notes'], capsys, str(notes), 'not a vox run folder')
    assert md5s(tmp_path) == before


@pytest.mark.parametrize('run', ['../../escape', '..', '', 'a/b'])
def test_run_name_outside_the_results_root_is_refused(tmp_path, capsys,
                                                      run):
    results = tmp_path / 'a' / 'b' / 'c'
    results.mkdir(parents=True)
    refused(['run', EXP, '--profile', 'test', '--results', results,
             '--run', run], capsys, 'RUN=', 'not a folder name')
    assert [p for p in tmp_path.rglob('*') if p.is_file()] == []
    assert sorted(p.name for p in tmp_path.rglob('*')) == ['a', 'b', 'c']


@pytest.mark.parametrize('exp_id', ['../../../x', '', '.'])
def test_config_id_outside_the_results_root_is_refused(tmp_path, capsys,
                                                       exp_id):
    raw = yaml.safe_load((REPO / f'experiments/{EXP}/config.yaml')
                         .read_text())
    raw['id'] = exp_id
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump(raw))
    results = tmp_path / 'a' / 'b' / 'c'
    results.mkdir(parents=True)
    before = md5s(tmp_path)
    refused(['run', config, '--profile', 'test', '--results', results],
            capsys, 'experiment id', 'not a folder name')
    assert md5s(tmp_path) == before
    assert not (tmp_path / 'x').exists() and not any(results.iterdir())


def test_damaged_config_of_an_unfinished_run_does_not_stop_new_runs(
        tmp_path, capsys):
    for name, text in [('garbage', 'id: [unclosed\n'), ('a-list', '- 1\n'),
                       ('empty', '')]:
        damaged = vox_run_folder(tmp_path / EXP / name)
        (damaged / 'config.yaml').write_text(text)
    before = md5s(tmp_path)
    run_dir, snapshot, what = folders.choose_run_dir(tmp_path, EXP, None,
                                                     'test')
    assert not run_dir.exists() and snapshot is None and 'starting' in what
    err = capsys.readouterr().err
    assert err.count('cannot be read') == 3 and 'Traceback' not in err
    assert md5s(tmp_path) == before


def test_fresh_with_an_existing_run_name_is_refused(tmp_path, capsys):
    run = vox_run_folder(tmp_path / EXP / 'a')
    before = md5s(tmp_path)
    refused(['run', EXP, '--profile', 'test', '--results', tmp_path,
             '--run', 'a', '--fresh'], capsys, 'RUN=a with FRESH=1',
            'give a new RUN=name')
    assert md5s(tmp_path) == before and run.is_dir()


def test_resume_with_another_run_name_is_refused(tmp_path, capsys):
    run = vox_run_folder(tmp_path / EXP / 'a')
    before = md5s(tmp_path)
    refused(['run', EXP, '--profile', 'test', '--results', tmp_path,
             '--resume', run / 'snapshot_iter_6', '--run', 'b'], capsys,
            'not RUN=b')
    assert md5s(tmp_path) == before
    assert not (tmp_path / EXP / 'b').exists()


def test_resume_from_a_snapshot_in_a_user_folder_is_refused(tmp_path,
                                                            capsys):
    notes = user_folder(tmp_path / 'notes')
    (notes / 'snapshot_iter_6').write_bytes(b'x')
    before = md5s(tmp_path)
    refused(['run', EXP, '--profile', 'test', '--results', tmp_path,
             '--resume', notes / 'snapshot_iter_6'], capsys,
            'not a vox run folder')
    assert md5s(tmp_path) == before


def test_a_new_run_folder_carries_the_marker(tmp_path):
    run_dir = folders.make_run_dir(tmp_path / EXP / 'new')
    assert folders.is_run_folder(run_dir)


# What a command may overwrite -------------------------------------------------

@pytest.mark.parametrize('config', ['copy', 'empty', 'invalid'])
def test_report_on_a_folder_that_is_not_a_run_is_refused(tmp_path, capsys,
                                                         config):
    project = tmp_path / 'project'
    shutil.copytree(REPO / 'experiments' / EXP, project)
    (project / 'report.html').write_text('<p>my own report</p>')
    if config != 'copy':
        (project / 'config.yaml').write_text(
            '' if config == 'empty' else 'id: [unclosed\n')
    before = md5s(tmp_path)
    refused(['report', project], capsys, 'not a vox run folder')
    assert md5s(tmp_path) == before


def test_compare_out_onto_a_compared_run_is_refused(tmp_path, capsys,
                                                    finished):
    _, whole = finished
    run = tmp_path / 'run'
    shutil.copytree(whole, run)
    before = md5s(tmp_path)
    refused(['compare', run, '--out', run], capsys, '--out',
            'vox did not make')
    assert md5s(tmp_path) == before


def test_compare_out_onto_a_user_folder_is_refused_and_its_own_reused(
        tmp_path, capsys, finished):
    _, whole = finished
    notes = user_folder(tmp_path / 'notes')
    before = md5s(tmp_path)
    refused(['compare', whole, '--out', notes], capsys, '--out')
    assert md5s(tmp_path) == before
    out = tmp_path / 'cmp'
    for _ in range(2):  # a comparison's own folder is written again
        assert main(['compare', str(whole), '--out', str(out)]) == 0
    assert (out / 'compare.md').is_file()


def blurmask_summary_json(results):
    run = results / 'blurmask-5' / 'r'
    run.mkdir(parents=True)
    final = dict.fromkeys(('m_mean', 'm_min', 'm_max', 'm_at_most_1',
                           'm_negative', 'mse'), 0.5)
    (run / 'summary.json').write_text(json.dumps({
        'id': 'blurmask-5', 'profile': 'smoke', 'lambda': 1.0,
        'target': {'kind': 'identity', 'output': 'x'}, 'm_init': 1.0,
        'lambda_on': 'entropy', 'conserve_total': True, 'relu_on_m': True,
        'iterations_done': 2, 'iterations': 2, 'final': final,
        'seconds': {'loop': 1.0}}))


def test_blurmask_summary_out_onto_a_user_file_is_refused(tmp_path,
                                                          capsys):
    blurmask_summary_json(tmp_path)
    mine = tmp_path / 'notes.md'
    mine.write_text('# my notes\n')
    before = md5s(tmp_path)
    refused(['blurmask-summary', tmp_path, '--out', mine], capsys,
            '--out', 'not written by this command')
    assert md5s(tmp_path) == before
    # Its own table (the default place) is written again.
    for _ in range(2):
        assert main(['blurmask-summary', str(tmp_path)]) == 0
    assert (tmp_path / 'blurmask-summary.md').read_text().startswith(
        '# Blur-mask runs')


# Runs that can go on ---------------------------------------------------------

def test_long_speaker_names_make_short_distinct_file_names():
    from vox.extensions.conversion_samples import _safe, _tag
    a, b = 'x' * 299 + 'a', 'x' * 299 + 'b'
    assert _safe(a) != _safe(b)
    row = (a, 'n', 'F' * 300)
    name = f'val00_{_tag(row)}_to-{_tag((b, "n", "M"))}_converted.wav'
    assert len(name.encode()) <= 160  # a file name has at most 255 bytes
    assert _safe('spk03') == 'spk03'  # short names as they were


def test_foreign_newest_snapshot_falls_back_to_the_older_one(
        tmp_path, finished):
    _, whole = finished
    run_dir = tmp_path / EXP / 'resumed'
    shutil.copytree(whole, run_dir)
    (run_dir / 'summary.json').unlink()
    # A complete snapshot, but of something else (no key of this trainer).
    with open(run_dir / 'snapshot_iter_11', 'wb') as f:
        np.savez(f, **{'updater/model:main/other/W': np.zeros(3)})
    out = subprocess.run(
        [sys.executable, '-m', 'vox.cli', 'run', EXP, '--profile', 'test',
         '--results', str(tmp_path), '--run', 'resumed'], cwd=REPO,
        capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'snapshot_iter_11 (not a snapshot of e19098ab' in out.stderr
    assert 'resuming from the newest one that does, snapshot_iter_6' \
        in out.stderr

    def log(d):
        entries = json.loads((d / 'log').read_text())
        return [{k: v for k, v in e.items() if k != 'elapsed_time'}
                for e in entries]
    assert log(run_dir) == log(whole)


def test_resumed_training_keeps_the_evaluation_section(tmp_path):
    from vox.reports import conversion_quality
    from vox.reports.summary import write_summary
    section = f'## {conversion_quality.SECTION_TITLE}\n\nthe judge said so\n'
    (tmp_path / 'summary.md').write_text('# old summary\n\n' + section)
    trainer = types.SimpleNamespace(
        get_extension=lambda name: types.SimpleNamespace(
            log=[{'epoch': 2, 'iteration': 11, 'main/loss': 1.0}]),
        updater=types.SimpleNamespace(device=types.SimpleNamespace(
            xp=np)))
    write_summary(tmp_path, load_config(EXP, 'test'), trainer, 1.0)
    text = (tmp_path / 'summary.md').read_text()
    assert '# old summary' not in text and text.endswith(section)
    assert text.count(conversion_quality.SECTION_TITLE) == 1


def test_blurmask_run_takes_the_lock(tmp_path, capsys):
    run = folders.make_run_dir(tmp_path / 'blurmask-5' / 'busy')
    (run / '.lock').touch()
    before = md5s(tmp_path)
    with open(run / '.lock', 'a') as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        refused(['run', 'blurmask-5', '--profile', 'smoke', '--results',
                 tmp_path, '--run', 'busy'], capsys, 'in use')
    assert md5s(tmp_path) == before


def test_a_stop_is_told_by_rank_0_only(tmp_path, capsys, monkeypatch):
    from vox.extensions.guards import StopRequested
    from vox.runs import runner

    class AskedToStop:  # a Trainer whose GracefulStop fired (SIGTERM)
        def run(self, show_loop_exception_msg=True):
            raise StopRequested('stopped by SIGTERM', signal.SIGTERM)

    with pytest.raises(Stopped) as told:
        runner.train(AskedToStop(), say=True)       # rank 0
    assert 'rerun the same command' in str(told.value)
    with pytest.raises(Stopped) as e:
        runner.train(AskedToStop(), say=False)      # every other rank
    assert str(e.value) == '' and e.value.exit_code == 128 + 15
    # ... and vox prints nothing for it.
    def stop(args):
        raise e.value
    monkeypatch.setattr('vox.commands.list.main', stop)
    capsys.readouterr()
    assert main(['list']) == 143
    assert capsys.readouterr().err == ''


# evaluate --------------------------------------------------------------------

def classifier_run(results, name, labels, mtime):
    run = vox_run_folder(results / EXP / name, snapshot=False)
    (run / 'labels.json').write_text(json.dumps(labels))
    snap = run / 'snapshot_iter_6'
    snap.write_bytes(b'x')
    import os
    os.utime(snap, (mtime, mtime))
    return run


LABELS = {'speaker': ['a', 'b'], 'birthplace': ['n'], 'sex': ['F', 'M']}
OTHER = {'speaker': ['c', 'd'], 'birthplace': ['n'], 'sex': ['F', 'M']}


def test_evaluate_picks_a_judge_of_the_same_corpus(tmp_path):
    from vox.evaluation.procedure import find_classifier
    same = classifier_run(tmp_path, 'same', LABELS, 1000)
    classifier_run(tmp_path, 'other-newer', OTHER, 2000)
    run = tmp_path / 'cfcefd21' / 'r'
    assert find_classifier(run, LABELS) == same
    with pytest.raises(VoxError) as e:
        find_classifier(run, {'speaker': ['z'], 'birthplace': ['n'],
                              'sex': ['F']})
    assert 'another corpus' in str(e.value) and '--classifier' in \
        str(e.value)


def test_evaluate_on_a_truncated_snapshot_names_no_missing_option(
        tmp_path, capsys):
    run = tmp_path / 'cfcefd21' / 'r'
    run.mkdir(parents=True)
    (run / 'config.yaml').write_text(yaml.safe_dump(to_dict(load_config(
        'cfcefd21', 'test'))))
    (run / 'labels.json').write_text(json.dumps(LABELS))
    (run / 'snapshot_iter_6').write_bytes(b'PK\x03\x04 cut by a crash')
    before = md5s(tmp_path)
    line = refused(['evaluate', run], capsys, 'snapshot_iter_6')
    assert '--snapshot' not in line and 'as RUN' in line
    assert md5s(tmp_path) == before


# The Makefile ----------------------------------------------------------------

def make(tmp_path, *variables):
    """``make -s exp-e19098ab VARIABLES`` with a stand-in Python that
    prints the arguments it was given: (status, argv or None, stderr)."""
    stub = tmp_path / 'python'
    stub.write_text(f'#!{sys.executable}\nimport json, sys\n'
                    f'print(json.dumps(sys.argv[1:]))\n')
    stub.chmod(0o755)
    out = subprocess.run(
        ['make', '-s', '--no-print-directory', f'SYSTEM_PYTHON={stub}',
         *variables], cwd=REPO, capture_output=True, text=True, timeout=60)
    argv = json.loads(out.stdout) if out.returncode == 0 else None
    return out.returncode, argv, out.stderr


def test_make_passes_each_variable_as_one_argument(tmp_path):
    pwned = tmp_path / 'pwned'
    rc, argv, err = make(
        tmp_path, 'exp-e19098ab', 'RUN=my run',
        f'PROFILE=test; touch {pwned}', f'CORPUS=$(shell touch {pwned})',
        f"RESULTS=it's $(touch {pwned})", f'DEVICE=`touch {pwned}`',
        'FRESH=1')
    assert rc == 0, err
    assert argv == ['experiments/e19098ab/train.py',
                    '--profile', f'test; touch {pwned}',
                    '--device', f'`touch {pwned}`',
                    '--corpus', f'$(shell touch {pwned})',
                    '--run', 'my run', '--results', f"it's $(touch {pwned})",
                    '--fresh']
    assert not pwned.exists()


@pytest.mark.parametrize('nproc', ['0', 'abc', '-1', '2x'])
def test_make_refuses_a_bad_nproc(tmp_path, nproc):
    rc, _, err = make(tmp_path, 'exp-e19098ab', f'NPROC={nproc}')
    vox_lines = [line for line in err.splitlines() if line.startswith('vox')]
    assert rc != 0 and vox_lines == [
        f'vox: error: NPROC={nproc}: give the number of MPI ranks, a whole '
        f'number, 1 or more (e.g. NPROC=2)']
    assert 'Traceback' not in err


def test_make_without_mpi_says_make_install_mpi(tmp_path):
    rc, _, err = make(tmp_path, 'exp-e19098ab', 'NPROC=2',
                      f'VENV={tmp_path / "no-venv"}')
    vox_lines = [line for line in err.splitlines() if line.startswith('vox')]
    assert rc != 0 and len(vox_lines) == 1 and 'make install-mpi' in \
        vox_lines[0]


def test_make_exp_without_an_id_says_how(tmp_path):
    rc, _, err = make(tmp_path, 'exp-')
    assert rc != 0 and 'make exp-ID' in err and '.o' not in err
