"""What a hostile new user does to the CLI, one test per point:
nothing lost, nothing crashes.

The runs use e19098ab's ``test`` profile (seconds, on the session's shared
built-in corpus) in temporary results folders.
"""
import errno
import io
import fcntl
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from vox.base.errors import VoxError
from vox.config import ConfigError, load_config, to_dict
from vox.data import dataset as ds
from vox.data.corpus import readers
from vox.data.corpus.manifest import Utterance, read_manifest
from vox.runs import folders, runner

REPO = Path(__file__).resolve().parent.parent
EXP = 'e19098ab'


def vox_run(results, run, *extra, env=None):
    return [sys.executable, '-m', 'vox.cli', 'run', EXP, '--profile', 'test',
            '--results', str(results), '--run', run, *extra]


def training_log(run_dir):
    log = json.loads((run_dir / 'log').read_text())
    for entry in log:
        entry.pop('elapsed_time')
    return log


@pytest.fixture(scope='module')
def finished(tmp_path_factory):
    """(results, run folder) of one uninterrupted test-profile run, by the
    command line; its exit status is 0."""
    results = tmp_path_factory.mktemp('finished')
    out = subprocess.run(vox_run(results, 'whole'), cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    return results, results / EXP / 'whole'


def write_wavs(folder, names, seconds=1.0, rate=16000):
    folder.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    for i, name in enumerate(names):
        wave = 0.3 * np.sin(2 * np.pi * (110 + 15 * i) * t) * \
            (1 + 0.5 * np.sin(2 * np.pi * 3 * t))
        soundfile.write(str(folder / name), wave.astype(np.float32), rate)
    return [folder / n for n in names]


def write_manifest_rows(path, rows):
    path.write_text('path\tspeaker\tbirthplace\tsex\n' + ''.join(
        '\t'.join(map(str, r)) + '\n' for r in rows))
    return path


# 1 ---------------------------------------------------------------------------

def test_refused_second_launch_leaves_the_running_jobs_folder_alone(
        tmp_path):
    run_dir = folders.make_run_dir(tmp_path / EXP / 'busy')  # as the job did
    in_progress = run_dir / 'tmpsnapshot_iter_5'   # the job's snapshot write
    in_progress.mkdir()
    (in_progress / 'part').write_bytes(b'half a snapshot')
    with open(run_dir / '.lock', 'a') as held:     # the running job's lock
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        before = sorted(p.name for p in run_dir.iterdir())
        with pytest.raises(VoxError, match='in use by another vox process'):
            runner.run(EXP, profile='test', results=tmp_path,
                       run_name='busy')
    assert (in_progress / 'part').read_bytes() == b'half a snapshot'
    assert sorted(p.name for p in run_dir.iterdir()) == before


# 2 ---------------------------------------------------------------------------

def test_mismatched_resume_is_refused_and_writes_nothing(tmp_path):
    # A run of e19098ab under the smoke profile, with a snapshot, resumed by
    # RUN= under the test profile: refused before anything is written.
    run_dir = tmp_path / EXP / 'other'
    run_dir.mkdir(parents=True)
    recorded = to_dict(load_config(EXP, 'smoke'))
    recorded['corpus'] = {'manifest': 'm.tsv'}
    files = {'config.yaml': yaml.safe_dump(recorded, sort_keys=False),
             'labels.json': '{"speaker": ["x"]}', 'command.txt': 'vox run\n',
             'environment.json': '{}', 'snapshot_iter_3': 'not loaded'}
    for name, text in files.items():
        (run_dir / name).write_text(text)
    with pytest.raises(VoxError) as e:
        runner.run(EXP, profile='test', results=tmp_path, run_name='other')
    message = str(e.value)
    assert '(smoke)' in message and '(test)' in message, message
    assert 'nothing was written' in message
    for name, text in files.items():
        assert (run_dir / name).read_text() == text, name
    # RESUME= with a snapshot of another experiment's folder: the same.
    with pytest.raises(VoxError, match=r'e19098ab \(smoke\), not e19098ab '
                       r'\(test\)'):
        runner.run(EXP, profile='test', resume=str(run_dir /
                                                   'snapshot_iter_3'))
    for name, text in files.items():
        assert (run_dir / name).read_text() == text, name


# 3 ---------------------------------------------------------------------------

@pytest.mark.parametrize('command', ['convert', 'reconstruct'])
@pytest.mark.parametrize('how', ['same path', 'relative path', 'hard link'])
def test_output_equal_to_input_is_refused(tmp_path, monkeypatch, capsys,
                                          command, how):
    from vox.cli import main
    [source] = write_wavs(tmp_path, ['in.wav'])
    original = source.read_bytes()
    if how == 'same path':
        output = source
    elif how == 'relative path':
        (tmp_path / 'sub').mkdir()
        monkeypatch.chdir(tmp_path / 'sub')
        output = Path('..') / 'in.wav'
    else:
        output = tmp_path / 'link.wav'
        os.link(source, output)
    rc = main([command, '--run', str(tmp_path / 'no-run'), '--input',
               str(source), '--output', str(output)])
    assert rc == 2
    assert 'is the input' in capsys.readouterr().err
    assert source.read_bytes() == original


# 4 ---------------------------------------------------------------------------

@pytest.mark.parametrize('n_files', [3, 5, 10, 11])
@pytest.mark.parametrize('copies', [2, 3])
@pytest.mark.parametrize('fraction', [0.1, 0.3, 0.5])
def test_validation_and_training_files_are_disjoint(n_files, copies,
                                                    fraction):
    utts = [Utterance(Path(f'/c/{s}_{i}.wav'), s, 'x', 'M')
            for s in ('a', 'b') for i in range(n_files)]
    train, val = ds.split_by_utterance(utts * copies, fraction, seed=0)
    train_paths = [u.path for u in train]
    val_paths = [u.path for u in val]
    assert not set(train_paths) & set(val_paths)
    assert len(set(train_paths)) == len(train_paths)
    assert len(set(val_paths)) == len(val_paths)
    assert set(train_paths) | set(val_paths) == {u.path for u in utts}


def test_duplicate_rows_are_reported_by_prepare_and_dropped_by_training(
        tmp_path, capsys):
    wavs = write_wavs(tmp_path / 'wav', ['a0.wav', 'a1.wav'])
    rows = [(w.relative_to(tmp_path), 'a', 'x', 'M') for w in wavs]
    manifest = write_manifest_rows(tmp_path / 'manifest.tsv', rows + rows)
    listing = readers.read_corpus(f'manifest:{manifest}')
    assert [u.path for u in listing.utterances] == wavs
    again = [str(p) for p in listing.problems if 'again' in str(p)]
    assert len(again) == 2 and 'first at line 2' in again[0]
    # Training: each file once, said so; other labels for a file: refused.
    from vox.data.corpus.manifest import unique_utterances
    kept, dropped = unique_utterances(read_manifest(manifest))
    assert [u.path for u in kept] == wavs and len(dropped) == 2
    write_manifest_rows(manifest, rows + [(rows[0][0], 'b', 'x', 'M')])
    with pytest.raises(ValueError, match='listed twice with different'):
        unique_utterances(read_manifest(manifest))


# 5 ---------------------------------------------------------------------------

BAD_VALUES = [
    ('train', 'lr', -1e-4, 'train.lr'),
    ('train', 'lr', float('nan'), 'train.lr'),
    ('train', 'lr', float('inf'), 'train.lr'),
    ('train', 'batch_size', 0, 'train.batch_size'),
    ('train', 'epochs', 0, 'train.epochs'),
    ('report', 'snapshot_every', [1, 'epochs'], 'report.snapshot_every'),
    ('report', 'log_every', [0, 'epoch'], 'report.log_every'),
    ('report', 'samples_every', [2, 'iter'], 'report.samples_every'),
    ('report', 'snapshots_kept', 0, 'report.snapshots_kept'),
    ('data', 'crop_frames', 0, 'data.crop_frames'),
    ('data', 'validation_fraction', 0.0, 'data.validation_fraction'),
    ('data', 'validation_fraction', 1.0, 'data.validation_fraction'),
    ('data', 'scale', 'dB', 'data.scale'),
    ('model', 'width', 0.0, 'model.width'),
    (None, 'seed', -1, 'seed'),
]


@pytest.mark.parametrize('section,key,value,path', BAD_VALUES)
def test_every_value_is_range_checked_with_its_key(tmp_path, section, key,
                                                   value, path):
    raw = yaml.safe_load((REPO / f'experiments/{EXP}/config.yaml')
                         .read_text())
    (raw[section] if section else raw)[key] = value
    bad = tmp_path / 'config.yaml'
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as e:
        load_config(str(bad))
    assert f'config.yaml.{path}: must be' in str(e.value), str(e.value)


def test_base_is_checked_where_a_profile_overrides_the_value(tmp_path):
    raw = yaml.safe_load((REPO / f'experiments/{EXP}/config.yaml')
                         .read_text())
    raw['train']['lr'] = -1.0            # the smoke profile sets its own lr
    bad = tmp_path / 'config.yaml'
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r'config.yaml.train.lr: must be'):
        load_config(str(bad), 'smoke')


def test_batch_larger_than_the_training_set_is_refused(tmp_path):
    raw = yaml.safe_load((REPO / f'experiments/{EXP}/config.yaml')
                         .read_text())
    raw['profiles']['test']['train']['batch_size'] = 55  # 54 training crops
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump(raw))
    with pytest.raises(VoxError, match=r'train.batch_size 55 is larger than '
                       r'the 54 training crops'):
        runner.run(str(config), profile='test', results=tmp_path,
                   run_name='big')
    assert not (tmp_path / EXP).exists()  # and nothing left behind (12)


# 6 ---------------------------------------------------------------------------

def test_disk_full_keeps_the_previous_snapshot_and_says_how_to_resume(
        tmp_path, monkeypatch):
    from chainer.training.extensions import snapshot_writers
    original = snapshot_writers.Writer.save
    writes = []

    def full_disk_at_the_second_snapshot(self, filename, outdir, *args,
                                         **kwargs):
        writes.append(filename)
        if len(writes) == 2:  # as save_npz into the temp folder would fail
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC),
                          str(Path(outdir) / f'tmp{filename}'))
        return original(self, filename, outdir, *args, **kwargs)

    monkeypatch.setattr(snapshot_writers.Writer, 'save',
                        full_disk_at_the_second_snapshot)
    with pytest.raises(VoxError) as e:
        runner.run(EXP, profile='test', results=tmp_path, run_name='full')
    message = str(e.value)
    assert 'No space left on device' in message and 'tmpsnapshot_iter_11' \
        in message, message
    assert 'snapshot_iter_6 is kept' in message and 'rerun' in message
    assert (tmp_path / EXP / 'full' / 'snapshot_iter_6').is_file()


def test_cache_deleted_mid_extraction_is_one_line(tmp_path, monkeypatch):
    import shutil
    from vox.data import features
    wavs = write_wavs(tmp_path / 'wav', [f'{s}{i}.wav' for s in 'ab'
                                         for i in range(3)], seconds=5)
    manifest = write_manifest_rows(tmp_path / 'manifest.tsv', [
        (w.relative_to(tmp_path), w.stem[0], 'x', 'M') for w in wavs])
    cache = tmp_path / 'cache'
    monkeypatch.setenv('VOX_CACHE', str(cache))
    original = features.extract

    def delete_the_cache_first(path):
        shutil.rmtree(cache, ignore_errors=True)
        return original(path)

    monkeypatch.setattr(features, 'extract', delete_the_cache_first)
    with pytest.raises(VoxError) as e:
        runner.run(EXP, profile='test', results=tmp_path / 'results',
                   run_name='r', corpus=str(manifest))
    assert str(cache / 'features') in str(e.value), str(e.value)
    assert 'No such file or directory' in str(e.value)
    assert 'rerun the same command' in str(e.value)
    assert not (tmp_path / 'results' / EXP).exists()


def test_a_config_path_that_does_not_exist_is_one_line(tmp_path):
    with pytest.raises(ConfigError, match='cannot read the config'):
        runner.run(str(tmp_path / 'nowhere.yaml'))


# 7 ---------------------------------------------------------------------------

def test_corrupted_newest_snapshot_falls_back_to_one_that_loads(
        tmp_path, finished):
    import shutil
    _, whole = finished
    run_dir = tmp_path / EXP / 'damaged'
    shutil.copytree(whole, run_dir)
    (run_dir / 'summary.json').unlink()
    newest = run_dir / 'snapshot_iter_11'
    newest.write_bytes(newest.read_bytes()[:1000])        # cut by a crash
    out = subprocess.run(vox_run(tmp_path, 'damaged'), cwd=REPO,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'snapshot_iter_11 (' in out.stderr and \
        'resuming from the newest one that does, snapshot_iter_6' \
        in out.stderr
    assert 'resumed from snapshot_iter_6' in out.stdout
    assert training_log(run_dir) == training_log(whole)  # resumed exactly
    # None loads: an error naming each.
    for p in run_dir.glob('snapshot_iter_*'):
        p.write_bytes(b'garbage')
    with pytest.raises(VoxError) as e:
        runner.run(EXP, profile='test', results=tmp_path,
                   run_name='damaged')
    assert 'snapshot_iter_6 (' in str(e.value) and \
        'snapshot_iter_11 (' in str(e.value)


# 8 ---------------------------------------------------------------------------

def test_corpus_scan_survives_what_real_folders_hold(tmp_path):
    from vox.data.prepare import prepare
    corpus = tmp_path / 'corpus'
    wavs = write_wavs(corpus / 'wav', ['a0.wav', 'a1.wav', 'b0.wav',
                                       'b1.wav'], seconds=2)
    odd = os.fsencode(corpus / 'wav') + b'/caf\xe9'          # latin-1 names
    os.mkdir(odd)
    with open(odd + b'/\xe9t\xe9.wav', 'wb') as f:
        f.write(wavs[0].read_bytes())
    os.symlink('loop.wav', corpus / 'wav' / 'loop.wav')      # a link loop
    (corpus / 'wav' / 'folder.wav').mkdir()                  # a folder
    rows = [(w.relative_to(corpus), w.stem[0], 'x', 'M') for w in wavs]
    rows += [('wav/folder.wav', 'a', 'x', 'M'), ('wav/loop.wav', 'a', 'x',
                                                 'M'),
             ('wav/gone.wav', 'a', 'x', 'M')]
    write_manifest_rows(corpus / 'manifest.tsv', rows)
    cache = tmp_path / 'cache'
    report = prepare(str(corpus), cache, jobs=1, stream=io.StringIO())
    assert report['usable'] == 4
    problems = '\n'.join(report['metadata_problems'])
    assert 'folder.wav: listed at' in problems and 'is a folder' in problems
    assert 'loop.wav: listed at' in problems and 'symbolic link loop' \
        in problems
    assert 'gone.wav: listed at' in problems and 'does not exist' in problems
    assert problems.count('does not exist') == 1
    assert 'caf\\xe9' in problems    # the odd name, shown, not a crash
    assert not list(cache.glob('.*.tmp'))                 # no leftovers
    json.loads((cache / 'prepare-report.json').read_text(encoding='utf-8'))
    # Training's manifest reader says the same, one row at a time.
    with pytest.raises(ValueError, match='folder.wav is a folder'):
        read_manifest(write_manifest_rows(corpus / 'manifest.tsv',
                                          rows[:5]))


# 10 --------------------------------------------------------------------------

def test_sigterm_stops_with_a_snapshot_and_a_non_zero_status(tmp_path):
    with subprocess.Popen(vox_run(tmp_path, 'stopped'), cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True) as proc:
        for line in proc.stdout:
            if line.startswith('vox: wrote snapshot_iter_'):
                proc.send_signal(signal.SIGTERM)
                break
        _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, stderr[-2000:]
    assert 'SIGTERM: stopped at iteration' in stderr
    assert 'Traceback' not in stderr
    run_dir = tmp_path / EXP / 'stopped'
    assert list(run_dir.glob('snapshot_iter_*'))
    assert not (run_dir / 'summary.json').exists()


# 11 --------------------------------------------------------------------------

def test_single_class_groups_are_reported_and_a_one_speaker_gan_refused(
        tmp_path, capsys):
    wavs = write_wavs(tmp_path / 'wav', [f'{s}{i}.wav' for s in 'ab'
                                         for i in range(4)], seconds=5)
    manifest = write_manifest_rows(tmp_path / 'manifest.tsv', [
        (w.relative_to(tmp_path), w.stem[0], 'north', 'F') for w in wavs])
    from vox.data.sources import load_data
    config = load_config(EXP, 'test')
    data = load_data(config.data, config.seed, str(manifest))
    capsys.readouterr()
    runner.check_label_space(data.labels, 'classifier')
    err = capsys.readouterr().err
    assert 'single birthplace (north)' in err and 'single sex (F)' in err
    assert 'the sex head is trivial' in err and 'speaker' not in err
    one = write_manifest_rows(tmp_path / 'one.tsv', [
        (w.relative_to(tmp_path), 'a', 'north', 'F') for w in wavs])
    with pytest.raises(VoxError, match='one speaker .a.: a StarGAN'):
        runner.run('cfcefd21', profile='test', corpus=str(one),
                   results=tmp_path, run_name='gan')
    assert not (tmp_path / 'cfcefd21').exists()


# 12 --------------------------------------------------------------------------

def test_killed_generation_is_cleaned_on_the_next_start(tmp_path):
    from vox.data.corpus.synth import CorpusSpec, ensure_corpus, spec_hash
    spec = CorpusSpec()
    done = tmp_path / f'synth-{spec_hash(spec)}'
    done.mkdir()
    (done / 'manifest.tsv').write_text('path\tspeaker\n')
    killed = tmp_path / '.synth-0123.tmp-abc'
    (killed / 'wav').mkdir(parents=True)
    live = tmp_path / '.synth-4567.tmp-def'   # another process generating
    live.mkdir()
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert ensure_corpus(tmp_path, spec) == done / 'manifest.tsv'
        assert not killed.exists() and live.exists()
    finally:
        os.close(fd)


def test_a_run_failing_before_training_leaves_no_folder(tmp_path):
    with pytest.raises(VoxError, match='no such manifest'):
        runner.run(EXP, profile='test', results=tmp_path, run_name='r',
                   corpus=str(tmp_path / 'nowhere.tsv'))
    assert not (tmp_path / EXP).exists()
    # An existing run folder is never removed.
    (tmp_path / EXP / 'kept').mkdir(parents=True)
    with pytest.raises(VoxError):
        runner.run(EXP, profile='test', results=tmp_path, run_name='kept',
                   corpus=str(tmp_path / 'nowhere.tsv'))
    assert (tmp_path / EXP / 'kept').is_dir()


def test_unknown_corpus_kind_lists_the_kinds():
    with pytest.raises(VoxError) as e:
        readers.split_spec('vtck:/data/VCTK')
    assert "unknown corpus kind 'vtck'" in str(e.value)
    assert all(k in str(e.value) for k in readers.KINDS)
