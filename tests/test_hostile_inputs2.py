"""Hostile inputs, second sweep: hangs, runaway memory, damaged files,
signals and full disks.  Every case ends with a non-zero status, one line
saying what to do, no traceback, in seconds, and leaves every file that was
there before byte-identical (md5).

Cases that could hang or take all memory if the guard were missing run as
a subprocess under ``ulimit -v`` (RLIMIT_AS) with a timeout; reaching the
timeout is a failure, not a wait.  The rest run ``vox.cli.main`` in this
process, under an alarm where they could block (a FIFO).  Nothing here writes more than a few MB: the 2 GB WAV is a sparse
file (truncate), a full disk is RLIMIT_FSIZE (writes past the limit fail
as on a full disk, with EFBIG instead of ENOSPC).
"""
import gc
import hashlib
import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from vox.cli import main
from vox.config import load_config, to_dict
from vox.data import features
from vox.data.corpus.manifest import read_manifest

REPO = Path(__file__).resolve().parent.parent
EXP = 'e19098ab'
TIMEOUT = 120        # seconds; each guarded case answers in a few
MEMORY_CAP = 6 << 30  # RLIMIT_AS of the subprocess cases


# --- helpers -----------------------------------------------------------------

def fingerprint(root):
    """{path: md5} of every file under ``root`` (a sparse file over 100 MB:
    its size and mtime, not 2 GB of zeros read)."""
    out = {}
    for p in sorted(Path(root).rglob('*')):
        if p.is_file() and not p.is_symlink():
            st = p.stat()
            out[str(p)] = (st.st_size, st.st_mtime_ns) \
                if st.st_size > 100 << 20 else \
                hashlib.md5(p.read_bytes()).hexdigest()
    return out


def assert_kept(before, after):
    """Every file there before is there after, unchanged (new files may
    have been made: a cache, a report)."""
    changed = {p for p in before if after.get(p) != before[p]}
    assert not changed, changed


def one_line(err, status, rc):
    assert 'Traceback' not in err and 'Exception ignored' not in err, err
    assert rc == status, (rc, err)
    lines = [line for line in err.splitlines() if line.strip()
             and 'warning' not in line]
    errors = [line for line in lines if line.startswith('vox: error:')]
    assert len(errors) == 1, err
    return errors[0]


def vox(argv, env=None, cap=MEMORY_CAP, fsize=None, cwd=REPO):
    """``vox argv`` as a subprocess under ``ulimit -v cap`` (and a file size
    limit ``fsize``); a timeout fails the test."""
    def limits():
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        if fsize is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    try:
        return subprocess.run(
            [sys.executable, '-m', 'vox.cli', *argv], cwd=cwd,
            env={**os.environ, **(env or {})}, preexec_fn=limits,
            capture_output=True, text=True, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f'vox {" ".join(argv)} still running after {TIMEOUT} s')


class Hung(Exception):
    pass


def in_process(argv, capsys, alarm=TIMEOUT):
    """``vox argv`` in this process; still running after ``alarm`` seconds
    (SIGALRM, which also interrupts a blocked open) fails the test."""
    def hung(signum, frame):
        raise Hung()
    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(alarm)
    try:
        rc = main(argv)
    except Hung:
        pytest.fail(f'vox {" ".join(argv)} still running after {alarm} s')
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    return rc, capsys.readouterr().err


def write_wav(path, seconds=5.0, freq=150.0, rate=16000):
    t = np.arange(int(seconds * rate)) / rate
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * freq * t))
                    .astype(np.float32), rate)
    return path


def tiny_corpus(folder, speakers=4, per_speaker=4, seconds=5.0):
    """A manifest of ``speakers x per_speaker`` sine WAVs, enough for
    e19098ab's test profile (256-frame crops, batch 10)."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = ['path\tspeaker\tbirthplace\tsex']
    for s in range(speakers):
        for u in range(per_speaker):
            name = f's{s}_{u}.wav'
            write_wav(folder / name, seconds, 110 + 20 * s + 3 * u)
            rows.append(f'{name}\ts{s}\tb{s % 2}\t{"MF"[s % 2]}')
    manifest = folder / 'manifest.tsv'
    manifest.write_text('\n'.join(rows) + '\n')
    return manifest


def config_with(path, edit, exp=EXP):
    raw = yaml.safe_load((REPO / f'experiments/{exp}/config.yaml')
                         .read_text())
    edit(raw)
    path.write_text(yaml.safe_dump(raw))
    return path


def run_folder(tmp, exp_id='cfcefd21', config_text=None, labels_text=None):
    """A run folder as far as reading it back goes (no snapshot);
    ``config_text`` / ``labels_text`` replace its files (None: left out)."""
    run = tmp / 'results' / exp_id / 'r'
    run.mkdir(parents=True)
    good_config = yaml.safe_dump(to_dict(load_config(exp_id, 'test')))
    good_labels = json.dumps({'speaker': ['a', 'b'], 'birthplace': ['n'],
                              'sex': ['F', 'M']})
    for name, text, good in (('config.yaml', config_text, good_config),
                             ('labels.json', labels_text, good_labels)):
        text = good if text == 'good' else text
        if text is not None:
            (run / name).write_text(text)
    return run


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    """(manifest, cache) of a 16-file corpus whose features are cached."""
    root = tmp_path_factory.mktemp('tiny')
    manifest = tiny_corpus(root / 'wav')
    cache = root / 'cache'
    features.load_features(read_manifest(manifest), cache)
    return manifest, cache


# --- YAML: one loader with limits (alias bombs, nesting, FIFOs) -------------

def alias_bomb():
    """About 1 KB standing for 9**9 (387 million) strings."""
    lines = ['id: bomb', 'reference:',
             '  a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = 'a'
    for name in 'bcdefghi':
        lines.append(f'  {name}: &{name} [' + ','.join(
            [f'*{previous}'] * 9) + ']')
        previous = name
    return '\n'.join(lines) + '\n'


def test_yaml_alias_bomb_is_refused_at_once(tmp_path, capsys):
    config = tmp_path / 'bomb.yaml'
    config.write_text(alias_bomb())
    before = fingerprint(tmp_path)
    rc, err = in_process(['run', str(config), '--results',
                          str(tmp_path / 'results')], capsys, alarm=20)
    line = one_line(err, 2, rc)
    assert 'bomb.yaml' in line and 'aliases' in line
    assert_kept(before, fingerprint(tmp_path))


def test_yaml_nested_20000_deep_is_one_line(tmp_path, capsys):
    config = tmp_path / 'deep.yaml'
    config.write_text('id: x\nreference: ' + '[' * 20000 + ']' * 20000 + '\n')
    rc, err = in_process(['run', str(config)], capsys)
    assert 'deep.yaml' in one_line(err, 2, rc)


def test_config_path_a_fifo_is_refused_unopened(tmp_path, capsys):
    fifo = tmp_path / 'config.yaml'
    os.mkfifo(fifo)
    rc, err = in_process(['run', str(fifo), '--results',
                          str(tmp_path / 'results')], capsys, alarm=20)
    line = one_line(err, 2, rc)
    assert 'config.yaml' in line and 'not a regular file' in line


def test_manifest_a_fifo_is_refused_unopened(tmp_path, capsys,
                                             monkeypatch):
    fifo = tmp_path / 'manifest.tsv'
    os.mkfifo(fifo)
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    rc, err = in_process(['prepare', f'manifest:{fifo}'], capsys, alarm=20)
    line = one_line(err, 2, rc)
    assert 'manifest.tsv' in line and 'not a regular file' in line


def test_csj_xml_a_fifo_is_a_reported_problem_not_a_hang(tmp_path, capsys,
                                                         monkeypatch):
    (tmp_path / 'csj' / 'XML').mkdir(parents=True)
    os.mkfifo(tmp_path / 'csj' / 'XML' / 'A01M0001.xml')
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    rc, err = in_process(['prepare', f'csj:{tmp_path / "csj"}'], capsys,
                         alarm=20)
    assert rc == 2 and 'Traceback' not in err
    assert 'A01M0001.xml' in err and 'not a regular file' in err


# --- profiles and bases: a type check at every level -------------------------

def edit_profiles(value):
    def edit(raw):
        raw['profiles'] = value
    return edit


def edit_profile(name, value):
    def edit(raw):
        raw['profiles'][name] = value
    return edit


@pytest.mark.parametrize('case, edit, expected', [
    ('profiles a list', edit_profiles(['smoke']), "'profiles'"),
    ('profiles a string', edit_profiles('smoke'), "'profiles'"),
    ('a profile null', edit_profile('smoke', None), "profile 'smoke'"),
    ('a profile a list', edit_profile('smoke', [1, 2]), "profile 'smoke'"),
])
def test_profiles_of_the_wrong_type(case, edit, expected, tmp_path, capsys):
    config = config_with(tmp_path / 'config.yaml', edit)
    rc, err = in_process(['run', str(config), '--profile', 'smoke',
                          '--results', str(tmp_path / 'results')], capsys)
    assert expected in one_line(err, 2, rc)
    assert not (tmp_path / 'results').exists()


@pytest.mark.parametrize('base', ['config.yaml', ['a.yaml', 'b.yaml']])
def test_blurmask_base_naming_itself_or_a_list(base, tmp_path, capsys):
    config = tmp_path / 'config.yaml'
    config.write_text(yaml.safe_dump({'kind': 'blurmask', 'base': base}))
    rc, err = in_process(['run', str(config), '--results',
                          str(tmp_path / 'results')], capsys)
    assert "'base" in one_line(err, 2, rc)


def test_birthplaces_beyond_the_generator(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    config = config_with(tmp_path / 'config.yaml', lambda raw: raw['data']
        .setdefault('corpus', {}).update(birthplaces=50))
    rc, err = in_process(['run', str(config), '--profile', 'test',
                          '--results', str(tmp_path / 'results')], capsys)
    assert 'birthplaces' in one_line(err, 2, rc)
    assert not list((tmp_path / 'results').rglob('config.yaml'))


# --- sizes checked against memory before allocating -------------------------

def test_a_billion_utterances_per_speaker(tmp_path):
    config = config_with(tmp_path / 'config.yaml', lambda raw: raw['data']
        .setdefault('corpus', {}).update(utterances_per_speaker=10 ** 9))
    out = vox(['run', str(config), '--results', str(tmp_path / 'results')],
              env={'VOX_CACHE': str(tmp_path / 'cache')})
    line = one_line(out.stderr, 2, out.returncode)
    assert 'utterances_per_speaker' in line and 'memory' in line
    assert not (tmp_path / 'cache' / 'corpus').exists() or not any(
        (tmp_path / 'cache' / 'corpus').iterdir())


def sparse_wav(path, data_bytes):
    """A 16 kHz 16-bit WAV header declaring ``data_bytes`` of audio, made
    that long with a hole (no disk used)."""
    soundfile.write(str(path), np.zeros(16, np.int16), 16000,
                    subtype='PCM_16')
    head = bytearray(path.read_bytes()[:44])
    assert head[36:40] == b'data'
    head[4:8] = (36 + data_bytes).to_bytes(4, 'little')
    head[40:44] = data_bytes.to_bytes(4, 'little')
    with open(path, 'wb') as f:
        f.write(head)
    os.truncate(path, 44 + data_bytes)
    return path


def one_hertz_wav(path):
    """A WAV whose header says 1 Hz: 500,000 samples that resample to 8e9."""
    t = np.arange(500_000)
    soundfile.write(str(path), (0.3 * np.sin(t / 3)).astype(np.float32), 1,
                    subtype='PCM_16')
    return path


@pytest.mark.parametrize('make', [
    lambda p: sparse_wav(p, 2_000_000_000), one_hertz_wav],
    ids=['2 GB sparse', '1 Hz header'])
def test_a_wav_too_big_to_read_is_refused_from_its_header(make, tmp_path):
    run = run_folder(tmp_path, config_text='good', labels_text='good')
    source = make(tmp_path / 'in.wav')
    before = fingerprint(tmp_path)
    out = vox(['convert', '--run', str(run), '--input', str(source),
               '--output', str(tmp_path / 'out.wav')])
    line = one_line(out.stderr, 2, out.returncode)
    assert 'in.wav' in line and 'memory' in line
    assert_kept(before, fingerprint(tmp_path))
    assert not (tmp_path / 'out.wav').exists()


def test_validation_crops_beyond_memory(tmp_path, corpus):
    manifest, cache = corpus
    config = config_with(tmp_path / 'config.yaml', lambda raw: raw[
        'data'].update(validation_crops=10 ** 7))
    out = vox(['run', str(config), '--profile', 'test', '--corpus',
               str(manifest), '--results', str(tmp_path / 'results')],
              env={'VOX_CACHE': str(cache)})
    assert 'data.validation_crops' in one_line(out.stderr, 2,
                                               out.returncode)
    assert not list((tmp_path / 'results').rglob('config.yaml'))


def test_model_width_beyond_memory(tmp_path, corpus):
    manifest, cache = corpus
    config = config_with(tmp_path / 'config.yaml', lambda raw: raw[
        'profiles']['test']['model'].update(width=2000))
    out = vox(['run', str(config), '--profile', 'test', '--corpus',
               str(manifest), '--results', str(tmp_path / 'results')],
              env={'VOX_CACHE': str(cache)})
    assert 'model.width 2000' in one_line(out.stderr, 2, out.returncode)
    assert not list((tmp_path / 'results').rglob('config.yaml'))


def test_prepare_starts_no_more_workers_than_files(tmp_path, capsys,
                                                   monkeypatch):
    manifest = tiny_corpus(tmp_path / 'wav', speakers=2, per_speaker=1,
                           seconds=1.0)
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    main(['prepare', f'manifest:{manifest}', '--jobs', '200'])
    assert '2 to prepare on 2 process(es)' in capsys.readouterr().err


# --- the feature cache: damaged entries, killed writers ----------------------

def test_damaged_cache_entry_is_recomputed_and_said(tmp_path, capsys):
    utterances = read_manifest(tiny_corpus(tmp_path / 'wav', speakers=1,
                                           per_speaker=2, seconds=1.0))
    cache = tmp_path / 'cache'
    first = features.load_features(utterances, cache)
    entry = features.cache_file(cache, utterances[0].path)
    entry.write_bytes(entry.read_bytes()[:100])  # cut as by a crash
    capsys.readouterr()
    again = features.load_features(utterances, cache)
    err = capsys.readouterr().err
    assert 'damaged' in err and entry.name in err and 'recomputing' in err
    np.testing.assert_array_equal(again[0].magnitude, first[0].magnitude)
    with np.load(entry) as z:  # rewritten whole
        np.testing.assert_array_equal(z['magnitude'], first[0].magnitude)


def test_a_killed_writers_temp_file_is_removed_by_the_next_run(tmp_path):
    utterances = read_manifest(tiny_corpus(tmp_path / 'wav', speakers=1,
                                           per_speaker=1, seconds=1.0))
    folder = tmp_path / 'cache' / 'features'
    folder.mkdir(parents=True)
    left = folder / '.4194304.abcdefgh.tmp'  # nobody holds its flock
    left.write_bytes(b'PK half an entry')
    features.load_features(utterances, tmp_path / 'cache')
    assert not left.exists()


# --- a full disk: one line, the right disk -----------------------------------

def test_full_cache_disk_names_the_cache(tmp_path):
    manifest = tiny_corpus(tmp_path / 'wav')
    before = fingerprint(tmp_path)
    cache = tmp_path / 'cache'
    out = vox(['run', EXP, '--profile', 'test', '--corpus', str(manifest),
               '--results', str(tmp_path / 'results')],
              env={'VOX_CACHE': str(cache)}, fsize=100_000)
    line = one_line(out.stderr, 2, out.returncode)
    assert str(cache) in line and 'VOX_CACHE' in line
    assert_kept(before, fingerprint(tmp_path))
    assert not list((cache / 'features').glob('.*.tmp'))


def test_full_results_disk_is_one_line_and_nothing_after(tmp_path, corpus):
    manifest, cache = corpus
    results = tmp_path / 'results'
    out = vox(['run', EXP, '--profile', 'test', '--corpus', str(manifest),
               '--results', str(results)],
              env={'VOX_CACHE': str(cache)}, fsize=1_000_000)
    line = one_line(out.stderr, 2, out.returncode)
    assert str(results) in line and 'free space' in line
    assert out.stderr.rstrip().splitlines()[-1] == line  # nothing after it


def test_save_npz_closes_its_archive_on_a_failed_write(tmp_path):
    from vox.base.npz import save_npz
    caught = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = caught.append
    old = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, old[1]))
    try:
        with pytest.raises(OSError):
            save_npz(str(tmp_path / 's.npz'),
                     {'w': np.random.RandomState(0).rand(100_000)})
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old)
        signal.signal(signal.SIGXFSZ, old_handler)
        gc.collect()
        sys.unraisablehook = previous_hook
    assert caught == []


# --- signals -----------------------------------------------------------------

def test_sigterm_during_feature_extraction(tmp_path):
    manifest = tiny_corpus(tmp_path / 'wav', speakers=4, per_speaker=6)
    results, cache = tmp_path / 'results', tmp_path / 'cache'
    before = fingerprint(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, '-m', 'vox.cli', 'run', EXP, '--profile', 'test',
         '--corpus', str(manifest), '--results', str(results)], cwd=REPO,
        env={**os.environ, 'VOX_CACHE': str(cache)}, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen = ''
    while 'extracting features' not in seen:  # the first file is done
        char = proc.stderr.read(1)
        assert char, seen
        seen += char
    proc.send_signal(signal.SIGTERM)
    try:
        _, rest = proc.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail('SIGTERM did not stop feature extraction')
    err = seen + rest
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert 'Traceback' not in err and 'SIGTERM' in err
    assert not list(results.rglob('*')), list(results.rglob('*'))
    assert not list((cache / 'features').glob('.*.tmp'))
    assert_kept(before, fingerprint(tmp_path))


# --- run folders read back: convert, evaluate --------------------------------

BAD_RUN_FILES = {
    'config empty': ('', 'good', 'config.yaml'),
    'config invalid': ('id: [unclosed\n', 'good', 'config.yaml'),
    'labels missing': ('good', None, 'labels.json'),
    'labels garbage': ('good', '\x00\x01 not json', 'labels.json'),
    'labels wrong shape': ('good', '["a", "b"]', 'labels.json'),
}


@pytest.mark.parametrize('command', ['convert', 'evaluate'])
@pytest.mark.parametrize('case', sorted(BAD_RUN_FILES))
def test_damaged_run_folder_is_one_line(case, command, tmp_path, capsys):
    config_text, labels_text, named = BAD_RUN_FILES[case]
    run = run_folder(tmp_path, config_text=config_text,
                     labels_text=labels_text)
    source = write_wav(tmp_path / 'in.wav')
    before = fingerprint(tmp_path)
    argv = (['convert', '--run', str(run), '--input', str(source),
             '--output', str(tmp_path / 'out.wav')] if command == 'convert'
            else ['evaluate', str(run), '--out', str(tmp_path / 'eval')])
    rc, err = in_process(argv, capsys)
    assert named in one_line(err, 2, rc)
    assert_kept(before, fingerprint(tmp_path))


@pytest.mark.parametrize('output', ['out', 'out.mp3'])
def test_convert_output_format_refused_before_the_model(output, tmp_path,
                                                        capsys):
    run = run_folder(tmp_path, config_text='good', labels_text='good')
    source = write_wav(tmp_path / 'in.wav')
    rc, err = in_process(['convert', '--run', str(run), '--input',
                          str(source), '--output', str(tmp_path / output)],
                         capsys)
    line = one_line(err, 2, rc)
    assert f'--output {tmp_path / output}' in line and '.wav' in line


def cupy_importable():
    try:
        import cupy  # noqa: F401
    except Exception:
        return False
    return True


@pytest.mark.parametrize('command, device, expected', [
    ('convert', 'garbage', 'DEVICE=garbage'),
    pytest.param('convert', '@cupy:0', 'CuPy', marks=pytest.mark.skipif(
        cupy_importable(), reason='CuPy is installed here')),
    ('evaluate', '@cupy:7', '@cupy:7'),
])
def test_device_problems_are_one_line(command, device, expected, tmp_path,
                                      capsys):
    run = run_folder(tmp_path, config_text='good', labels_text='good')
    source = write_wav(tmp_path / 'in.wav')
    argv = (['convert', '--run', str(run), '--input', str(source),
             '--output', str(tmp_path / 'out.wav')] if command == 'convert'
            else ['evaluate', str(run)])
    rc, err = in_process(argv + ['--device', device], capsys)
    assert expected in one_line(err, 2, rc)


# --- evaluate's options, blurmask-summary's inputs ---------------------------

def test_evaluate_seed_negative(tmp_path, capsys):
    run = run_folder(tmp_path, config_text='good', labels_text='good')
    rc, err = in_process(['evaluate', str(run), '--seed', '-1'], capsys)
    assert '--seed -1' in one_line(err, 2, rc)


def test_evaluate_out_an_existing_file_refused_first(tmp_path, capsys):
    run = run_folder(tmp_path, config_text='good', labels_text='good')
    mine = tmp_path / 'notes.txt'
    mine.write_text('my notes\n')
    before = fingerprint(tmp_path)
    rc, err = in_process(['evaluate', str(run), '--out', str(mine)], capsys)
    assert f'--out {mine}' in one_line(err, 2, rc)
    assert_kept(before, fingerprint(tmp_path))


@pytest.mark.parametrize('text', ['garbage{', '{"id": 5}', '[1, 2]'])
def test_blurmask_summary_with_a_bad_summary_json(text, tmp_path, capsys):
    summary = tmp_path / 'blurmask-5' / 'r' / 'summary.json'
    summary.parent.mkdir(parents=True)
    summary.write_text(text)
    before = fingerprint(tmp_path)
    rc, err = in_process(['blurmask-summary', str(tmp_path), '--out',
                          str(tmp_path / 'table.md')], capsys)
    assert str(summary) in one_line(err, 2, rc)
    assert_kept(before, fingerprint(tmp_path))
