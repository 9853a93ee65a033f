"""The corpus manifest: one TSV that lists every utterance and its labels.

Every corpus vox reads (the built-in generated one and a user's own) is
described by the same file::

    path<TAB>speaker<TAB>birthplace<TAB>sex
    wav/spk01/spk01_01.wav<TAB>spk01<TAB>north<TAB>M

* The first line is the header; columns may come in any order and extra
  columns are ignored.  ``path`` and ``speaker`` are required; ``birthplace``
  and ``sex`` may be missing (or a cell left empty), which reads as ``None``.
* ``path`` is relative to the manifest's folder; absolute paths are accepted
  when reading.  Paths are resolved to absolute ones on read.
* ``sex`` is spelled ``M`` or ``F`` (``m``, ``f``, ``male``, ``female`` and
  the Japanese ``男``/``女``/``男性``/``女性`` are accepted on read and
  normalised: :data:`SEX_SPELLINGS`, the one table every reader uses).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional

from vox.base.files import (not_a_file, read_text, replaced_atomically,
                            resolved)

COLUMNS = ('path', 'speaker', 'birthplace', 'sex')
REQUIRED = ('path', 'speaker')
# Every spelling of a sex any reader accepts (manifests, CSV, JVS, VCTK,
# CSJ's 男/女), lower-cased; one table, so a file ``vox prepare`` accepts is
# one training accepts too.
SEX_SPELLINGS = {'m': 'M', 'male': 'M', '男': 'M', '男性': 'M',
                 'f': 'F', 'female': 'F', '女': 'F', '女性': 'F'}


def normalise_sex(value):
    """'M', 'F', or None for an empty or unknown spelling."""
    if value is None:
        return None
    return SEX_SPELLINGS.get(str(value).strip().lower())


class ManifestError(ValueError):
    """A manifest that cannot be used; the message names file, line, fix."""


@dataclass(frozen=True)
class Utterance:
    path: Path
    speaker: str
    birthplace: Optional[str] = None
    sex: Optional[str] = None


def _cell(value: Optional[str], what: str) -> str:
    if value is None:
        return ''
    value = str(value)
    if '\t' in value or '\n' in value or '\r' in value:
        raise ValueError(f'{what} {value!r} contains a tab or newline')
    return value


def write_manifest(path, utterances: Iterable[Utterance]) -> Path:
    """Write ``utterances`` to ``path`` atomically; return the path.

    Paths inside the manifest's folder are written relative to it, others
    absolute.  A column whose values are all ``None`` is left out.
    """
    path = Path(path).absolute()
    folder = path.parent
    folder.mkdir(parents=True, exist_ok=True)
    utterances = list(utterances)
    columns = [c for c in COLUMNS
               if c in REQUIRED or any(getattr(u, c) is not None
                                       for u in utterances)]
    lines = ['\t'.join(columns)]
    for u in utterances:
        if u.sex is not None and u.sex not in ('M', 'F'):
            raise ValueError(f'sex must be "M" or "F", not {u.sex!r}')
        p = Path(u.path).absolute()
        try:
            text = p.relative_to(folder).as_posix()
        except ValueError:
            text = str(p)
        row = {'path': _cell(text, 'path'),
               'speaker': _cell(u.speaker, 'speaker'),
               'birthplace': _cell(u.birthplace, 'birthplace'),
               'sex': _cell(u.sex, 'sex')}
        if not row['speaker']:
            raise ValueError(f'utterance {text} has an empty speaker')
        lines.append('\t'.join(row[c] for c in columns))
    with replaced_atomically(path) as tmp:
        with open(tmp, 'w', encoding='utf-8', newline='\n') as f:
            f.write('\n'.join(lines) + '\n')
    return path


def unique_utterances(utterances):
    """(each file once, in order; descriptions of the rows dropped).

    A file listed twice with the same labels is used once; with other
    labels it is a :class:`ManifestError` (which labels are right is for
    the user to say)."""
    first, out, repeated = {}, [], []
    for u in utterances:
        seen = first.get(u.path)
        if seen is None:
            first[u.path] = u
            out.append(u)
        elif seen == u:
            repeated.append(str(u.path))
        else:
            raise ManifestError(
                f'{u.path} is listed twice with different labels ('
                f'{seen.speaker}/{seen.birthplace}/{seen.sex} and '
                f'{u.speaker}/{u.birthplace}/{u.sex}); keep one row per file')
    return out, repeated


def read_manifest(path) -> List[Utterance]:
    """Read a manifest; raise ManifestError naming file and line on a fault."""
    path = Path(path)
    where = str(path)
    if not path.is_file():
        raise ManifestError(
            f'{where}: manifest not found; check the path, or omit it to use '
            f'the built-in generated corpus')
    folder = path.absolute().parent
    try:
        text = read_text(path, encoding='utf-8-sig')
    except UnicodeDecodeError as e:
        raise ManifestError(f'{where}: not UTF-8 text ({e.reason}); save the '
                            f'manifest as UTF-8 TSV') from None
    lines = text.splitlines()
    hint = ('the first line must be the header '
            '"path\\tspeaker\\tbirthplace\\tsex"')
    if not lines or not lines[0].strip():
        raise ManifestError(f'{where}:1: missing header; {hint}')
    header = [h.strip().lower() for h in lines[0].split('\t')]
    for col in REQUIRED:
        if col not in header:
            raise ManifestError(
                f'{where}:1: header has no "{col}" column; {hint} '
                f'(birthplace and sex may be left out)')
    index = {c: header.index(c) for c in COLUMNS if c in header}
    out = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split('\t')
        if len(fields) != len(header):
            raise ManifestError(
                f'{where}:{n}: {len(fields)} tab-separated fields, the header '
                f'has {len(header)}; give every row one value per column, '
                f'separated by single tabs')
        row = {c: fields[i].strip() for c, i in index.items()}
        if not row['path'] or not row['speaker']:
            raise ManifestError(f'{where}:{n}: empty path or speaker; every '
                                f'row needs both')
        p = Path(row['path'])
        if not p.is_absolute():
            p = folder / p
        p = resolved(p)
        problem = not_a_file(p)
        if problem:
            raise ManifestError(
                f'{where}:{n}: audio file {p} {problem}; fix the path '
                f'(relative paths start at the manifest\'s folder) or remove '
                f'the row')
        sex = row.get('sex') or None
        if sex is not None:
            if normalise_sex(sex) is None:
                raise ManifestError(f'{where}:{n}: sex {sex!r} is not M or F; '
                                    f'spell it M or F (or leave it empty)')
            sex = normalise_sex(sex)
        out.append(Utterance(p, row['speaker'], row.get('birthplace') or None,
                             sex))
    if not out:
        raise ManifestError(f'{where}:2: the manifest lists no utterances; '
                            f'add one row per audio file below the header')
    return out
