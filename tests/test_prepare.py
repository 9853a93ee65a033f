"""``vox prepare``: bad input reported not fatal; interrupted runs resume."""
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

import vox  # noqa: F401
from vox.cli import main as cli
from vox.base.errors import VoxError
from vox.data.audio import load_checked
from vox.data.prepare import prepare

RNG = np.random.default_rng(7)


def voice(seconds=1.3, rate=16000, f0=140.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * f0 * t)
            + 0.01 * RNG.standard_normal(t.size)).astype(np.float32)


def write(path, x, rate=16000, subtype='PCM_16', fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), x, rate, subtype=subtype, format=fmt)
    return path


def fuzz_corpus(root):
    """(manifest, {name: expected section}) with good and bad files."""
    good = {
        'g16.wav': write(root / 'g16.wav', voice()),
        'g24k_stereo_24bit.wav': write(
            root / 'g24k_stereo_24bit.wav',
            np.stack([voice(rate=24000)] * 2, 1), 24000, 'PCM_24'),
        'g8bit.wav': write(root / 'g8bit.wav', voice(), subtype='PCM_U8'),
        'gfloat48k.wav': write(root / 'gfloat48k.wav', voice(rate=48000),
                               48000, 'FLOAT'),
        'g.flac': write(root / 'g.flac', voice(rate=22050), 22050),
        'g6ch.wav': write(root / 'g6ch.wav', np.stack([voice()] * 6, 1)),
        'clipped.wav': write(root / 'clipped.wav',
                             np.clip(voice() * 8, -1, 1)),
    }
    bad = {}
    trunc = write(root / 'truncated.wav', voice())
    trunc.write_bytes(trunc.read_bytes()[:20000])
    bad['truncated.wav'] = 'truncated'
    (root / 'empty.wav').write_bytes(b'')
    bad['empty.wav'] = 'zero-length'
    write(root / 'silent.wav', np.zeros(30000, np.float32))
    bad['silent.wav'] = 'all silent'
    nan = voice()
    nan[100] = np.nan
    write(root / 'nan.wav', nan, subtype='FLOAT')
    bad['nan.wav'] = 'NaN or infinite'
    inf = voice()
    inf[5] = np.inf
    write(root / 'inf.wav', inf, subtype='DOUBLE')
    bad['inf.wav'] = 'NaN or infinite'
    (root / 'random.wav').write_bytes(RNG.bytes(5000))
    bad['random.wav'] = 'unreadable'
    (root / 'random.flac').write_bytes(RNG.bytes(5000))
    bad['random.flac'] = 'unreadable'
    (root / 'riff_garbage.wav').write_bytes(
        b'RIFF\x10\x00\x00\x00WAVEfmt ' + RNG.bytes(3000))
    bad['riff_garbage.wav'] = 'unreadable'
    write(root / 'short.wav', voice(seconds=0.3))
    write(root / 'unlisted.wav', voice())
    rows = ['path\tspeaker\tbirthplace\tsex']
    names = list(good) + list(bad) + ['short.wav', 'missing.wav']
    for i, name in enumerate(names):
        spk = f's{i % 3}'
        sex = 'M' if spk != 's2' else ('F' if i % 2 else 'M')
        rows.append(f'{name}\t{spk}\tb{i % 2}\t{sex}')
    (root / 'manifest.tsv').write_text('\n'.join(rows) + '\n')
    return root / 'manifest.tsv', good, bad


def test_fuzz_prepare(tmp_path, capsys):
    manifest, good, bad = fuzz_corpus(tmp_path / 'c')
    report = prepare(f'manifest:{manifest}', tmp_path / 'cache', jobs=2)
    reasons = {Path(s['path']).name: s['reason'] for s in report['skipped']}
    assert set(reasons) == set(bad)
    for name, why in bad.items():
        assert why in reasons[name], (name, reasons[name])
        assert name in reasons[name]                  # names the file
    assert report['usable'] == len(good)
    assert [Path(s['path']).name for s in report['too_short']] == [
        'short.wav']
    notes = {(Path(w['path']).name, w['note'].split(' ')[0])
             for w in report['warnings']}
    assert ('g24k_stereo_24bit.wav', '2') in notes      # 2 channels mixed
    assert ('g24k_stereo_24bit.wav', 'resampled') in notes
    assert ('g6ch.wav', '6') in notes
    assert ('clipped.wav', 'clipping:') in notes
    problems = '\n'.join(report['metadata_problems'])
    assert 'missing.wav' in problems and 'unlisted.wav' in problems
    assert 'two sexes' in problems
    assert sum(report['counts']['speaker'].values()) == len(good)
    saved = json.loads((tmp_path / 'cache' / 'prepare-report.json')
                       .read_text())
    assert saved['usable'] == len(good)
    text = (tmp_path / 'cache' / 'prepare-report.txt').read_text()
    assert 'skipped files (8)' in text and 'per sex' in text
    assert 'warning: clipping: 1 file(s)' in text
    # second run: everything usable comes from the cache
    capsys.readouterr()
    again = prepare(f'manifest:{manifest}', tmp_path / 'cache', jobs=1)
    assert again['usable'] == len(good)
    assert f'{len(good) + 1} already cached' in capsys.readouterr().err


def test_training_loader_uses_the_same_checks(tmp_path):
    from vox.data.corpus.manifest import Utterance
    from vox.data.features import load_features
    manifest, good, bad = fuzz_corpus(tmp_path / 'c')
    utts = [Utterance(tmp_path / 'c' / n, 's') for n in ('nan.wav', 'g16.wav')]
    f = load_features(utts, tmp_path / 'cache')
    assert f[0].magnitude.shape == (0, 256) and f[1].magnitude.shape[0] > 64
    with pytest.raises(Exception, match='NaN'):
        load_checked(tmp_path / 'c' / 'nan.wav')


def test_nothing_usable(tmp_path, monkeypatch, capsys):
    (tmp_path / 'c').mkdir()
    (tmp_path / 'c' / 'x.wav').write_bytes(b'junk')
    (tmp_path / 'c' / 'manifest.tsv').write_text('path\tspeaker\nx.wav\ts\n')
    with pytest.raises(VoxError, match='nothing usable'):
        prepare(str(tmp_path / 'c'), tmp_path / 'cache', jobs=1)
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache2'))
    assert cli(['prepare', str(tmp_path / 'c'), '-j', '1']) != 0
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith('vox: error:') and 'nothing usable' in last


def _cache_state(cache):
    d = Path(cache) / 'features'
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


def _run(cache, manifest, **kw):
    env = dict(os.environ, VOX_CACHE=str(cache))
    return subprocess.Popen(
        [sys.executable, '-m', 'vox.cli', 'prepare', f'manifest:{manifest}',
         '-v', '-j', '2'], env=env, stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL, text=True, start_new_session=True, **kw)


def test_killed_prepare_resumes_to_identical_cache(tmp_path):
    root = tmp_path / 'c'
    rows = ['path\tspeaker\tsex']
    for i in range(24):
        write(root / f'{i}.wav', voice(seconds=6, f0=100 + 5 * i))
        rows.append(f'{i}.wav\ts{i % 4}\t{"MF"[i % 2]}')
    (root / 'manifest.tsv').write_text('\n'.join(rows) + '\n')
    manifest = root / 'manifest.tsv'

    full = _run(tmp_path / 'full', manifest)
    full.communicate()
    assert full.returncode == 0

    p = _run(tmp_path / 'killed', manifest)
    for line in p.stdout:
        if line.startswith('prepared '):
            os.killpg(p.pid, signal.SIGKILL)
            break
    p.wait()
    p.stdout.close()
    npz = [f for f in (tmp_path / 'killed' / 'features').iterdir()
           if f.suffix == '.npz']
    assert 1 <= len(npz) < 24          # really interrupted midway
    again = _run(tmp_path / 'killed', manifest)
    out, _ = again.communicate()
    assert again.returncode == 0
    assert out.count('prepared ') == 24 - len(npz)   # only the rest redone
    assert _cache_state(tmp_path / 'killed') == _cache_state(
        tmp_path / 'full')


# --- real corpus layouts: the per-speaker table and what was not placed ------

def _table(text):
    """{speaker: (found, usable, too short, rejected, label)} from the
    report's per-speaker table."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith('  table of speakers ('))
    out = {}
    for line in lines[start + 2:]:
        if not line.startswith('    '):
            break
        cells = line.split()
        out[cells[0]] = (tuple(int(c) for c in cells[1:5]),
                         ' '.join(cells[5:]))
    return out


def test_prepare_csj_dialogue_dvd_and_shift_jis(tmp_path, monkeypatch,
                                                capsys):
    """`vox prepare csj:` on a tree with a dialogue, a DVD-layout talk and a
    Shift_JIS declaration: no traceback, both dialogue speakers counted."""
    from corpus_fixtures import make_csj
    root = make_csj(tmp_path / 'CSJ')
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    assert cli(['prepare', f'csj:{root}', '-j', '1']) == 0
    err = capsys.readouterr().err
    assert 'Traceback' not in err
    table = _table(err)
    assert table == {
        '0001': ((1, 1, 0, 0), '北海道 / F'),
        '0097': ((6, 6, 0, 0), '東京都 / M'),   # 3 + 3 segments, two talks
        '0567': ((1, 1, 0, 0), '京都府 / M'),   # dialogue, channel R
        '1234': ((2, 2, 0, 0), '大阪府 / F')}   # dialogue, channel L
    placed = err[err.index('could not be placed'):].splitlines()
    assert placed[0] == 'could not be placed (4 in 3 group(s)):'
    assert len(placed) == 4
    assert sum('2 x dialogue channels without their own speaker labels'
               in line and 'D02M0003' in line for line in placed) == 1


@pytest.mark.parametrize('release', ['0.80', '0.92'])
def test_prepare_vctk_table(tmp_path, capsys, release):
    from corpus_fixtures import make_vctk_080, make_vctk_092
    root = (make_vctk_080 if release == '0.80' else make_vctk_092)(
        tmp_path / 'VCTK', samples=8000)
    report = prepare(f'vctk:{root}', tmp_path / 'cache', jobs=1,
                     crop_frames=16)
    table = _table(capsys.readouterr().err)
    expected = {'p225': 'English / F', 'p248': 'Indian / F',
                'p280': '- / F', 'p326': 'Australian English / M'}
    if release == '0.80':
        expected.update({'p335': 'NewZealand English / F',
                         'p374': 'Australian English / M',
                         'p376': 'Indian / M'})
    else:
        expected.update({'p362': 'American / F', 's5': 'British / F'})
    assert {k: v[1] for k, v in table.items()} == expected
    assert {v[0] for v in table.values()} == {(2, 2, 0, 0)}
    assert report['usable'] == 2 * len(expected)


def test_prepare_jvs_table(tmp_path, capsys):
    from corpus_fixtures import make_jvs
    make_jvs(tmp_path / 'jvs', samples=8000)
    prepare(f'jvs:{tmp_path / "jvs"}', tmp_path / 'cache', jobs=1,
            crop_frames=16)
    assert _table(capsys.readouterr().err) == {
        'jvs030': ((3, 3, 0, 0), '- / M'), 'jvs058': ((4, 4, 0, 0), '- / F'),
        'jvs074': ((4, 4, 0, 0), '- / M'), 'jvs089': ((4, 4, 0, 0), '- / F')}


def test_table_counts_too_short_and_rejected(tmp_path, capsys):
    root = tmp_path / 'c'
    write(root / 'a.wav', voice())
    write(root / 'b.wav', voice(seconds=0.3))
    (root / 'c.wav').write_bytes(b'junk')
    (root / 'manifest.tsv').write_text(
        'path\tspeaker\tbirthplace\tsex\na.wav\ts1\tx\t男\nb.wav\ts1\tx\tM\n'
        'c.wav\ts1\tx\tM\n')
    prepare(str(root), tmp_path / 'cache', jobs=1)
    assert _table(capsys.readouterr().err) == {
        's1': ((3, 1, 1, 1), 'x / M')}


def test_unlisted_folder_is_one_line(tmp_path, capsys):
    """A folder the manifest leaves out on purpose: one line with a count."""
    root = tmp_path / 'c'
    write(root / 'a.wav', voice())
    for i in range(30):
        write(root / 'prompts' / f'p{i}.wav', voice(seconds=0.02))
    (root / 'manifest.tsv').write_text('path\tspeaker\na.wav\ts\n')
    report = prepare(str(root), tmp_path / 'cache', jobs=1)
    assert len(report['metadata_problems']) == 30
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if 'prompts' in line]
    assert len(lines) == 1
    assert '30 x audio file without metadata (not listed)' in lines[0]


def test_ten_thousand_duplicate_rows_are_one_line(tmp_path, capsys):
    root = tmp_path / 'c'
    write(root / 'a.wav', voice())
    (root / 'manifest.tsv').write_text(
        'path\tspeaker\n' + 'a.wav\ts\n' * 10000)
    report = prepare(str(root), tmp_path / 'cache', jobs=1)
    assert len(report['metadata_problems']) == 9999   # the JSON keeps each
    err = capsys.readouterr().err
    dup = [line for line in err.splitlines() if 'a.wav' in line
           or 'already listed' in line]
    assert len(dup) == 1, dup[:3]
    assert '9999 x rows listing a file already listed' in dup[0]
    assert len(err.splitlines()) < 30


def test_unlisted_audio_walk_is_bounded(tmp_path, monkeypatch):
    from vox.data.corpus import readers
    root = tmp_path / 'c'
    write(root / 'a.wav', voice())
    for i in range(60):
        (root / 'other' / f'{i:02d}').mkdir(parents=True)
    (root / 'manifest.tsv').write_text('path\tspeaker\na.wav\ts\n')
    monkeypatch.setattr(readers, 'UNLISTED_SCAN_LIMIT', 50)
    got = readers.read_corpus(str(root))
    assert [u.path.name for u in got.utterances] == ['a.wav']
    assert [p.reason for p in got.problems] == [
        "more than 50 entries below the manifest's folder: stopped looking "
        "for audio it does not list"]


def test_manifest_at_filesystem_root_is_not_walked():
    """A manifest stored at / must not make vox walk the filesystem: the
    walk is refused at once (run in a child so a regression times out)."""
    code = ('from pathlib import Path\n'
            'from vox.data.corpus import readers\n'
            'listing = readers.Listing("manifest", Path("/"))\n'
            'readers._report_unlisted(listing, Path("/"), set())\n'
            'print(listing.problems[0].reason)\n')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-500:]
    assert 'top of a filesystem' in done.stdout


def test_vctk_tab_or_newline_in_a_file_name(tmp_path, capsys, monkeypatch):
    """Training reads VCTK through resolve_corpus: an odd file name is one
    grouped line, not a traceback from writing the manifest."""
    from corpus_fixtures import make_vctk_092, tone
    from vox.config import CorpusConfig
    from vox.data.corpus.manifest import read_manifest
    from vox.data.sources import resolve_corpus
    base = make_vctk_092(tmp_path / 'v')
    for odd in ('p225_0\t03_mic1.flac', 'p225_0\n04_mic1.flac'):
        tone(base / 'wav48_silence_trimmed' / 'p225' / odd, rate=48000)
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    manifest = resolve_corpus(f'vctk:{base}', CorpusConfig(), 0)  # no raise
    assert len(read_manifest(manifest)) == 12
    err = capsys.readouterr().err
    odd = [line for line in err.splitlines() if 'tab or a line break' in line]
    assert len(odd) == 1 and '2 x file name holds a tab' in odd[0]
