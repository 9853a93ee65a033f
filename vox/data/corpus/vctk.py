"""VCTK 0.80 (``wav48/<spk>/<spk>_NNN.wav``) and 0.92
(``wav48_silence_trimmed/<spk>/<spk>_NNN_mic1.flac`` / ``_mic2.flac``),
each with ``speaker-info.txt``.

Layout and metadata as the public readers take them (docs/corpora.md names
each source): every folder under the audio folder is a speaker, ``s5``
included (tensorflow-datasets ``tensorflow_datasets/audio/vctk.py`` lists
``s5`` and globs ``*/*_mic1.flac``); ``speaker-info.txt`` is whitespace
separated with IDs ``225`` (0.80) or ``p225`` (0.92), and its ACCENTS may be
two words (``Australian English``, ``NewZealand English``) and its REGION
empty (rows of ``speaker-info.txt`` as shipped, e.g. in
rhoposit/self-attention-tacotron).  ``Unknown`` is no label; p280 and p315
have no mic2 files (tensorflow-datasets, same file).
"""
from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from vox.base.files import not_a_file, printable, read_text, resolved
from vox.data.corpus.listing import (CorpusError, Listing, Problem,
                                     settle_sexes)
from vox.data.corpus.manifest import Utterance, normalise_sex

NO_LABEL = ('unknown', 'n/a', '')


def vctk_root(path):
    path = Path(path)
    if (path / 'speaker-info.txt').is_file():
        return path
    for child in sorted(path.glob('*/speaker-info.txt')):
        return child.parent
    return path


def _label(words):
    text = ' '.join(words)
    return None if text.lower() in NO_LABEL else text


def read_speaker_info(path):
    """({'p225': (sex, accent, region)}, problems) from speaker-info.txt.

    The accent is one word, or two when the second is ``English`` after a
    nationality (``Australian English``, ``NewZealand English``): VCTK
    names no region ``English``.  A parenthesised comment (0.92's
    ``(mic2 files unavailable)``) is dropped; ``Unknown`` or an empty
    field is no label."""
    info, problems = {}, []
    for n, line in enumerate(read_text(
            path, encoding='utf-8-sig', errors='replace').splitlines(),
            start=1):
        parts = line.split('(')[0].split()
        if len(parts) < 3 or parts[0].upper() == 'ID':
            continue
        spk = 'p' + parts[0] if parts[0].isdigit() else parts[0]
        sex = normalise_sex(parts[2])
        if sex is None:
            problems.append(Problem(f'{path}:{n}', f'gender {parts[2]!r} '
                                    'is not M or F', 'fix the line'))
        rest = parts[3:]
        cut = 2 if len(rest) > 1 and rest[1] == 'English' \
            and rest[0] != 'English' else 1
        info[spk] = (sex, _label(rest[:cut]), _label(rest[cut:]))
    return info, problems


def _audio_files(root, mic):
    """{speaker: {utterance: path}} for ``mic`` and the other microphone."""
    if (root / 'wav48_silence_trimmed').is_dir():
        base, pattern = root / 'wav48_silence_trimmed', '*_mic[12].flac'
    else:
        base, pattern = root / 'wav48', '*.wav'
    found = defaultdict(lambda: defaultdict(dict))  # spk -> mic -> utt -> p
    for folder in sorted(base.iterdir()) if base.is_dir() else ():
        if not folder.is_dir():
            continue
        for f in sorted(folder.glob(pattern)):
            name = f.name[:-len(f.suffix)]
            m = name[-4:] if pattern.endswith('.flac') else 'mic1'
            utt = name[:-5] if pattern.endswith('.flac') else name
            found[folder.name][m][utt] = f
    return found


def read_vctk(path, mic='mic1', birthplace='accent') -> Listing:
    if mic not in ('mic1', 'mic2'):
        raise CorpusError(f'mic={mic!r}: choose mic1 or mic2')
    if birthplace not in ('accent', 'region'):
        raise CorpusError(f'birthplace={birthplace!r}: choose accent or '
                          f'region')
    root = vctk_root(path)
    out = Listing('vctk', root)
    info_file = root / 'speaker-info.txt'
    if not info_file.is_file():
        raise CorpusError(f'{info_file}: missing; VCTK needs speaker-info.txt '
                          f'beside wav48/ or wav48_silence_trimmed/')
    info, out.problems = read_speaker_info(info_file)
    flac = (root / 'wav48_silence_trimmed').is_dir()
    if not flac and mic != 'mic1':
        raise CorpusError(f'{root}: VCTK 0.80 (wav48/) has one microphone; '
                          f'leave out --mic mic2')
    other = 'mic2' if mic == 'mic1' else 'mic1'
    unlabelled = []
    for spk, mics in sorted(_audio_files(root, mic).items()):
        if spk not in info:
            for f in sorted(p for m in mics.values() for p in m.values()):
                out.problems.append(Problem(
                    str(f), f'speaker {spk} has no row in speaker-info.txt',
                    'add a row for it (ID AGE GENDER ACCENTS REGION) or '
                    'remove the folder',
                    kind='files of a speaker with no row in speaker-info.txt'))
            continue
        if not mics.get(mic):
            out.problems.append(Problem(
                f'speaker {spk}', f'has no {mic} files ({len(mics[other])} '
                f'{other} files); left out', f'use --mic {other} to read it',
                kind=f'speakers with no {mic} files'))
            continue
        missing = sorted(set(mics[other]) - set(mics[mic]))
        if missing:
            out.problems.append(Problem(
                f'speaker {spk}', f'{len(missing)} utterance(s) have no {mic} '
                f'file, e.g. {missing[0]}_{other}.flac', 'nothing to do: '
                f'the {other} recordings of those utterances are not used'))
        sex, accent, region = info[spk]
        place = accent if birthplace == 'accent' else region
        if place is None:
            unlabelled.append(spk)
        for utt, f in sorted(mics[mic].items()):
            if not_a_file(f):  # a folder or link loop named like audio
                out.problems.append(Problem(
                    printable(f), f'named like audio but it {not_a_file(f)}',
                    'rename or remove it'))
                continue
            out.utterances.append(Utterance(resolved(f), spk, place, sex))
    if unlabelled:
        column = 'ACCENTS' if birthplace == 'accent' else 'REGION'
        out.problems.append(Problem(
            str(info_file), f'{len(unlabelled)} speaker(s) have no '
            f'{column} (empty or Unknown): {", ".join(unlabelled)}; their '
            f'files are used without a birthplace',
            'fill the column in, or train an experiment that does not use '
            'birthplace'))
    return settle_sexes(out)
