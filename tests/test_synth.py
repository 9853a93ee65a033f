"""The built-in generated corpus (vox/data/corpus/synth.py)."""
import collections
import filecmp
import os

import numpy as np
import pytest
import pyworld
from scipy.io import wavfile

from vox.data.corpus import synth
from vox.data.corpus.manifest import read_manifest
from vox.data.corpus.synth import (MIN_SAMPLES, CorpusSpec, ensure_corpus,
                              generate_corpus)

TINY = CorpusSpec(birthplaces=2, speakers_per_cell=2, utterances_per_speaker=2)
ONE = CorpusSpec(birthplaces=1, speakers_per_cell=1, utterances_per_speaker=1)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp('tiny')
    return generate_corpus(out, TINY, workers=1)


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob('*') if p.is_file())


def test_deterministic(tiny, tmp_path):
    # Same spec -> byte-identical files, also when made by 2 processes.
    again = generate_corpus(tmp_path / 'again', TINY, workers=2)
    a, b = tiny.parent, again.parent
    assert _files(a) == _files(b)
    for rel in _files(a):
        assert filecmp.cmp(a / rel, b / rel, shallow=False), rel
    # A different seed -> different audio.
    x = generate_corpus(tmp_path / 's0', ONE, workers=1).parent
    y = generate_corpus(tmp_path / 's1', CorpusSpec(
        seed=1, birthplaces=1, speakers_per_cell=1,
        utterances_per_speaker=1), workers=1).parent
    wav = 'wav/spk01/spk01_01.wav'
    assert (x / wav).read_bytes() != (y / wav).read_bytes()


def test_label_balance(tiny):
    utts = read_manifest(tiny)
    root = tiny.parent
    assert len(utts) == 2 * 2 * 2 * 2
    listed = {u.path for u in utts}
    assert listed == set(root.glob('wav/*/*.wav'))
    per_speaker = collections.Counter(u.speaker for u in utts)
    assert set(per_speaker.values()) == {2}
    labels = {u.speaker: (u.birthplace, u.sex) for u in utts}
    for u in utts:                      # one label set per speaker
        assert labels[u.speaker] == (u.birthplace, u.sex)
        assert u.path.parent.name == u.speaker
        assert u.path.name.startswith(u.speaker + '_')
    cells = collections.Counter(labels.values())
    assert set(cells) == {(b, s) for b in ('north', 'south') for s in 'MF'}
    assert set(cells.values()) == {2}
    assert sorted(per_speaker) == [f'spk{i:02d}' for i in range(1, 9)]


def test_audio_format(tiny):
    for u in read_manifest(tiny):
        fs, x = wavfile.read(u.path)
        assert fs == 16000 and x.dtype == np.int16 and x.ndim == 1
        assert len(x) >= MIN_SAMPLES
        assert 4.5 * fs - 1 <= len(x) <= 6.0 * fs + 1
        peak = np.abs(x.astype(float)).max() / 32768
        assert 0.3 < peak < 1.0
        frames = x[:len(x) // 256 * 256].reshape(-1, 256).astype(float)
        assert (np.abs(frames).max(axis=1) > 0).all()   # no digital silence


def test_sex_is_audible(tiny):
    med = collections.defaultdict(list)
    for u in read_manifest(tiny):
        fs, x = wavfile.read(u.path)
        x = x.astype(np.float64) / 32768
        f0, t = pyworld.dio(x, fs)
        f0 = pyworld.stonemask(x, f0, t, fs)
        med[u.sex].append(np.median(f0[f0 > 0]))
    assert max(med['M']) < 150 < 170 < min(med['F'])
    assert np.median(med['F']) > 1.5 * np.median(med['M'])


def test_ensure_corpus_reuses_and_regenerates(tmp_path, capsys):
    m = ensure_corpus(tmp_path, ONE, workers=1)
    assert m.parent.name == f'synth-{synth.spec_hash(ONE)}'
    assert 'generating built-in corpus' in capsys.readouterr().err
    wav = next(m.parent.rglob('*.wav'))
    before = (m.stat().st_mtime_ns, wav.stat().st_mtime_ns)
    assert ensure_corpus(tmp_path, ONE, workers=1) == m
    assert (m.stat().st_mtime_ns, wav.stat().st_mtime_ns) == before
    assert capsys.readouterr().err == ''
    other = CorpusSpec(seed=7, birthplaces=1, speakers_per_cell=1,
                       utterances_per_speaker=1)
    m2 = ensure_corpus(tmp_path, other, workers=1)
    assert m2.parent != m.parent and m2.is_file()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith('.')] \
        == []


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def boom(out_dir, spec, workers=None):
        (out_dir / 'wav').mkdir()
        raise KeyboardInterrupt
    monkeypatch.setattr(synth, 'generate_corpus', boom)
    with pytest.raises(KeyboardInterrupt):
        ensure_corpus(tmp_path, ONE)
    assert os.listdir(tmp_path) == []


def test_spec_validation():
    with pytest.raises(ValueError):
        CorpusSpec(min_duration=4.0)
    with pytest.raises(ValueError):
        CorpusSpec(birthplaces=len(synth.BIRTHPLACES) + 1)
