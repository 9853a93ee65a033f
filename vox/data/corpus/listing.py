"""What a corpus reader returns: the utterances it placed and what it could
not place, with the reason.

A reader never raises over one row or one file: it records a
:class:`Problem` and carries on (:class:`CorpusError` only when nothing can
be read).  Problems are kept one per file, so tests and the JSON report can
name every one; for people they are shown grouped by
:func:`grouped_lines`: problems of one kind in one place become one line
with a count, so 1368 files a manifest leaves out on purpose are one line,
not 1368.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import List

from vox.base.errors import VoxError
from vox.data.corpus.manifest import Utterance


class CorpusError(VoxError):
    """Nothing usable could be read from the corpus."""


@dataclass(frozen=True)
class Problem:
    path: str
    reason: str
    action: str
    # The reason without what is particular to one file, and where the file
    # lies: problems with the same (kind, place) are shown as one line.
    kind: str = ''
    place: str = ''

    def __str__(self):
        return f'{self.path}: {self.reason}; {self.action}'

    @property
    def group(self):
        place = self.place or (str(Path(self.path).parent)
                               if '/' in self.path else '')
        return (self.kind or self.reason, place)


@dataclass
class Listing:
    kind: str
    root: Path
    utterances: List[Utterance] = field(default_factory=list)
    problems: List[Problem] = field(default_factory=list)


def grouped_lines(problems, examples=1):
    """One line per (kind, place) group: the problem itself when it is
    alone, otherwise ``place: N x kind (e.g. ...); action``."""
    groups = defaultdict(list)
    for p in problems:
        groups[p.group].append(p)
    lines = []
    for (kind, place), ps in groups.items():
        if len(ps) == 1:
            lines.append(str(ps[0]))
            continue
        shown = ', '.join(Path(p.path).name if place else p.path
                          for p in ps[:examples])
        where = f'{place}: ' if place else ''
        lines.append(f'{where}{len(ps)} x {kind} (e.g. {shown}); '
                     f'{ps[0].action}')
    return lines


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
