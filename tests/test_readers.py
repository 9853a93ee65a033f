"""Corpus readers on tiny fake corpora written in the real layouts."""
from pathlib import Path

import numpy as np
import pytest
import soundfile

import vox  # noqa: F401
from vox.data.corpus import readers
from vox.data.corpus.manifest import read_manifest
from vox.data.corpus import csj
from vox.data.corpus.listing import grouped_lines

from corpus_fixtures import (A01M0097_SPANS, make_csj, make_jvs,
                             make_vctk_080, make_vctk_092)


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


def make_csj_dvd_only(root):
    """Only a DVD-layout talk: dvd3/S01F0001/{S01F0001.wav,.sdb,.xml}."""
    make_csj(root / 'full')
    (root / 'c').mkdir(parents=True)
    (root / 'full' / 'dvd3').rename(root / 'c' / 'dvd3')
    return root / 'c'


def rows(listing):
    return sorted((u.speaker, u.path.name, u.birthplace, u.sex)
                  for u in listing.utterances)


# JVS: layout and quirks from nnmnkwii nnmnkwii/datasets/jvs.py and
# ta1fukawa/vc-alpha dataset.md (tests/corpus_fixtures.py, make_jvs).
def test_jvs_release(tmp_path):
    got = readers.read_corpus(f'jvs:{make_jvs(tmp_path)}')
    per_speaker = {}
    for u in got.utterances:
        per_speaker.setdefault(u.speaker, []).append(
            f'{u.path.parent.parent.name}/{u.path.name}')
    assert per_speaker == {
        # the lost wav (_045) is simply absent: 2 parallel files, not 3
        'jvs030': ['parallel100/VOICEACTRESS100_044.wav',
                   'parallel100/VOICEACTRESS100_046.wav',
                   'nonpara30/BASIC5000_0025.wav'],
        # misnumbered files are still jvs058's speech: all read, as named
        'jvs058': ['parallel100/VOICEACTRESS100_014.wav',
                   'parallel100/VOICEACTRESS100_015.wav',
                   'parallel100/VOICEACTRESS100_016.wav',
                   'nonpara30/BASIC5000_0025.wav'],
        'jvs074': ['parallel100/VOICEACTRESS100_044.wav',
                   'parallel100/VOICEACTRESS100_045.wav',
                   'parallel100/VOICEACTRESS100_046.wav',
                   'nonpara30/BASIC5000_0025.wav'],
        'jvs089': ['parallel100/VOICEACTRESS100_044.wav',
                   'parallel100/VOICEACTRESS100_045.wav',
                   'parallel100/VOICEACTRESS100_046.wav',
                   'nonpara30/BASIC5000_0025.wav']}
    assert {(u.speaker, u.sex) for u in got.utterances} == {
        ('jvs030', 'M'), ('jvs058', 'F'), ('jvs074', 'M'), ('jvs089', 'F')}
    assert {u.birthplace for u in got.utterances} == {None}
    assert got.problems == []
    whisper = readers.read_jvs(tmp_path, subsets=('whisper10',))
    assert len(whisper.utterances) == 4


def test_jvs_speaker_without_gender_line(tmp_path):
    base = make_jvs(tmp_path)
    text = (base / 'gender_f0range.txt').read_text()
    (base / 'gender_f0range.txt').write_text(text.replace(
        'jvs089 F 140 420\n', ''))
    got = readers.read_corpus(f'jvs:{tmp_path}')
    assert {u.sex for u in got.utterances if u.speaker == 'jvs089'} == {None}
    assert len(got.problems) == 4        # one per file of jvs089 ...
    lines = grouped_lines(got.problems)
    assert len(lines) == 2               # ... shown per folder
    assert all('jvs089' in line for line in lines)


# VCTK 0.80: speaker-info.txt rows in the form of the shipped file
# (rhoposit/self-attention-tacotron speaker-info.txt), wav48/ as torchaudio
# torchaudio/datasets/vctk.py reads it.
def test_vctk_080_labels(tmp_path):
    got = readers.read_corpus(f'vctk:{make_vctk_080(tmp_path)}')
    accents = {u.speaker: u.birthplace for u in got.utterances}
    assert accents == {'p225': 'English', 'p248': 'Indian', 'p280': None,
                       'p326': 'Australian English',
                       'p335': 'NewZealand English',
                       'p374': 'Australian English', 'p376': 'Indian'}
    assert len(got.utterances) == 14
    sexes = {u.speaker: u.sex for u in got.utterances}
    assert sexes == {'p225': 'F', 'p248': 'F', 'p280': 'F', 'p326': 'M',
                     'p335': 'F', 'p374': 'M', 'p376': 'M'}
    text = grouped_lines(got.problems)
    assert len(text) == 2, text
    assert '2 x files of a speaker with no row in speaker-info.txt' in \
        text[0] and 'p999' in text[0]
    assert '1 speaker(s) have no ACCENTS (empty or Unknown): p280' in text[1]
    region = readers.read_vctk(tmp_path / 'VCTK-Corpus', birthplace='region')
    assert {u.speaker: u.birthplace for u in region.utterances} == {
        'p225': 'Southern England', 'p248': None, 'p280': 'France',
        'p326': 'Sydney', 'p335': None, 'p374': None, 'p376': None}
    named = [str(p) for p in region.problems if 'have no REGION' in str(p)]
    assert len(named) == 1 and 'p248, p335, p374, p376' in named[0]


# VCTK 0.92: s5 (tensorflow-datasets tensorflow_datasets/audio/vctk.py),
# p-IDs, COMMENTS, p280 without mic2 files.
def test_vctk_092_mic1(tmp_path):
    got = readers.read_corpus(f'vctk:{make_vctk_092(tmp_path)}')
    assert rows(got) == [
        ('p225', 'p225_001_mic1.flac', 'English', 'F'),
        ('p225', 'p225_002_mic1.flac', 'English', 'F'),
        ('p248', 'p248_001_mic1.flac', 'Indian', 'F'),
        ('p248', 'p248_002_mic1.flac', 'Indian', 'F'),
        ('p280', 'p280_001_mic1.flac', None, 'F'),
        ('p280', 'p280_002_mic1.flac', None, 'F'),
        ('p326', 'p326_001_mic1.flac', 'Australian English', 'M'),
        ('p326', 'p326_002_mic1.flac', 'Australian English', 'M'),
        ('p362', 'p362_001_mic1.flac', 'American', 'F'),
        ('p362', 'p362_002_mic1.flac', 'American', 'F'),
        ('s5', 's5_001_mic1.flac', 'British', 'F'),
        ('s5', 's5_002_mic1.flac', 'British', 'F')]
    assert [str(p) for p in got.problems] == [
        f'{tmp_path}/speaker-info.txt: 1 speaker(s) have no ACCENTS (empty '
        f'or Unknown): p280; their files are used without a birthplace; '
        f'fill the column in, or train an experiment that does not use '
        f'birthplace']


def test_vctk_092_mic2_says_what_is_missing(tmp_path):
    got = readers.read_corpus(f'vctk:{make_vctk_092(tmp_path)}', mic='mic2')
    assert sorted({u.speaker for u in got.utterances}) == [
        'p225', 'p248', 'p326', 'p362', 's5']
    assert len(got.utterances) == 9
    assert all(u.path.name.endswith('_mic2.flac') for u in got.utterances)
    text = '\n'.join(map(str, got.problems))
    assert 'speaker p280: has no mic2 files (2 mic1 files); left out' in text
    assert 'speaker p362: 1 utterance(s) have no mic2 file, e.g. ' \
           'p362_002_mic1.flac' in text


# CSJ: layouts from Kaldi egs/csj/s5/local/csj_make_trans/csj_autorun.sh
# and lhotse lhotse/recipes/csj.py (tests/corpus_fixtures.py, make_csj).
def test_csj_talks_dialogues_and_dvd(tmp_path):
    got = readers.read_corpus(f'csj:{make_csj(tmp_path)}')
    assert rows(got) == [
        ('0001', 'S01F0001.wav', '北海道', 'F'),       # DVD layout, EUC-JP
        # "97" and "0097" are one speaker
        ('0097', 'A01M0097.wav', '東京都', 'M'),
        ('0097', 'A01M0098.wav', '東京都', 'M'),
        ('0567', 'D01F0002-R.wav', '京都府', 'M'),     # dialogue, Shift_JIS
        ('1234', 'D01F0002-L.wav', '大阪府', 'F')]
    lines = grouped_lines(got.problems)
    assert len(lines) == 3, lines
    assert any('2 x dialogue channels without their own speaker labels'
               in line and 'D02M0003' in line for line in lines)
    assert any('A02M0099' in line and 'no audio' in line for line in lines)
    assert any('S02M0100.wav' in line and 'without speaker metadata' in line
               for line in lines)


def test_csj_segments(tmp_path):
    got = readers.read_corpus(f'csj:{make_csj(tmp_path / "c")}',
                              segments_dir=tmp_path / 'seg')
    per_talk = {}
    for u in got.utterances:
        per_talk.setdefault(u.path.parent.name.rsplit('-', 1)[0], []).append(
            (u.speaker, u.path.name))
    assert per_talk == {
        'A01M0097': [('0097', 'A01M0097_00000500-00006000.wav'),
                     ('0097', 'A01M0097_00008000-00016000.wav'),
                     ('0097', 'A01M0097_00025000-00029000.wav')],
        # no SDB: equal windows of at most 20 s
        'A01M0098': [('0097', 'A01M0098_00000000-00015000.wav'),
                     ('0097', 'A01M0098_00015000-00030000.wav'),
                     ('0097', 'A01M0098_00030000-00045000.wav')],
        # each channel cut at its own pauses (the SDB's L: and R: rows)
        'D01F0002-L': [('1234', 'D01F0002-L_00000500-00005000.wav'),
                       ('1234', 'D01F0002-L_00006000-00011000.wav')],
        'D01F0002-R': [('0567', 'D01F0002-R_00001000-00009500.wav')],
        'S01F0001': [('0001', 'S01F0001_00000200-00009800.wav')]}
    first = got.utterances[0].path
    assert soundfile.info(str(first)).frames == int(5.5 * 16000)
    again = readers.read_corpus(f'csj:{tmp_path / "c"}',
                                segments_dir=tmp_path / 'seg')
    assert [u.path for u in again.utterances] == [
        u.path for u in got.utterances]


def test_segment_rule():
    total = 30.0
    spans = [(s, e) for s, e, _ in A01M0097_SPANS]
    # joined over pauses <= 0.5 s, and past longer ones while shorter than
    # one 256-frame crop (4.14 s); the last stays short: joining it would
    # pass 20 s
    assert csj.segment_spans(spans, total) == [
        (0.5, 6.0), (8.0, 16.0), (25.0, 29.0)]
    assert csj.segment_spans([], 45.0) == [
        (0.0, 15.0), (15.0, 30.0), (30.0, 45.0)]
    assert csj.segment_spans([], 12.0) == [(0.0, 12.0)]
    # a pause of exactly 0.5 s joins; 0.51 s after a long segment cuts
    assert csj.segment_spans([(0, 5), (5.5, 7), (7.51, 12)], 12.0) == [
        (0, 7), (7.51, 12)]


@pytest.mark.parametrize('encoding', ['Shift_JIS', 'EUC-JP', 'UTF-8',
                                      'windows-31j'])
def test_csj_xml_in_declared_encoding(tmp_path, encoding):
    from corpus_fixtures import talk_xml
    path = tmp_path / 'T.xml'
    path.write_bytes(talk_xml('T', 'cp932' if encoding == 'windows-31j'
                              else encoding, ('12', '女', '鹿児島県'))
                     .replace(b'cp932', b'windows-31j'))
    root = csj.read_xml(path)
    assert root.attrib['SpeakerBirthPlace'] == '鹿児島県'
    path.write_bytes(b'<?xml version="1.0" encoding="Shift_JIS"?>\n<Talk '
                     + '大'.encode('utf-8') + b'/>')
    with pytest.raises(ValueError):
        csj.read_xml(path)


def test_csj_unreadable_xml_is_a_problem_not_a_crash(tmp_path):
    root = make_csj(tmp_path)
    (root / 'XML' / 'BaseXML' / 'core' / 'A01M0097.xml').write_bytes(
        b'<?xml version="1.0" encoding="x-unknown-jp"?>\n<Talk/>')
    got = readers.read_corpus(f'csj:{root}')
    assert 'A01M0097.wav' not in {u.path.name for u in got.utterances}
    text = '\n'.join(map(str, got.problems))
    assert "names the encoding 'x-unknown-jp'" in text


def test_csj_speaker_table(tmp_path):
    tone(tmp_path / 'WAV' / 'T1.wav')
    tone(tmp_path / 'WAV' / 'D9-L.wav')
    tone(tmp_path / 'WAV' / 'D9-R.wav')
    (tmp_path / 'speakers.tsv').write_text(
        'talk\tspeaker\tsex\tbirthplace\nT1\t7\tF\tKyoto\n'
        'D9-L\tS2\t男\tNara\nD9-R\tS3\t女\tNara\n')
    got = readers.read_corpus(str(tmp_path))
    assert got.kind == 'csj'
    assert rows(got) == [('0007', 'T1.wav', 'Kyoto', 'F'),
                         ('S2', 'D9-L.wav', 'Nara', 'M'),
                         ('S3', 'D9-R.wav', 'Nara', 'F')]

@pytest.mark.parametrize('make,kind', [
    (make_jvs, 'jvs'), (make_vctk_080, 'vctk'), (make_vctk_092, 'vctk'),
    (make_csj, 'csj'), (make_csj_dvd_only, 'csj')])
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
    assert len(utts) == 14 and {u.sex for u in utts} == {'M', 'F'}


def _training_data(tmp_path, monkeypatch, source, crop_frames):
    from vox.config import DataConfig
    from vox.data.sources import load_data
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    return load_data(DataConfig(crop_frames=crop_frames, scale='unit',
                                validation_fraction=0.5), 0, source)


def test_training_counts_line_vctk_092(tmp_path, monkeypatch, capsys):
    """What a smoke run prints about the corpus: the counts of vox prepare
    in one line; p280 (accent Unknown) left out by name."""
    root = make_vctk_092(tmp_path / 'VCTK', samples=8000)
    data = _training_data(tmp_path, monkeypatch, f'vctk:{root}', 16)
    assert data.labels.names == {
        'speaker': ['p225', 'p248', 'p326', 'p362', 's5'],
        'birthplace': ['American', 'Australian English', 'British',
                       'English', 'Indian'],
        'sex': ['F', 'M']}
    err = capsys.readouterr().err.splitlines()
    assert [line for line in err if line.startswith('vox: corpus:')] == [
        'vox: corpus: 5 speakers, 10 files found, 10 usable, 0 shorter than '
        '16 frames, 0 rejected, 1 not placed (vox prepare lists each)']
    left = [line for line in err if 'left out for lack of a label' in line]
    assert len(left) == 1 and 'p280 (no birthplace)' in left[0]


def test_training_counts_line_csj(tmp_path, monkeypatch, capsys):
    root = make_csj(tmp_path / 'CSJ')
    data = _training_data(tmp_path, monkeypatch, f'csj:{root}', 256)
    assert data.labels.names['speaker'] == ['0001', '0097', '0567', '1234']
    err = capsys.readouterr().err.splitlines()
    # 10 segments; only A01M0097's last (4.0 s, the 20-s bound kept it
    # apart) is shorter than one 256-frame crop
    assert [x for x in err if x.startswith('vox: corpus:')] == [
        'vox: corpus: 4 speakers, 10 files found, 9 usable, 1 shorter than '
        '256 frames, 0 rejected, 4 not placed (vox prepare lists each)']
    assert len([x for x in err if x.startswith('vox: warning:')]) == 3
    assert not [x for x in err if 'Traceback' in x]


def test_csj_speaker_table_not_utf8_is_a_problem(tmp_path):
    tone(tmp_path / 'WAV' / 'T1.wav')
    (tmp_path / 'speakers.tsv').write_bytes(
        'talk\tspeaker\tsex\nT1\t7\t女\n'.encode('cp932'))
    got = readers.read_corpus(f'csj:{tmp_path}')
    assert got.utterances == []
    text = '\n'.join(map(str, got.problems))
    assert 'speakers.tsv: unreadable' in text and 'UTF-8' in text
    assert 'T1.wav: audio file without speaker metadata' in text
