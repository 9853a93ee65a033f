"""Corpus readers on tiny fake corpora written in the real layouts."""
from pathlib import Path

import numpy as np
import pytest
import soundfile

import vox  # noqa: F401
from vox.data.corpus import readers
from vox.data.corpus.manifest import read_manifest


def tone(path, rate=16000, seconds=1.3, channels=1, subtype='PCM_16',
         f0=140.0):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(rate * seconds)) / rate
    x = 0.3 * np.sin(2 * np.pi * f0 * t) * (1 + 0.3 * np.sin(2 * np.pi * 3 * t))
    x = x + 0.01 * np.random.default_rng(0).standard_normal(t.size)
    if channels > 1:
        x = np.stack([x] * channels, axis=1)
    soundfile.write(str(path), x, rate, subtype=subtype)
    return path


def make_jvs(root):
    base = root / 'jvs_ver1'
    base.mkdir(parents=True)
    (base / 'gender_f0range.txt').write_text(
        'speaker Male_or_Female minf0[Hz] maxf0[Hz]\n'
        'jvs001 M 70 270\njvs002 F 130 400\n')
    for spk in ('jvs001', 'jvs002', 'jvs003'):
        tone(base / spk / 'parallel100' / 'wav24kHz16bit' /
             'VOICEACTRESS100_001.wav', rate=24000)
        tone(base / spk / 'nonpara30' / 'wav24kHz16bit' /
             'BASIC5000_0001.wav', rate=24000)
        tone(base / spk / 'whisper10' / 'wav24kHz16bit' /
             'BASIC5000_0002.wav', rate=24000)
    return root


def make_vctk_080(root):
    base = root / 'VCTK-Corpus'
    base.mkdir(parents=True)
    (base / 'speaker-info.txt').write_text(
        'ID  AGE  GENDER  ACCENTS  REGION\n'
        '225  23  F    English    Southern  England\n'
        '226  22  M    English    Surrey\n')
    for spk in ('p225', 'p226', 'p999'):
        for n in (1, 2):
            tone(base / 'wav48' / spk / f'{spk}_00{n}.wav', rate=48000)
    return root


def make_vctk_092(root):
    base = root
    (base / 'speaker-info.txt').parent.mkdir(parents=True, exist_ok=True)
    (base / 'speaker-info.txt').write_text(
        'ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n'
        'p225  23  F    English    Southern  England\n'
        'p280  25  F    France     (mic2 files unavailable)\n'
        'p226  22  M    English    Surrey\n')
    for spk in ('p225', 'p226', 'p280'):
        for mic in ('mic1', 'mic2'):
            tone(base / 'wav48_silence_trimmed' / spk /
                 f'{spk}_001_{mic}.flac', rate=48000, subtype='PCM_24')
    return root


def make_csj(root):
    talks = {'A01M0097': ('M0097', '男', '東京都'),
             'S01F0001': ('F0001', '女', '大阪府'),
             'A02M0098': ('M0098', '男', '北海道')}
    for talk, (spk, sex, place) in talks.items():
        part = 'core' if talk.startswith('A01') else 'noncore'
        x = root / 'XML' / 'BaseXML' / part / f'{talk}.xml'
        x.parent.mkdir(parents=True, exist_ok=True)
        x.write_text(
            f'<?xml version="1.0" encoding="UTF-8"?>\n<Talk TalkID="{talk}" '
            f'SpeakerID="{spk}" SpeakerSex="{sex}" SpeakerBirthPlace="{place}">'
            f'<IPU IPUID="0001"/></Talk>\n', encoding='utf-8')
        if talk != 'A02M0098':                     # metadata, no audio
            tone(root / 'WAV' / part / f'{talk}.wav')
    tone(root / 'WAV' / 'noncore' / 'D01F0002.wav')  # audio, no metadata
    return root


def test_manifest_tsv_and_csv(tmp_path):
    a = tone(tmp_path / 'a.wav')
    b = tone(tmp_path / 'sub' / 'b.flac')
    tone(tmp_path / 'unlisted.wav')
    (tmp_path / 'm.tsv').write_text(
        'path\tspeaker\nsub/b.flac\ts2\na.wav\ts1\nmissing.wav\ts1\n')
    got = readers.read_corpus(f'manifest:{tmp_path / "m.tsv"}')
    assert [(u.path, u.speaker, u.birthplace, u.sex)
            for u in got.utterances] == [(b.resolve(), 's2', None, None),
                                         (a.resolve(), 's1', None, None)]
    text = '\n'.join(map(str, got.problems))
    assert 'missing.wav' in text and 'does not exist' in text
    assert 'unlisted.wav' in text and 'without metadata' in text
    (tmp_path / 'm.csv').write_text(
        'speaker,sex,path,birthplace,extra\ns1,female,a.wav,"x, y",1\n'
        's2,M,sub/b.flac,z,2\n')
    got = readers.read_corpus(str(tmp_path / 'm.csv'))
    assert [(u.speaker, u.birthplace, u.sex) for u in got.utterances] == [
        ('s1', 'x, y', 'F'), ('s2', 'z', 'M')]


def test_two_sexes_settled_and_reported(tmp_path):
    for i in range(3):
        tone(tmp_path / f'{i}.wav')
    (tmp_path / 'manifest.tsv').write_text(
        'path\tspeaker\tsex\n0.wav\ts\tM\n1.wav\ts\tF\n2.wav\ts\tM\n')
    got = readers.read_corpus(str(tmp_path))
    assert {u.sex for u in got.utterances} == {'M'}
    assert any('two sexes' in str(p) for p in got.problems)


def test_jvs(tmp_path):
    got = readers.read_corpus(f'jvs:{make_jvs(tmp_path)}')
    rows = sorted((u.speaker, u.sex, u.path.parent.parent.name)
                  for u in got.utterances)
    assert rows == [('jvs001', 'M', 'nonpara30'), ('jvs001', 'M', 'parallel100'),
                    ('jvs002', 'F', 'nonpara30'), ('jvs002', 'F', 'parallel100'),
                    ('jvs003', None, 'nonpara30'),
                    ('jvs003', None, 'parallel100')]
    assert all(u.birthplace is None for u in got.utterances)
    assert any('jvs003' in str(p) for p in got.problems)
    more = readers.read_jvs(tmp_path, subsets=('whisper10',))
    assert len(more.utterances) == 3


def test_vctk_080(tmp_path):
    got = readers.read_corpus(f'vctk:{make_vctk_080(tmp_path)}')
    rows = sorted((u.path.name, u.speaker, u.birthplace, u.sex)
                  for u in got.utterances)
    assert rows == [('p225_001.wav', 'p225', 'English', 'F'),
                    ('p225_002.wav', 'p225', 'English', 'F'),
                    ('p226_001.wav', 'p226', 'English', 'M'),
                    ('p226_002.wav', 'p226', 'English', 'M')]
    assert sum('p999' in str(p) for p in got.problems) == 2
    region = readers.read_vctk(tmp_path / 'VCTK-Corpus', birthplace='region')
    assert sorted({u.birthplace for u in region.utterances}) == [
        'Southern England', 'Surrey']


def test_vctk_092_mics(tmp_path):
    make_vctk_092(tmp_path)
    got = readers.read_corpus(f'vctk:{tmp_path}')
    assert sorted(u.path.name for u in got.utterances) == [
        'p225_001_mic1.flac', 'p226_001_mic1.flac', 'p280_001_mic1.flac']
    p280 = [u for u in got.utterances if u.speaker == 'p280'][0]
    assert (p280.sex, p280.birthplace) == ('F', 'France')
    mic2 = readers.read_corpus(f'vctk:{tmp_path}', mic='mic2')
    assert all(u.path.name.endswith('_mic2.flac') for u in mic2.utterances)


def test_csj(tmp_path):
    got = readers.read_corpus(f'csj:{make_csj(tmp_path)}')
    rows = sorted((u.path.name, u.speaker, u.birthplace, u.sex)
                  for u in got.utterances)
    assert rows == [('A01M0097.wav', 'M0097', '東京都', 'M'),
                    ('S01F0001.wav', 'F0001', '大阪府', 'F')]
    text = '\n'.join(map(str, got.problems))
    assert 'A02M0098' in text and 'no audio' in text
    assert 'D01F0002.wav' in text and 'without speaker metadata' in text


def test_csj_speaker_table(tmp_path):
    tone(tmp_path / 'WAV' / 'T1.wav')
    (tmp_path / 'speakers.tsv').write_text(
        'talk\tspeaker\tsex\tbirthplace\nT1\tS1\tF\tKyoto\n')
    got = readers.read_corpus(str(tmp_path))
    assert got.kind == 'csj'
    assert [(u.speaker, u.sex, u.birthplace) for u in got.utterances] == [
        ('S1', 'F', 'Kyoto')]


@pytest.mark.parametrize('make,kind', [
    (make_jvs, 'jvs'), (make_vctk_080, 'vctk'), (make_vctk_092, 'vctk'),
    (make_csj, 'csj')])
def test_detect(tmp_path, capsys, make, kind):
    root = make(tmp_path / 'c')
    assert readers.detect(root) == kind
    got = readers.read_corpus(str(root))
    assert got.kind == kind and got.utterances
    assert f'looks like a {kind} corpus' in capsys.readouterr().err


def test_detect_manifest_and_unknown(tmp_path):
    tone(tmp_path / 'a.wav')
    (tmp_path / 'manifest.tsv').write_text('path\tspeaker\na.wav\ts\n')
    assert readers.detect(tmp_path) == 'manifest'
    assert readers.detect(tmp_path / 'manifest.tsv') == 'manifest'
    (tmp_path / 'empty').mkdir()
    assert readers.detect(tmp_path / 'empty') is None
    with pytest.raises(readers.CorpusError, match='kind'):
        readers.read_corpus(str(tmp_path / 'empty'))


def test_runner_resolves_kinds(tmp_path, monkeypatch):
    from vox.config import CorpusConfig
    from vox.data.sources import resolve_corpus
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    make_vctk_080(tmp_path / 'v')
    manifest = resolve_corpus(f'vctk:{tmp_path / "v"}', CorpusConfig(), 0)
    assert manifest.parent == tmp_path / 'cache' / 'manifests'
    utts = read_manifest(manifest)
    assert len(utts) == 4 and {u.sex for u in utts} == {'M', 'F'}
