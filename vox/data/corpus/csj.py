"""The Corpus of Spontaneous Japanese (CSJ): talks, their speakers, and the
segments training uses.

Layouts read (docs/corpora.md names the public code each comes from):

* disk/USB: ``WAV/{core,noncore}/<TalkID>.wav``, transcripts
  ``MORPH/SDB/{core,noncore}/<TalkID>.sdb`` and
  ``XML/BaseXML/{core,noncore}/<TalkID>.xml``;
* DVD: ``dvdN/<TalkID>/`` holding ``<TalkID>.wav`` beside its ``.sdb``
  (and ``.xml``);
* a dialogue (``D...`` talks) is two files, ``<TalkID>-L.wav`` and
  ``<TalkID>-R.wav``, one speaker per channel; its SDB marks each segment
  ``L:`` or ``R:``.

Speaker labels come from ``speakers.tsv``/``speakers.csv`` at the root
(columns ``talk``, ``speaker``, ``sex``, ``birthplace``; ``talk`` is a
TalkID or, for one channel of a dialogue, ``<TalkID>-L``/``-R``) or from
the XML: the root element's ``SpeakerID``, ``SpeakerSex``,
``SpeakerBirthPlace`` (a monologue) and, for a dialogue, any element with a
``Channel`` (``L``/``R``) and those attributes.  A numeric SpeakerID is
zero-padded to four digits so ``97`` and ``0097`` are one speaker.

A talk lasts 10-60 minutes.  With ``segments_dir`` it is cut into segments
at the pauses its SDB marks (:func:`segment_spans`) and each segment is
written once to ``segments_dir`` as its own WAV: training then draws crops
from many segments of a talk instead of one crop per talk per epoch, and
never holds a whole talk in memory.
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import soundfile

from vox.base.files import (not_a_file, open_regular, read_text,
                            replaced_atomically, resolved)
from vox.base.progress import progress
from vox.data import audio
from vox.data.corpus.listing import Listing, Problem, settle_sexes
from vox.data.corpus.manifest import Utterance, normalise_sex

AUDIO_EXT = ('.wav', '.flac')
# Pauses longer than this end a segment: the gap at which Kaldi's CSJ
# recipe (egs/csj/s5/local/csj_make_trans/csjconnect.pl, run with 0.5 10)
# stops joining transcript segments.
PAUSE_SECONDS = 0.5
# A segment is at least one 256-frame crop long (66304 samples at 16 kHz,
# the blog's input) and grows past that only up to this length.
MIN_SEGMENT_SECONDS = audio.n_samples(256) / audio.SAMPLE_RATE
MAX_SEGMENT_SECONDS = 20.0
_CHANNEL = re.compile(r'^(?P<talk>.+)-(?P<ch>[LR])$')
_DECLARED = re.compile(rb'^\s*<\?xml[^>]*encoding\s*=\s*["\']([A-Za-z0-9_.:-]+)'
                       rb'["\'][^>]*\?>')
# Spellings of the Japanese encodings an XML declaration may name, mapped to
# the Python codec that reads them (cp932 is Shift_JIS with the vendor
# characters Windows tools write).
_CODECS = {'shift_jis': 'cp932', 'shift-jis': 'cp932', 'sjis': 'cp932',
           'x-sjis': 'cp932', 'windows-31j': 'cp932', 'cp932': 'cp932',
           'euc-jp': 'euc_jp', 'euc_jp': 'euc_jp', 'x-euc-jp': 'euc_jp',
           'utf-8': 'utf-8', 'utf8': 'utf-8'}


def speaker_id(value):
    value = (value or '').strip()
    return value.zfill(4) if value.isdigit() else value


def split_channel(stem):
    """'D01F0002-L' -> ('D01F0002', 'L'); 'A01M0097' -> ('A01M0097', None)."""
    m = _CHANNEL.match(stem)
    return (m['talk'], m['ch']) if m else (stem, None)


def is_csj(path):
    path = Path(path)
    return (path / 'WAV').is_dir() and any(
        (path / p).exists() for p in ('XML', 'MORPH', 'speakers.tsv',
                                      'speakers.csv')) or \
        any(path.glob('dvd[0-9]*/*/*.sdb'))


# --- reading the files -------------------------------------------------------

def read_xml(path):
    """The parsed root element of a CSJ XML file, whatever encoding its
    declaration names (ElementTree's own parser refuses multi-byte
    encodings such as Shift_JIS); raises ValueError with the reason."""
    with open_regular(path, 'rb') as f:  # a FIFO: refused, not waited on
        data = f.read()
    m = _DECLARED.match(data)
    declared = m[1].decode('ascii').lower() if m else 'utf-8'
    codec = _CODECS.get(declared, declared)
    try:
        text = data.decode(codec)
    except LookupError:
        raise ValueError(f'its declaration names the encoding {declared!r}, '
                         f'which Python cannot read') from None
    except UnicodeDecodeError as e:
        raise ValueError(f'it is not {declared} text ({e.reason} at byte '
                         f'{e.start})') from None
    # the text is decoded now: its declaration must go, or the parser
    # would decode it again
    text = re.sub(r'^\ufeff?\s*<\?xml[^>]*\?>', '', text, count=1)
    try:
        return ET.fromstring(text)
    except ET.ParseError as e:
        raise ValueError(f'not well-formed XML ({e})') from None


def read_sdb_spans(path):
    """{channel: [(start, end), ...]} of the segments an SDB file times.

    Each SDB line (Shift_JIS, tab-separated) has in its fourth field
    ``<segment> <start>-<end> <channel>:...``, e.g.
    ``0099 00280.998-00284.221 L:-001-001`` (lhotse
    ``lhotse/recipes/csj.py``); a monologue's channel is ignored."""
    spans = {}
    text = Path(path).read_bytes().decode('cp932', errors='replace')
    for line in text.splitlines():
        fields = line.split('\t')
        if len(fields) < 4:
            continue
        m = re.match(r'\s*\d+\s+([\d.]+)-([\d.]+)\s+([LR])?', fields[3])
        if not m:
            continue
        start, end = float(m[1]), float(m[2])
        if end > start:
            spans.setdefault(m[3], set()).add((start, end))
    return {ch: sorted(s) for ch, s in spans.items()}


def segment_spans(marks, total_seconds, pause=PAUSE_SECONDS,
                  shortest=MIN_SEGMENT_SECONDS, longest=MAX_SEGMENT_SECONDS):
    """Segments (start, end) in seconds from the transcript's marked spans.

    Marked spans are joined while the pause between them is at most
    ``pause`` or the segment is still shorter than ``shortest``, as long as
    it stays within ``longest``; a last segment shorter than ``shortest``
    joins the one before when that fits.  Without marks the talk is cut
    into equal windows of at most ``longest`` seconds."""
    marks = sorted((max(0.0, s), min(e, total_seconds)) for s, e in marks
                   if min(e, total_seconds) > max(0.0, s))
    if not marks:  # equal windows, none longer than ``longest``
        n = max(1, math.ceil(total_seconds / longest))
        width = total_seconds / n
        marks = [(i * width, (i + 1) * width) for i in range(n)]
        pause = -1.0
    out = []
    for s, e in marks:
        if out:
            cs, ce = out[-1]
            if (s - ce <= pause or ce - cs < shortest) and \
                    max(e, ce) - cs <= longest:
                out[-1] = (cs, max(e, ce))
                continue
        out.append((s, e))
    if len(out) > 1 and out[-1][1] - out[-1][0] < shortest and \
            out[-1][1] - out[-2][0] <= longest:
        out[-2:] = [(out[-2][0], out[-1][1])]
    return out


def cut_segments(audio, spans, folder):
    """Write each span of ``audio`` to ``folder`` (once: an existing
    segment is kept) and return the paths; reads one segment at a time."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with soundfile.SoundFile(str(audio)) as f:
        rate = f.samplerate
        for s, e in spans:
            out = folder / f'{audio.stem}_{int(s * 1000):08d}-' \
                           f'{int(e * 1000):08d}.wav'
            paths.append(out)
            if out.is_file():
                continue
            f.seek(int(s * rate))
            x = f.read(int((e - s) * rate), dtype='float32', always_2d=True)
            with replaced_atomically(out) as tmp:
                soundfile.write(tmp, x, rate, subtype='PCM_16', format='WAV')
    return paths


# --- the reader --------------------------------------------------------------

def _index(root):
    """({stem: audio path}, {talk: sdb path}, {talk: xml path})."""
    audio, sdb, xml = {}, {}, {}
    trees = [root / 'WAV', root / 'MORPH', root / 'XML'] + sorted(
        root.glob('dvd[0-9]*'))
    for tree in trees:
        if not tree.is_dir():
            continue
        for p in sorted(tree.rglob('*')):
            suffix = p.suffix.lower()
            if suffix in AUDIO_EXT:
                audio.setdefault(p.stem, p)
            elif suffix == '.sdb':
                sdb.setdefault(p.stem, p)
            elif suffix == '.xml':
                xml.setdefault(p.stem, p)
    return audio, sdb, xml


def _speaker_table(root, out):
    labels = {}
    for table in (root / 'speakers.tsv', root / 'speakers.csv'):
        if not table.is_file():
            continue
        delim = ',' if table.suffix == '.csv' else '\t'
        try:
            text = read_text(table, encoding='utf-8-sig')  # not a FIFO
        except (OSError, UnicodeDecodeError) as e:
            out.problems.append(Problem(str(table), f'unreadable ({e})',
                                        'save it as UTF-8 TSV or CSV'))
            continue
        rows = list(csv.DictReader(io.StringIO(text), delimiter=delim))
        for n, r in enumerate(rows, start=2):
            r = {k.strip().lower(): (v or '').strip()
                 for k, v in r.items() if k}
            if not r.get('talk') or not r.get('speaker'):
                out.problems.append(Problem(f'{table}:{n}', 'no talk or '
                                            'speaker', 'fill both in'))
                continue
            labels[split_channel(r['talk'])] = (
                speaker_id(r['speaker']), normalise_sex(r.get('sex')),
                r.get('birthplace') or None, table)
    return labels


def _xml_labels(path, talk, out):
    try:
        root = read_xml(path)
    except (ValueError, OSError) as e:
        out.problems.append(Problem(str(path), f'unreadable XML: {e}',
                                    'restore the file from the CSJ media',
                                    kind='unreadable XML files'))
        return {}
    labels = {}
    for elem in root.iter():
        a = elem.attrib
        if not a.get('SpeakerID'):
            continue
        ch = a.get('Channel') if elem is not root else None
        if ch not in (None, 'L', 'R'):
            continue
        labels.setdefault((a.get('TalkID') or talk, ch), (
            speaker_id(a['SpeakerID']), normalise_sex(a.get('SpeakerSex')),
            a.get('SpeakerBirthPlace') or None, path))
    if not labels:
        out.problems.append(Problem(
            str(path), 'no SpeakerID attribute on the root element or on an '
            'element with a Channel', 'check that this is a CSJ XML file, '
            'or give the talk a row in speakers.tsv',
            kind='XML files without a SpeakerID'))
    return labels


def read_csj(path, segments_dir=None) -> Listing:
    """Every talk (each channel of a dialogue) whose speaker is labelled;
    cut into segments under ``segments_dir`` when given (the commands always
    give it), otherwise one utterance per talk channel."""
    root = Path(path)
    out = Listing('csj', root)
    audio, sdb, xml = _index(root)
    labels = _speaker_table(root, out)
    for talk, x in sorted(xml.items()):
        for key, value in _xml_labels(x, talk, out).items():
            labels.setdefault(key, value)
    channels = {}   # (talk, channel) -> audio
    for stem, p in audio.items():
        channels[split_channel(stem)] = p
    for (talk, ch), src in sorted(labels.items()):
        if (talk, ch) not in channels and not (
                ch is None and ((talk, 'L') in channels
                                or (talk, 'R') in channels)):
            out.problems.append(Problem(
                str(root / 'WAV' / f'{talk}{"-" + ch if ch else ""}.wav'),
                f'talk {talk} in {Path(src[3]).name} has no audio file',
                'copy the WAV folder (or the dvd folders) from the CSJ media',
                kind='talks with labels but no audio'))
    talks = sorted(channels.items())
    if segments_dir is not None and talks:
        # The first read of a corpus cuts every talk: long, so shown.
        talks = progress(talks, label='vox: cutting CSJ talks into segments')
    for (talk, ch), wav in talks:
        label = labels.get((talk, ch))
        if label is None and ch is not None:
            out.problems.append(Problem(
                str(wav), f'dialogue channel {ch} of {talk} has no speaker '
                f'labels of its own', f'give it a row "{talk}-{ch}" in '
                f'speakers.tsv (or an XML element with Channel="{ch}")',
                kind='dialogue channels without their own speaker labels'))
            continue
        if label is None:
            out.problems.append(Problem(
                str(wav), 'audio file without speaker metadata',
                f'add its XML (XML/BaseXML/.../{talk}.xml) or a row in '
                f'speakers.tsv', kind='audio files without speaker metadata'))
            continue
        spk, sex, place, _ = label
        if segments_dir is None:
            out.utterances.append(Utterance(resolved(wav), spk, place, sex))
            continue
        try:
            paths = _segments(wav, talk, ch, sdb, Path(segments_dir))
        except (RuntimeError, OSError, ValueError) as e:
            out.problems.append(Problem(
                str(wav), f'cannot be cut into segments ({e})',
                're-copy it from the CSJ media',
                kind='talks that cannot be cut into segments'))
            continue
        out.utterances.extend(Utterance(p, spk, place, sex) for p in paths)
    return settle_sexes(out)


def _segments(wav, talk, ch, sdb, segments_dir):
    problem = not_a_file(wav)
    if problem:
        raise ValueError(f'it {problem}')
    info = soundfile.info(str(wav))
    marks = []
    if talk in sdb and not not_a_file(sdb[talk]):  # a FIFO would block
        spans = read_sdb_spans(sdb[talk])
        marks = spans.get(ch, []) if ch else [
            s for v in spans.values() for s in v]
    spans = segment_spans(marks, info.frames / info.samplerate)
    st = os.stat(wav)
    key = hashlib.sha1(repr((str(resolved(wav)), st.st_size, st.st_mtime_ns,
                             spans)).encode()).hexdigest()[:10]
    return cut_segments(wav, spans, segments_dir / f'{wav.stem}-{key}')
