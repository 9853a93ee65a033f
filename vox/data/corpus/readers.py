"""Corpus readers: every supported layout becomes a list of ``Utterance``.

Select one with ``CORPUS=kind:path`` (kinds: ``manifest``, ``jvs``, ``vctk``,
``csj``, ``synth``) or give a bare path and let :func:`detect` guess from the
layout (the guess is printed).  Every reader returns a :class:`Listing`: the
utterances plus a list of :class:`Problem` (file, reason, what to do) for rows
that point at missing files, audio files without metadata, and speakers
listed with two sexes.  Readers never raise on such rows: they report them
and carry on; they raise :class:`CorpusError` only when nothing can be read.

Layouts (see docs/corpora.md for the full description):

* ``manifest``: a TSV (``.tsv``/``.txt``) or CSV (``.csv``) with a header
  row; columns ``path`` and ``speaker`` required, ``birthplace`` and ``sex``
  optional (others ignored).  Paths are relative to the manifest's folder.
* ``jvs``: ``jvs_ver1/jvsNNN/<subset>/wav24kHz16bit/*.wav`` with subsets
  ``parallel100``, ``nonpara30`` (default; ``whisper10``, ``falset10`` on
  request) and sex from ``jvs_ver1/gender_f0range.txt`` (whitespace
  separated, header ``speaker Male_or_Female minf0[Hz] maxf0[Hz]``, rows
  ``jvs001 M 70 270``).  JVS has no birthplace.
* ``vctk``: ``wav48/pNNN/pNNN_MMM.wav`` (VCTK 0.80) or
  ``wav48_silence_trimmed/pNNN/pNNN_MMM_mic1.flac`` / ``_mic2.flac`` (0.92),
  each with ``speaker-info.txt`` (whitespace separated, header
  ``ID AGE GENDER ACCENTS REGION [COMMENTS]``; IDs ``225`` or ``p225``;
  REGION may hold several words).  birthplace = ACCENTS (or REGION with
  ``birthplace='region'``).
* ``csj``: ``XML/BaseXML/{core,noncore}/<TalkID>.xml`` whose root ``Talk``
  element carries ``TalkID``, ``SpeakerID``, ``SpeakerSex`` (男/女 or M/F)
  and ``SpeakerBirthPlace``; audio ``WAV/{core,noncore}/<TalkID>.wav``.
  Alternatively (CSJ-style exports) a ``speakers.tsv``/``speakers.csv`` at
  the root with columns ``talk``, ``speaker``, ``sex``, ``birthplace``.
"""
from __future__ import annotations

import csv
import hashlib
import io
import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from vox.data.corpus.manifest import Utterance, write_manifest
from vox.base.errors import VoxError
from vox.base.files import (is_utf8_name, not_a_file, open_regular,
                            printable, read_text, resolved)

KINDS = ('manifest', 'jvs', 'vctk', 'csj', 'synth')
AUDIO_EXT = ('.wav', '.flac')
_SEX = {'m': 'M', 'male': 'M', '男': 'M', '男性': 'M',
        'f': 'F', 'female': 'F', '女': 'F', '女性': 'F'}
JVS_SUBSETS = ('parallel100', 'nonpara30')


class CorpusError(VoxError):
    """Nothing usable could be read from the corpus."""


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str
    action: str

    def __str__(self):
        return f'{self.path}: {self.reason}; {self.action}'


@dataclass
class Listing:
    kind: str
    root: Path
    utterances: List[Utterance] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)


def _sex(value):
    if value is None:
        return None
    return _SEX.get(value.strip().lower())


def settle_sexes(listing: Listing) -> Listing:
    """A speaker listed with two sexes keeps the one most of its rows give
    (ties: the first seen); each such speaker is reported once."""
    by_speaker = defaultdict(list)
    for u in listing.utterances:
        if u.sex is not None:
            by_speaker[u.speaker].append(u.sex)
    chosen = {}
    for spk, sexes in by_speaker.items():
        counts = Counter(sexes)
        if len(counts) > 1:
            best = max(counts, key=lambda s: (counts[s], -sexes.index(s)))
            chosen[spk] = best
            listing.problems.append(Problem(
                f'speaker {spk}', f'listed with two sexes '
                f'({dict(counts)}); using {best} for all its files',
                'fix the sex column of that speaker\'s rows'))
    if chosen:
        listing.utterances = [
            Utterance(u.path, u.speaker, u.birthplace, chosen[u.speaker])
            if u.speaker in chosen else u for u in listing.utterances]
    return listing


# --- generic manifest --------------------------------------------------------

def read_table(path) -> Listing:
    """TSV or CSV manifest (see module docstring); missing files reported."""
    path = Path(path)
    folder = path.absolute().parent
    try:
        text = read_text(path, encoding='utf-8-sig')
    except (OSError, UnicodeDecodeError) as e:
        raise CorpusError(f'{path}: cannot read the manifest ({e}); save it '
                          f'as UTF-8 TSV or CSV') from None
    delimiter = ',' if path.suffix.lower() == '.csv' else '\t'
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    if not rows:
        raise CorpusError(f'{path}:1: empty manifest; the first line must '
                          f'be the header path, speaker[, birthplace, sex]')
    header = [h.strip().lower() for h in rows[0]]
    for col in ('path', 'speaker'):
        if col not in header:
            raise CorpusError(
                f'{path}:1: header has no "{col}" column; the first line '
                f'must name the columns path, speaker[, birthplace, sex]')
    idx = {c: header.index(c) for c in ('path', 'speaker', 'birthplace',
                                        'sex') if c in header}
    out = Listing('manifest', path)
    first = {}  # path -> (line, utterance) of the row that lists it first
    for n, fields in enumerate(rows[1:], start=2):
        if not any(f.strip() for f in fields):
            continue
        where = f'{path}:{n}'
        if len(fields) != len(header):
            out.problems.append(Problem(
                where, f'{len(fields)} fields, the header has {len(header)}',
                'give every row one value per column'))
            continue
        row = {c: fields[i].strip() for c, i in idx.items()}
        if not row['path'] or not row['speaker']:
            out.problems.append(Problem(where, 'empty path or speaker',
                                        'fill in both or remove the row'))
            continue
        p = Path(row['path'])
        p = resolved(p if p.is_absolute() else folder / p)
        problem = not_a_file(p)
        if problem:
            out.problems.append(Problem(
                str(p), f'listed at {where} but it {problem}',
                'fix the path (relative to the manifest folder) or remove '
                'the row'))
            continue
        sex = row.get('sex') or None
        if sex is not None and _sex(sex) is None:
            out.problems.append(Problem(
                where, f'sex {sex!r} is not M or F',
                'spell it M or F; the file is used without a sex'))
        u = Utterance(p, row['speaker'], row.get('birthplace') or None,
                      _sex(sex))
        if p in first:  # in both splits it would leak validation into training
            line, seen = first[p]
            out.problems.append(Problem(
                where, f'lists {p} again (first at line {line}'
                + (')' if seen == u else ', with other labels)'),
                f'remove the duplicate row; the file is used once, with the '
                f'labels of line {line}'))
            continue
        first[p] = (n, u)
        out.utterances.append(u)
    _report_unlisted(out, folder, {u.path for u in out.utterances} |
                     {Path(pr.path) for pr in out.problems})
    return settle_sexes(out)


def _report_unlisted(listing, folder, known, limit=None):
    """Audio files under ``folder`` that no metadata row mentions."""
    for p in sorted(folder.rglob('*')):  # rglob follows no symlinked dirs
        if p.suffix.lower() in AUDIO_EXT and p.is_file() \
                and resolved(p) not in known:
            listing.problems.append(Problem(
                printable(resolved(p)),
                'audio file without metadata (not listed)',
                'add a row for it or move it out of the corpus folder'))


# --- JVS ---------------------------------------------------------------------

def _jvs_root(path):
    path = Path(path)
    if (path / 'jvs_ver1').is_dir():
        return path / 'jvs_ver1'
    return path


def read_jvs(path, subsets=JVS_SUBSETS) -> Listing:
    root = _jvs_root(path)
    gender_file = root / 'gender_f0range.txt'
    sexes: Dict[str, str] = {}
    out = Listing('jvs', root)
    if gender_file.is_file():
        for n, line in enumerate(read_text(
                gender_file, encoding='utf-8-sig').splitlines(), start=1):
            parts = line.split()
            if len(parts) < 2 or not re.fullmatch(r'jvs\d+', parts[0]):
                continue  # header or blank
            if _sex(parts[1]) is None:
                out.problems.append(Problem(
                    f'{gender_file}:{n}', f'sex {parts[1]!r} is not M or F',
                    'fix the line'))
                continue
            if parts[0] in sexes and sexes[parts[0]] != _sex(parts[1]):
                out.problems.append(Problem(
                    f'speaker {parts[0]}', 'listed with two sexes in '
                    f'{gender_file.name}; using the first',
                    'fix gender_f0range.txt'))
                continue
            sexes.setdefault(parts[0], _sex(parts[1]))
    else:
        out.problems.append(Problem(
            str(gender_file), 'missing: no sex for any speaker',
            'restore gender_f0range.txt from the JVS archive'))
    for spk_dir in sorted(root.glob('jvs[0-9]*')):
        if not spk_dir.is_dir():
            continue
        spk = spk_dir.name
        for subset in subsets:
            for wav in sorted((spk_dir / subset).glob('wav24kHz16bit/*')):
                if wav.suffix.lower() not in AUDIO_EXT:
                    continue
                if not_a_file(wav):  # a folder or link loop named x.wav
                    out.problems.append(Problem(
                        printable(wav), f'named like audio but it '
                        f'{not_a_file(wav)}', 'rename or remove it'))
                    continue
                if spk not in sexes and gender_file.is_file():
                    out.problems.append(Problem(
                        str(wav), f'speaker {spk} has no line in '
                        f'{gender_file.name}; used without a sex',
                        f'add "{spk} M|F" to {gender_file.name}'))
                out.utterances.append(Utterance(resolved(wav), spk, None,
                                                sexes.get(spk)))
    return out


# --- VCTK --------------------------------------------------------------------

def _vctk_root(path):
    path = Path(path)
    if (path / 'speaker-info.txt').is_file():
        return path
    for child in sorted(path.glob('*/speaker-info.txt')):
        return child.parent
    return path


def read_speaker_info(path):
    """{'p225': (sex, accent, region)} from VCTK's speaker-info.txt."""
    info, problems = {}, []
    for n, line in enumerate(read_text(
            path, encoding='utf-8-sig', errors='replace').splitlines(),
            start=1):
        line = line.split('(')[0]  # 0.92 adds "(mic2 files unavailable)"
        parts = line.split()
        if len(parts) < 3 or parts[0].upper() == 'ID':
            continue
        spk = parts[0] if parts[0].startswith('p') else 'p' + parts[0]
        sex = _sex(parts[2])
        if sex is None:
            problems.append(Problem(f'{path}:{n}', f'gender {parts[2]!r} '
                                    'is not M or F', 'fix the line'))
        accent = parts[3] if len(parts) > 3 else None
        region = ' '.join(parts[4:]) or None
        info[spk] = (sex, accent, region)
    return info, problems


def read_vctk(path, mic='mic1', birthplace='accent') -> Listing:
    if mic not in ('mic1', 'mic2'):
        raise CorpusError(f'mic={mic!r}: choose mic1 or mic2')
    if birthplace not in ('accent', 'region'):
        raise CorpusError(f'birthplace={birthplace!r}: choose accent or '
                          f'region')
    root = _vctk_root(path)
    out = Listing('vctk', root)
    info_file = root / 'speaker-info.txt'
    if not info_file.is_file():
        raise CorpusError(f'{info_file}: missing; VCTK needs speaker-info.txt '
                          f'beside wav48/ or wav48_silence_trimmed/')
    info, out.problems = read_speaker_info(info_file)
    if (root / 'wav48_silence_trimmed').is_dir():
        files = sorted((root / 'wav48_silence_trimmed').glob(
            f'p*/*_{mic}.flac'))
    else:
        files = sorted((root / 'wav48').glob('p*/*.wav'))
    for f in files:
        spk = f.parent.name
        if not_a_file(f):  # a folder or link loop named like audio
            out.problems.append(Problem(
                printable(f), f'named like audio but it {not_a_file(f)}',
                'rename or remove it'))
            continue
        if spk not in info:
            out.problems.append(Problem(
                str(f), f'speaker {spk} has no row in speaker-info.txt',
                'add a row for it (ID AGE GENDER ACCENTS REGION) or remove '
                'the folder'))
            continue
        sex, accent, region = info[spk]
        place = accent if birthplace == 'accent' else region
        out.utterances.append(Utterance(resolved(f), spk, place, sex))
    return settle_sexes(out)


# --- CSJ ---------------------------------------------------------------------

def read_csj(path) -> Listing:
    root = Path(path)
    out = Listing('csj', root)
    talks = {}   # talk id -> (speaker, sex, birthplace, source)
    for table in (root / 'speakers.tsv', root / 'speakers.csv'):
        if table.is_file():
            delim = ',' if table.suffix == '.csv' else '\t'
            rows = list(csv.DictReader(io.StringIO(
                read_text(table, encoding='utf-8-sig')), delimiter=delim))
            for n, r in enumerate(rows, start=2):
                r = {k.strip().lower(): (v or '').strip()
                     for k, v in r.items() if k}
                if not r.get('talk') or not r.get('speaker'):
                    out.problems.append(Problem(f'{table}:{n}', 'no talk or '
                                                'speaker', 'fill both in'))
                    continue
                talks[r['talk']] = (r['speaker'], _sex(r.get('sex', '')),
                                    r.get('birthplace') or None, table)
    for xml in sorted((root / 'XML').glob('**/*.xml')):
        try:
            with open_regular(xml, 'rb') as f:  # a FIFO would block
                elem = next(ET.iterparse(f, events=('start',)))[1]
        except (ET.ParseError, StopIteration, OSError) as e:
            out.problems.append(Problem(str(xml), f'unreadable XML ({e})',
                                        'restore the file from the CSJ '
                                        'media'))
            continue
        a = elem.attrib
        talk = a.get('TalkID') or xml.stem
        if not a.get('SpeakerID'):
            out.problems.append(Problem(str(xml), 'no SpeakerID attribute '
                                        'on the root element',
                                        'check that this is a CSJ XML file'))
            continue
        talks.setdefault(talk, (a['SpeakerID'], _sex(a.get('SpeakerSex', '')),
                                a.get('SpeakerBirthPlace') or None, xml))
    wavs = {}
    for w in sorted((root / 'WAV').glob('**/*')):
        if w.suffix.lower() in AUDIO_EXT and w.is_file():
            wavs[w.stem] = w
    for talk, (spk, sex, place, src) in sorted(talks.items()):
        if talk not in wavs:
            out.problems.append(Problem(
                str(root / 'WAV' / f'{talk}.wav'),
                f'talk {talk} in {Path(src).name} has no audio file',
                'copy the WAV folder from the CSJ media'))
            continue
        out.utterances.append(Utterance(resolved(wavs[talk]), spk, place,
                                        sex))
    for talk, w in sorted(wavs.items()):
        if talk not in talks:
            out.problems.append(Problem(
                str(w), 'audio file without speaker metadata',
                f'add its XML (XML/BaseXML/.../{talk}.xml) or a row in '
                f'speakers.tsv'))
    return settle_sexes(out)


# --- selection ---------------------------------------------------------------

def detect(path) -> Optional[str]:
    """Guess the corpus kind from the layout; None when nothing matches."""
    path = Path(path)
    if path.is_file():
        return 'manifest'
    if not path.is_dir():
        return None
    if (path / 'manifest.tsv').is_file():
        return 'manifest'
    if (_jvs_root(path) / 'gender_f0range.txt').is_file() or \
            any(_jvs_root(path).glob('jvs[0-9]*/parallel100')):
        return 'jvs'
    root = _vctk_root(path)
    if (root / 'speaker-info.txt').is_file() and (
            (root / 'wav48').is_dir() or
            (root / 'wav48_silence_trimmed').is_dir()):
        return 'vctk'
    if (path / 'WAV').is_dir() and ((path / 'XML').is_dir() or
                                    (path / 'speakers.tsv').is_file() or
                                    (path / 'speakers.csv').is_file()):
        return 'csj'
    return None


def split_spec(spec):
    """'kind:path' -> (kind, path); a bare path -> (None, path)."""
    spec = str(spec)
    kind, sep, rest = spec.partition(':')
    if sep and kind in KINDS:
        return kind, rest
    if sep and re.fullmatch(r'[A-Za-z]\w+', kind) and not Path(spec).exists():
        raise CorpusError(f'CORPUS={spec}: unknown corpus kind {kind!r}; '
                          f'kinds: {", ".join(KINDS)} (kind:path), or a bare '
                          f'path to auto-detect')
    return (None, spec) if spec != 'synth' else ('synth', '')


def read_corpus(spec, *, mic='mic1', birthplace='accent',
                subsets=JVS_SUBSETS, announce=True) -> Listing:
    """Read ``kind:path`` (or a bare path, auto-detected)."""
    kind, path = split_spec(spec)
    if kind == 'synth':
        raise CorpusError('CORPUS=synth is generated, not read; use '
                          'vox.data.sources.resolve_corpus')
    if kind is None and not Path(path).expanduser().exists():
        raise CorpusError(f'{path}: {not_a_file(Path(path).expanduser())}; '
                          f'give a corpus folder or manifest (kinds: '
                          f'manifest, jvs, vctk, csj)')
    if kind is None:
        kind = detect(path)
        if kind is None:
            raise CorpusError(
                f'{path}: cannot tell which corpus this is; name it, e.g. '
                f'CORPUS=vctk:{path} (kinds: manifest, jvs, vctk, csj)')
        if announce:
            print(f'vox: {path} looks like a {kind} corpus (say '
                  f'CORPUS=kind:{path} to choose another reader)',
                  file=sys.stderr)
    p = Path(path).expanduser()
    if not p.exists():
        raise CorpusError(f'{p}: {not_a_file(p)}; give a corpus folder or '
                          f'manifest (kinds: manifest, jvs, vctk, csj)')
    if kind == 'manifest':
        listing = read_table(p / 'manifest.tsv' if p.is_dir() else p)
    elif kind == 'jvs':
        listing = read_jvs(p, subsets)
    elif kind == 'vctk':
        listing = read_vctk(p, mic, birthplace)
    else:
        listing = read_csj(p)
    return drop_undecodable(listing)


def drop_undecodable(listing):
    """Files whose names are not valid UTF-8 cannot go into a manifest (a
    UTF-8 text file): reported and left out, not a crash."""
    kept = []
    for u in listing.utterances:
        if is_utf8_name(u.path):
            kept.append(u)
        else:
            listing.problems.append(Problem(
                printable(u.path), 'file name is not valid UTF-8',
                'rename it (e.g. convmv -f latin1 -t utf8) to use it'))
    listing.utterances = kept
    return listing


def manifest_for(spec, cache_dir, **options):
    """Read the corpus, write its manifest into ``cache_dir/manifests`` and
    return (manifest path, listing).  Problems are printed to stderr."""
    listing = read_corpus(spec, **options)
    for p in listing.problems:
        print(f'vox: warning: {p}', file=sys.stderr)
    if not listing.utterances:
        raise CorpusError(f'{spec}: no usable utterances found '
                          f'({len(listing.problems)} problem(s) above)')
    tag = hashlib.sha1(f'{listing.kind}:{Path(listing.root).resolve()}:'
                       f'{sorted(options.items())}'.encode()).hexdigest()[:10]
    path = Path(cache_dir) / 'manifests' / f'{listing.kind}-{tag}.tsv'
    write_manifest(path, listing.utterances)
    return path, listing
