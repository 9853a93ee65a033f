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
