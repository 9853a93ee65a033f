"""Spectrogram crops with labels, as every experiment consumes them.

An example is ``(x, speaker, birthplace, sex)``: x float32 ``(1, T, 256)``
and three int32 class indices.  Class counts come from the corpus.  The
validation split is fixed by utterance (per speaker, so every speaker is
seen in both), and validation crops are fixed; training crops are drawn at
random from a seeded generator, among offsets whose frames are at least
``min_voiced`` voiced, so crops are speech rather than pause.  One epoch is
one crop per training utterance.
"""
import dataclasses
import hashlib

import chainer
import numpy as np

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.base.memory import check_fits
from vox.base.scales import SCALES, scale_choices
from vox.data import audio


@dataclasses.dataclass
class LabelSpace:
    """Class names per label group, sorted; index = class id."""
    names: dict

    @classmethod
    def from_utterances(cls, utterances):
        names = {}
        for group in GROUPS:
            values = {getattr(u, group) for u in utterances}
            if None in values:
                raise VoxError(
                    f"the corpus has no '{group}' for some utterances; the "
                    f"experiments need speaker, birthplace and sex for "
                    f"every file (use a manifest with all three columns)")
            names[group] = sorted(values)
        return cls(names)

    @property
    def n_classes(self):
        return tuple(len(self.names[g]) for g in GROUPS)

    def encode(self, utterance):
        return tuple(self.names[g].index(getattr(utterance, g))
                     for g in GROUPS)

    def combinations(self, utterances):
        """The corpus's real (speaker, birthplace, sex) rows, int32 (N, 3)."""
        rows = sorted({self.encode(u) for u in utterances})
        return np.asarray(rows, dtype=np.int32)


def _stable_hash(text, seed):
    return int(hashlib.sha1(f'{seed}:{text}'.encode()).hexdigest()[:12], 16)


def split_by_utterance(utterances, fraction, seed=0):
    """(train, validation): ``fraction`` of each speaker's utterances held out.

    Every speaker with two or more utterances contributes at least one to
    validation; the choice depends only on the seed and the file names.
    Each file is used once (the first row naming it), so no file is in both.
    """
    by_speaker, seen = {}, set()
    for u in utterances:
        if u.path in seen:  # a file listed twice goes to one side only
            continue
        seen.add(u.path)
        by_speaker.setdefault(u.speaker, []).append(u)
    train, val = [], []
    for speaker in sorted(by_speaker):
        utts = sorted(by_speaker[speaker],
                      key=lambda u: _stable_hash(u.path.name, seed))
        n_val = 0 if len(utts) < 2 else max(1, int(round(fraction * len(utts))))
        val.extend(utts[:n_val])
        train.extend(utts[n_val:])
    return train, val


def crop_offsets(voiced, crop_frames, min_voiced):
    """Start frames of the crops that are at least ``min_voiced`` voiced."""
    t = len(voiced)
    if t < crop_frames:
        return np.zeros(0, dtype=np.int64)
    counts = np.convolve(voiced.astype(np.float64),
                         np.ones(crop_frames), mode='valid')
    good = np.flatnonzero(counts >= min_voiced * crop_frames)
    return good if len(good) else np.arange(t - crop_frames + 1)


#: What one item costs before any crop is cut: its tuple, its offsets view
#: and the linspace value it came from.
BYTES_PER_ITEM = 200


class SpectrogramCropDataset(chainer.dataset.DatasetMixin):
    """Crops of ``crop_frames`` frames from cached features.

    ``scale``: 'unit' ([0, 1], GAN and classifier) or 'raw' (AutoEncoder).
    ``train=False`` gives ``validation_crops`` fixed crops per utterance,
    evenly spaced over its usable offsets.
    """

    def __init__(self, features, labels, crop_frames, scale, *, train,
                 seed=0, min_voiced=0.5, validation_crops=1):
        if scale not in SCALES:
            raise VoxError(f'data.scale must be {scale_choices()}, '
                           f'got {scale!r}')
        self.crop_frames = crop_frames
        self.scale = scale
        self.train = train
        self.labels = labels
        self.rng = np.random.RandomState(seed)
        self.too_short = [f.utterance for f in features
                          if len(f.voiced) < crop_frames]
        usable = [f for f in features if len(f.voiced) >= crop_frames]
        if not train:
            check_fits(len(usable) * validation_crops * BYTES_PER_ITEM,
                       f'data.validation_crops {validation_crops} (x '
                       f'{len(usable)} validation utterances)',
                       'lower data.validation_crops')
        self.items = []
        for f in usable:
            offsets = crop_offsets(f.voiced, crop_frames, min_voiced)
            y = np.asarray(labels.encode(f.utterance), dtype=np.int32)
            if train:
                self.items.append((f, offsets, y))
            else:
                picks = np.linspace(0, len(offsets) - 1,
                                    validation_crops + 2)[1:-1]
                for p in picks:
                    self.items.append((f, offsets[int(round(p)):][:1], y))

    def __len__(self):
        return len(self.items)

    def crop(self, i):
        """(magnitude crop (T, 256) raw, labels) for item i."""
        f, offsets, y = self.items[i]
        start = offsets[self.rng.randint(len(offsets))] if self.train \
            else offsets[0]
        return f.magnitude[start:start + self.crop_frames], y

    def get_example(self, i):
        mag, y = self.crop(i)
        x = audio.to_unit(mag) if self.scale == 'unit' else mag
        return (np.ascontiguousarray(x[None], dtype=np.float32),
                y[0], y[1], y[2])
