"""Fixture trees shaped like each corpus release, built at test time.

Each builder writes the folders, file names and metadata rows of one
release, with audio a few hundred samples long unless a test needs crops
(``samples=``).  The metadata rows are copied in form from the public
sources named beside them; where a row is a placeholder, the comment says
so.  The facts are gathered, with their sources, in docs/corpora.md.
"""
from pathlib import Path

import numpy as np
import soundfile


def tone(path, rate=16000, samples=400, f0=140.0, subtype='PCM_16'):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(samples) / rate
    x = 0.3 * np.sin(2 * np.pi * f0 * t) \
        + 0.01 * np.random.default_rng(samples).standard_normal(samples)
    soundfile.write(str(path), x, rate, subtype=subtype)
    return path


# --- VCTK --------------------------------------------------------------------

# Rows as VCTK 0.80's speaker-info.txt has them (copied in form from the
# file shipped in rhoposit/self-attention-tacotron, speaker-info.txt):
# numeric IDs, columns separated by runs of spaces, REGION of two words
# ("Southern  England"), two-word accents ("Australian  English  Sydney",
# "NewZealand  English"), empty REGION (248, 374, 376) and 280's "Unknown".
VCTK_080_INFO = (
    'ID  AGE  GENDER  ACCENTS  REGION  \n'
    '225  23  F    English    Southern  England\n'
    '248  23  F    Indian  \n'
    '280  25  F    Unknown  France \n'
    '326  26  M    Australian  English  Sydney\n'
    '335  25  F    NewZealand  English    \n'
    '374  28  M    Australian  English  \n'
    '376  22  M    Indian\n')


def make_vctk_080(root, samples=400):
    """VCTK-Corpus/ with wav48/pNNN/pNNN_MMM.wav (torchaudio
    torchaudio/datasets/vctk.py: folder wav48, extension .wav), two files
    per speaker, and p999, a folder speaker-info.txt has no row for."""
    base = Path(root) / 'VCTK-Corpus'
    base.mkdir(parents=True)
    (base / 'speaker-info.txt').write_text(VCTK_080_INFO)
    for spk in ('p225', 'p248', 'p280', 'p326', 'p335', 'p374', 'p376',
                'p999'):
        for n in (1, 2):
            tone(base / 'wav48' / spk / f'{spk}_00{n}.wav', rate=48000,
                 samples=samples * 3)
    return base


# VCTK 0.92: the same rows with "p" IDs and a COMMENTS column; p280's row
# ends "Unknown  France (mic2 files unavailable)" as public copies of the
# 0.92 table quote it, and tensorflow-datasets
# (tensorflow_datasets/audio/vctk.py, config "mic2") says p280 and p315
# have no mic2 recordings.  s5 is a speaker of 0.92
# (tensorflow-datasets tensorflow_datasets/audio/vctk.py lists "s5");
# its accent "British" is inferred from that file's accent classes, which
# hold "British" though no p-speaker has it.  s5's age, sex and region
# below are placeholders.
VCTK_092_INFO = (
    'ID  AGE  GENDER  ACCENTS  REGION COMMENTS \n'
    'p225  23  F    English    Southern  England\n'
    'p248  23  F    Indian  \n'
    'p280  25  F    Unknown  France (mic2 files unavailable)\n'
    'p326  26  M    Australian  English  Sydney\n'
    'p362  29  F    American  \n'
    's5  22  F    British  \n')


def make_vctk_092(root, samples=400):
    """wav48_silence_trimmed/<spk>/<spk>_NNN_mic{1,2}.flac (tensorflow-
    datasets vctk.py's glob), two utterances per speaker; p280 has no mic2
    files, p362's second utterance has no mic2 file."""
    base = Path(root)
    base.mkdir(parents=True, exist_ok=True)
    (base / 'speaker-info.txt').write_text(VCTK_092_INFO)
    for spk in ('p225', 'p248', 'p280', 'p326', 'p362', 's5'):
        for n in (1, 2):
            for mic in ('mic1', 'mic2'):
                if (spk == 'p280' and mic == 'mic2') or (
                        spk == 'p362' and n == 2 and mic == 'mic2'):
                    continue
                tone(base / 'wav48_silence_trimmed' / spk /
                     f'{spk}_00{n}_{mic}.flac', rate=48000,
                     samples=samples * 3, subtype='PCM_24')
    return base


# --- JVS ---------------------------------------------------------------------

# gender_f0range.txt: header "speaker Male_or_Female minf0[Hz] maxf0[Hz]",
# four whitespace-separated fields a row (nnmnkwii
# nnmnkwii/datasets/jvs.py, _parse_speaker_info).
JVS_GENDER = ('speaker Male_or_Female minf0[Hz] maxf0[Hz]\n'
              'jvs030 M 70 270\njvs058 F 130 400\njvs074 M 60 250\n'
              'jvs089 F 140 420\n')


def make_jvs(root, samples=400):
    """jvs_ver1/jvsNNN/{parallel100,nonpara30,whisper10}/wav24kHz16bit/
    (nnmnkwii jvs.py: _folders, _wavfoldername).  parallel100 holds
    VOICEACTRESS100_044..046 per speaker, except the lost wavs (nnmnkwii
    jvs.py, lost_wavfiles: jvs030 _045, jvs074 _094, jvs089 _019; here
    jvs030 lacks _045) and jvs058, whose files _015.._021 hold the
    sentences of _016.._022 (ta1fukawa/vc-alpha dataset.md): here _014,
    _015 and _016.  Each speaker has one nonpara30 and one whisper10
    file."""
    base = Path(root) / 'jvs_ver1'
    base.mkdir(parents=True)
    (base / 'gender_f0range.txt').write_text(JVS_GENDER)
    parallel = {'jvs030': (44, 46), 'jvs058': (14, 15, 16),
                'jvs074': (44, 45, 46), 'jvs089': (44, 45, 46)}
    for spk, numbers in parallel.items():
        for n in numbers:
            tone(base / spk / 'parallel100' / 'wav24kHz16bit' /
                 f'VOICEACTRESS100_{n:03d}.wav', rate=24000,
                 samples=samples * 3 // 2)
        tone(base / spk / 'nonpara30' / 'wav24kHz16bit' /
             'BASIC5000_0025.wav', rate=24000, samples=samples * 3 // 2)
        tone(base / spk / 'whisper10' / 'wav24kHz16bit' /
             'BASIC5000_0001.wav', rate=24000, samples=samples * 3 // 2)
    return base


# --- CSJ ---------------------------------------------------------------------

def sdb_lines(talk, spans):
    """SDB rows: tab-separated, the fourth field
    "<segment> <start>-<end> <channel>:-001-001" (lhotse
    lhotse/recipes/csj.py: FIELDS time=3, spkid=2, and the row quoted there,
    "0099 00280.998-00284.221 L:-001-001"); one morpheme a row."""
    rows = []
    for n, (start, end, ch) in enumerate(spans, start=1):
        rows.append('\t'.join([
            f'{talk}', f'{n:05d}', talk,
            f'{n:04d} {start:09.3f}-{end:09.3f} {ch}:-001-001',
            'えー', 'えー', '', '', 'えー', 'エー', '感動詞']))
    return '\n'.join(rows) + '\n'


def talk_xml(talk, encoding, root_speaker=None, channels=()):
    """A CSJ XML file: root Talk element with the speaker attributes (or
    Speaker elements with a Channel for a dialogue).  The attribute names
    are vox's assumption (no public reader of CSJ's XML was found)."""
    attrs = f'TalkID="{talk}"'
    if root_speaker:
        spk, sex, place = root_speaker
        attrs += (f' SpeakerID="{spk}" SpeakerSex="{sex}" '
                  f'SpeakerBirthPlace="{place}"')
    inner = ''.join(f'<Speaker Channel="{ch}" SpeakerID="{spk}" '
                    f'SpeakerSex="{sex}" SpeakerBirthPlace="{place}"/>'
                    for ch, spk, sex, place in channels)
    return (f'<?xml version="1.0" encoding="{encoding}"?>\n'
            f'<Talk {attrs}>{inner}<IPU IPUID="0001"/></Talk>\n'
            ).encode(encoding)


# Talk lengths (seconds) and the spans their SDB marks.
A01M0097_SPANS = [(0.5, 2.0, 'L'), (2.3, 4.0, 'L'), (4.2, 6.0, 'L'),
                  (8.0, 9.0, 'L'), (9.2, 10.0, 'L'), (15.0, 16.0, 'L'),
                  (25.0, 29.0, 'L')]
D01F0002_SPANS = [(0.5, 5.0, 'L'), (1.0, 3.0, 'R'), (6.0, 11.0, 'L'),
                  (4.0, 9.5, 'R')]


def make_csj(root, rate=16000):
    """Both layouts and the quirks, in one tree:

    * disk/USB layout (Kaldi egs/csj/s5/local/csj_make_trans/csj_autorun.sh,
      case "usb": MORPH/SDB/{core,noncore}, WAV/; lhotse csj.py:
      WAV/<vol>/<id>.wav): A01M0097 (30 s, UTF-8 XML, SpeakerID "97"),
      A01M0098 (same speaker written "0097", no SDB: cut in windows),
      A02M0099 (XML, no audio), the dialogue D01F0002 (-L/-R.wav, Shift_JIS
      XML declaration with one Speaker element per channel, SDB marking
      L:/R:), the dialogue D02M0003 (labels only for the talk, not per
      channel) and WAV/noncore/S02M0100.wav (no metadata at all);
    * DVD layout (csj_autorun.sh, case "dvd": dvdN/<id>/<id>.sdb with the
      wav beside it): dvd3/S01F0001/ with an EUC-JP XML declaration.
    """
    root = Path(root)
    core, noncore = 'core', 'noncore'
    tone(root / 'WAV' / core / 'A01M0097.wav', samples=30 * rate)
    (root / 'MORPH' / 'SDB' / core).mkdir(parents=True)
    (root / 'MORPH' / 'SDB' / core / 'A01M0097.sdb').write_bytes(
        sdb_lines('A01M0097', A01M0097_SPANS).encode('cp932'))
    x = root / 'XML' / 'BaseXML' / core
    x.mkdir(parents=True)
    (x / 'A01M0097.xml').write_bytes(talk_xml(
        'A01M0097', 'UTF-8', ('97', '男', '東京都')))
    tone(root / 'WAV' / core / 'A01M0098.wav', samples=45 * rate)
    (x / 'A01M0098.xml').write_bytes(talk_xml(
        'A01M0098', 'UTF-8', ('0097', '男', '東京都')))
    (x / 'A02M0099.xml').write_bytes(talk_xml(
        'A02M0099', 'UTF-8', ('0099', '男', '北海道')))
    xn = root / 'XML' / 'BaseXML' / noncore
    xn.mkdir(parents=True)
    for ch in 'LR':
        tone(root / 'WAV' / noncore / f'D01F0002-{ch}.wav', samples=12 * rate)
        tone(root / 'WAV' / noncore / f'D02M0003-{ch}.wav', samples=8 * rate)
    (root / 'MORPH' / 'SDB' / noncore).mkdir(parents=True)
    (root / 'MORPH' / 'SDB' / noncore / 'D01F0002.sdb').write_bytes(
        sdb_lines('D01F0002', D01F0002_SPANS).encode('cp932'))
    (xn / 'D01F0002.xml').write_bytes(talk_xml(
        'D01F0002', 'Shift_JIS', channels=[
            ('L', '1234', '女', '大阪府'), ('R', '567', '男', '京都府')]))
    (xn / 'D02M0003.xml').write_bytes(talk_xml(
        'D02M0003', 'Shift_JIS', ('0003', '男', '福岡県')))
    tone(root / 'WAV' / noncore / 'S02M0100.wav', samples=5 * rate)
    dvd = root / 'dvd3' / 'S01F0001'
    tone(dvd / 'S01F0001.wav', samples=10 * rate)
    (dvd / 'S01F0001.sdb').write_bytes(
        sdb_lines('S01F0001', [(0.2, 9.8, 'L')]).encode('cp932'))
    (dvd / 'S01F0001.xml').write_bytes(talk_xml(
        'S01F0001', 'EUC-JP', ('1', '女', '北海道')))
    return root
