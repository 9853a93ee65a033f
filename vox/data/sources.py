"""Where an experiment's data comes from: corpus -> manifest -> datasets.

:func:`resolve_corpus` turns ``CORPUS=...`` (or the config's
``data.corpus.source``) into a manifest path; :func:`load_data` reads it,
splits it, extracts (or reads cached) features and builds the training and
validation datasets.  Both take only what they use: the corpus section,
the data section and the seed, not a whole experiment config.
"""
import dataclasses
import os
import sys
from pathlib import Path

import numpy as np

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.base.paths import REPO
from vox.base.memory import check_fits
from vox.data import audio, dataset as ds
from vox.data.corpus import readers
from vox.data.corpus.manifest import read_manifest, unique_utterances
from vox.data.corpus.synth import CorpusSpec, ensure_corpus
from vox.data.features import load_features


def cache_dir():
    """Generated corpora, manifests and features: $VOX_CACHE or cache/."""
    return Path(os.environ.get('VOX_CACHE', REPO / 'cache'))


@dataclasses.dataclass
class ExperimentData:
    labels: ds.LabelSpace
    train: ds.SpectrogramCropDataset
    validation: ds.SpectrogramCropDataset
    combinations: np.ndarray      # real (speaker, birthplace, sex) rows
    order_rng: np.random.RandomState
    manifest: Path


def synth_spec(corpus, seed):
    """The built-in corpus a ``data.corpus`` section asks for, refused in one
    line when the generator cannot make it or training could not hold its
    features in memory (checked before a file is generated)."""
    try:
        spec = CorpusSpec(seed=seed, birthplaces=corpus.birthplaces,
                          speakers_per_cell=corpus.speakers_per_cell,
                          utterances_per_speaker=corpus.utterances_per_speaker)
    except ValueError as e:
        raise VoxError(f'data.corpus: {e} (the built-in corpus); change '
                       f'the config or give CORPUS=') from None
    n_utt = spec.n_speakers * spec.utterances_per_speaker
    # Training holds every utterance's float32 (T, 256) magnitude: 4 bytes
    # per 16 kHz sample (one frame per 256 samples).
    check_fits(int(n_utt * spec.max_duration * audio.SAMPLE_RATE * 4),
               f'data.corpus: the built-in corpus of {spec.n_speakers} '
               f'speakers x {spec.utterances_per_speaker} utterances',
               'lower data.corpus.utterances_per_speaker or '
               'speakers_per_cell')
    return spec


def resolve_corpus(source, corpus, seed):
    """The manifest for CORPUS=``source`` (default ``corpus.source``)."""
    return resolve_listing(source, corpus, seed)[0]


def resolve_listing(source, corpus, seed):
    """(manifest, number of files or speakers the reader could not place)
    for CORPUS=``source`` (default ``corpus.source``).

    ``source``: synth | manifest.tsv | a folder holding manifest.tsv |
    kind:path (vox/data/corpus/readers.py; a manifest is written to the
    cache).  ``corpus`` (a :class:`vox.config.CorpusConfig`) and ``seed``
    size and seed the built-in corpus.
    """
    source = source or corpus.source
    if source == 'synth':
        spec = synth_spec(corpus, seed)
        return ensure_corpus(cache_dir() / 'corpus', spec), 0
    kind, rest = readers.split_spec(source)
    if kind in ('jvs', 'vctk', 'csj') or (kind is None and readers.detect(
            rest) not in (None, 'manifest')) or str(rest).lower().endswith(
            '.csv'):
        manifest, listing = readers.manifest_for(source, cache_dir())
        return manifest, len(listing.problems)
    if source.startswith('manifest:'):
        source = source[len('manifest:'):]
    path = Path(source).expanduser()
    if path.is_dir():
        path = path / 'manifest.tsv'
    if not path.exists():
        raise VoxError(
            f'CORPUS={source}: no such manifest; give a manifest.tsv '
            f'(columns path, speaker, birthplace, sex), a folder holding '
            f'one, or CORPUS=synth for the built-in corpus')
    return path, 0


def read_utterances(manifest):
    """The manifest's utterances, each file once; a malformed manifest is a
    VoxError.  A file listed twice is used once, saying so (in both splits
    it would leak validation into training)."""
    try:
        utterances, repeated = unique_utterances(read_manifest(manifest))
    except ValueError as e:
        raise VoxError(str(e)) from None
    if repeated:
        print(f'vox: warning: {manifest}: {len(repeated)} row(s) list a file '
              f'already listed, e.g. {repeated[0]}; each file is used once',
              file=sys.stderr)
    return utterances


def without_unlabelled_speakers(utterances):
    """The experiments need speaker, birthplace and sex for every file: a
    speaker the corpus leaves without one of them (VCTK's p280, whose accent
    is Unknown) is left out, named in one line.  A label no speaker has
    (JVS has no birthplace) is left for the label space to refuse."""
    missing = {}
    for group in GROUPS:
        values = [getattr(u, group) for u in utterances]
        if any(v is None for v in values) and \
                any(v is not None for v in values):
            for u in utterances:
                if getattr(u, group) is None:
                    missing.setdefault(u.speaker, set()).add(group)
    if not missing:
        return utterances
    names = ', '.join(f'{spk} (no {" or ".join(sorted(g))})'
                      for spk, g in sorted(missing.items()))
    print(f'vox: warning: {len(missing)} speaker(s) left out for lack of a '
          f'label: {names}; label them in the corpus metadata to use them',
          file=sys.stderr)
    return [u for u in utterances if u.speaker not in missing]


def corpus_counts(utterances, features, crop_frames, not_placed):
    """The one line training prints: the counts `vox prepare` tabulates."""
    rejected = sum(len(f.voiced) == 0 for f in features)
    short = sum(0 < len(f.voiced) < crop_frames for f in features)
    usable = len(features) - rejected - short
    return (f'vox: corpus: {len({u.speaker for u in utterances})} speakers, '
            f'{len(utterances)} files found, {usable} usable, {short} shorter '
            f'than {crop_frames} frames, {rejected} rejected, {not_placed} '
            f'not placed (vox prepare lists each)')


def load_data(data, seed, source=None):
    """:class:`ExperimentData` for a ``data:`` section (DataConfig)."""
    manifest, not_placed = resolve_listing(source, data.corpus, seed)
    utterances = without_unlabelled_speakers(read_utterances(manifest))
    labels = ds.LabelSpace.from_utterances(utterances)
    train_utts, val_utts = ds.split_by_utterance(
        utterances, data.validation_fraction, seed)
    features = load_features(train_utts + val_utts, cache_dir())
    train_f, val_f = features[:len(train_utts)], features[len(train_utts):]
    train = ds.SpectrogramCropDataset(
        train_f, labels, data.crop_frames, data.scale, train=True,
        seed=seed, min_voiced=data.min_voiced)
    validation = ds.SpectrogramCropDataset(
        val_f, labels, data.crop_frames, data.scale, train=False,
        min_voiced=data.min_voiced, validation_crops=data.validation_crops)
    print(corpus_counts(utterances, features, data.crop_frames, not_placed),
          file=sys.stderr)
    if len(train) == 0 or len(validation) == 0:
        raise VoxError(
            f'{manifest}: not enough usable audio ({len(train)} training, '
            f'{len(validation)} validation crops of {data.crop_frames} '
            f'frames); each speaker needs at least two utterances of '
            f'{data.crop_frames * 256 / 16000:.1f} s or more')
    return ExperimentData(labels, train, validation,
                          labels.combinations(utterances),
                          np.random.RandomState(seed), manifest)
