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
* ``vctk``: VCTK 0.80 and 0.92 (``vox/data/corpus/vctk.py``).
* ``csj``: CSJ's disk and DVD layouts, dialogues, segments
  (``vox/data/corpus/csj.py``).
"""
from __future__ import annotations

import csv
import hashlib
import io
import os
import re
import sys
from pathlib import Path
from typing import Dict, Optional

from vox.base.files import (is_utf8_name, not_a_file, printable,
                            read_text, resolved)
from vox.data.corpus.csj import is_csj, read_csj
from vox.data.corpus.listing import (CorpusError, Listing, Problem,
                                     grouped_lines, settle_sexes)
from vox.data.corpus.manifest import Utterance, normalise_sex, write_manifest
from vox.data.corpus.vctk import read_speaker_info, read_vctk, vctk_root

__all__ = ['CorpusError', 'Listing', 'Problem', 'grouped_lines',
           'settle_sexes', 'read_speaker_info', 'read_vctk', 'read_csj',
           'read_table', 'read_jvs', 'read_corpus', 'detect', 'split_spec',
           'manifest_for', 'KINDS']

KINDS = ('manifest', 'jvs', 'vctk', 'csj', 'synth')
AUDIO_EXT = ('.wav', '.flac')
JVS_SUBSETS = ('parallel100', 'nonpara30')
# The most folder entries looked at for audio a manifest does not list: a
# manifest kept at the top of a large tree (or at /) must not make vox walk
# the whole filesystem.
UNLISTED_SCAN_LIMIT = 200_000


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
                'the row', kind=f'rows naming a file that {problem}'))
            continue
        sex = row.get('sex') or None
        if sex is not None and normalise_sex(sex) is None:
            out.problems.append(Problem(
                where, f'sex {sex!r} is not M or F',
                'spell it M or F; the file is used without a sex'))
        u = Utterance(p, row['speaker'], row.get('birthplace') or None,
                      normalise_sex(sex))
        if p in first:  # in both splits it would leak validation into training
            line, seen = first[p]
            out.problems.append(Problem(
                where, f'lists {p} again (first at line {line}'
                + (')' if seen == u else ', with other labels)'),
                'remove the duplicate rows; each file is used once, with the '
                'labels of its first row',
                kind='rows listing a file already listed' + (
                    '' if seen == u else ', with other labels'),
                place=str(path)))
            continue
        first[p] = (n, u)
        out.utterances.append(u)
    _report_unlisted(out, folder, {u.path for u in out.utterances} |
                     {Path(pr.path) for pr in out.problems})
    return settle_sexes(out)


def _report_unlisted(listing, folder, known, limit=None):
    """Audio files under ``folder`` that no metadata row mentions, looking
    at no more than ``limit`` folder entries and never walking a
    filesystem root (a manifest stored at / would walk everything)."""
    limit = UNLISTED_SCAN_LIMIT if limit is None else limit
    folder = Path(folder)
    if folder == Path(folder.anchor):
        listing.problems.append(Problem(
            str(folder), 'the manifest lies at the top of a filesystem, so '
            'audio it does not list is not looked for',
            'keep the manifest in the corpus folder'))
        return
    seen = 0
    for top, dirs, files in os.walk(folder):  # follows no symlinked dirs
        dirs.sort()
        seen += len(dirs) + len(files)
        if seen > limit:
            listing.problems.append(Problem(
                str(folder), f'more than {limit} entries below the manifest\'s '
                f'folder: stopped looking for audio it does not list',
                'keep the manifest in the corpus folder'))
            return
        for name in sorted(files):
            p = Path(top) / name
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
            if normalise_sex(parts[1]) is None:
                out.problems.append(Problem(
                    f'{gender_file}:{n}', f'sex {parts[1]!r} is not M or F',
                    'fix the line'))
                continue
            if parts[0] in sexes and sexes[parts[0]] != normalise_sex(parts[1]):
                out.problems.append(Problem(
                    f'speaker {parts[0]}', 'listed with two sexes in '
                    f'{gender_file.name}; using the first',
                    'fix gender_f0range.txt'))
                continue
            sexes.setdefault(parts[0], normalise_sex(parts[1]))
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
    root = vctk_root(path)
    if (root / 'speaker-info.txt').is_file() and (
            (root / 'wav48').is_dir() or
            (root / 'wav48_silence_trimmed').is_dir()):
        return 'vctk'
    if is_csj(path):
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
                subsets=JVS_SUBSETS, announce=True,
                segments_dir=None) -> Listing:
    """Read ``kind:path`` (or a bare path, auto-detected).  CSJ talks are
    cut into segments under ``segments_dir`` when it is given."""
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
        listing = read_csj(p, segments_dir)
    return drop_unwritable_names(listing)


def drop_unwritable_names(listing):
    """Files whose names are not valid UTF-8, or hold a tab or a line break,
    cannot go into a manifest (UTF-8 text, one tab-separated row per file):
    reported and left out, not a crash."""
    kept = []
    for u in listing.utterances:
        name = str(u.path)
        if not is_utf8_name(u.path):
            why = 'file name is not valid UTF-8'
        elif '\t' in name or '\n' in name or '\r' in name:
            why = 'file name holds a tab or a line break'
        else:
            kept.append(u)
            continue
        listing.problems.append(Problem(
            printable(u.path).encode('unicode_escape').decode('ascii'),
            why, 'rename it (e.g. convmv -f latin1 -t utf8, or without the '
            'tab or line break) to use it', kind=why,
            place=printable(Path(u.path).parent)))
    listing.utterances = kept
    return listing


drop_undecodable = drop_unwritable_names


def manifest_for(spec, cache_dir, **options):
    """Read the corpus, write its manifest into ``cache_dir/manifests`` and
    return (manifest path, listing).  Problems are printed to stderr."""
    listing = read_corpus(spec, segments_dir=Path(cache_dir) / 'segments',
                          **options)
    for line in grouped_lines(listing.problems):
        print(f'vox: warning: {line}', file=sys.stderr)
    if not listing.utterances:
        raise CorpusError(f'{spec}: no usable utterances found '
                          f'({len(listing.problems)} problem(s) above)')
    tag = hashlib.sha1(f'{listing.kind}:{Path(listing.root).resolve()}:'
                       f'{sorted(options.items())}'.encode()).hexdigest()[:10]
    path = Path(cache_dir) / 'manifests' / f'{listing.kind}-{tag}.tsv'
    write_manifest(path, listing.utterances)
    return path, listing
