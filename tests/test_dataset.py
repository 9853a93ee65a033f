from pathlib import Path

import numpy as np

from vox.data import dataset as ds
from vox.data.corpus.manifest import Utterance
from vox.data.features import Features


def utterances(n_speakers=4, per_speaker=10):
    out = []
    for s in range(n_speakers):
        for u in range(per_speaker):
            out.append(Utterance(Path(f'/c/spk{s}_{u}.wav'), f'spk{s}',
                                 ['north', 'south'][s % 2], 'MF'[s // 2 % 2]))
    return out


def test_label_space_reads_class_counts_from_the_corpus():
    labels = ds.LabelSpace.from_utterances(utterances())
    assert labels.n_classes == (4, 2, 2)
    # Classes are sorted by name: spk0 -> 0, north -> 0, M -> 1 (F is 0).
    assert labels.encode(utterances()[0]) == (0, 0, 1)
    combos = labels.combinations(utterances())
    assert combos.shape == (4, 3) and combos.dtype == np.int32


def test_split_is_per_speaker_fixed_and_disjoint():
    utts = utterances()
    train, val = ds.split_by_utterance(utts, 0.2, seed=0)
    assert len(val) == 8 and len(train) == 32
    assert {u.speaker for u in val} == {u.speaker for u in utts}
    assert not {u.path for u in train} & {u.path for u in val}
    again = ds.split_by_utterance(list(reversed(utts)), 0.2, seed=0)
    assert {u.path for u in again[1]} == {u.path for u in val}


def test_crop_offsets_prefer_voiced_frames():
    voiced = np.zeros(100, bool)
    voiced[60:100] = True
    offsets = ds.crop_offsets(voiced, 32, 0.9)
    assert offsets.min() >= 57 and offsets.max() == 68
    assert len(ds.crop_offsets(voiced, 101, 0.5)) == 0
    # No voiced crop at all: fall back to every offset rather than nothing.
    assert len(ds.crop_offsets(np.zeros(40, bool), 32, 0.5)) == 9


def make_features(utts, frames=80):
    rng = np.random.RandomState(0)
    return [Features(u, rng.rand(frames, 256).astype(np.float32) * 10,
                     np.ones(frames, bool)) for u in utts]


def test_examples_have_the_experiment_layout():
    utts = utterances()
    labels = ds.LabelSpace.from_utterances(utts)
    train = ds.SpectrogramCropDataset(make_features(utts), labels, 64, 'unit',
                                      train=True, seed=0)
    x, spk, bp, sex = train[5]
    assert x.shape == (1, 64, 256) and x.dtype == np.float32
    assert 0 <= x.min() and x.max() <= 1
    assert (spk, bp, sex) == labels.encode(utts[5])
    raw = ds.SpectrogramCropDataset(make_features(utts), labels, 64, 'raw',
                                    train=False)
    assert raw[0][0].max() > 1  # raw magnitude is not squashed


def test_validation_crops_are_fixed_training_crops_vary():
    utts = utterances(1, 2)
    labels = ds.LabelSpace.from_utterances(utts)
    feats = make_features(utts, frames=300)
    val = ds.SpectrogramCropDataset(feats, labels, 64, 'raw', train=False,
                                    validation_crops=2)
    assert len(val) == 4
    np.testing.assert_array_equal(val[0][0], val[0][0])
    train = ds.SpectrogramCropDataset(feats, labels, 64, 'raw', train=True,
                                      seed=0)
    assert not all(np.array_equal(train[0][0], train[0][0]) for _ in range(5))
    again = ds.SpectrogramCropDataset(feats, labels, 64, 'raw', train=True,
                                      seed=0)
    first = ds.SpectrogramCropDataset(feats, labels, 64, 'raw', train=True,
                                      seed=0)
    np.testing.assert_array_equal(again[0][0], first[0][0])


def test_utterances_shorter_than_a_crop_are_reported_not_used():
    utts = utterances(1, 2)
    labels = ds.LabelSpace.from_utterances(utts)
    feats = make_features(utts[:1], 80) + make_features(utts[1:], 30)
    d = ds.SpectrogramCropDataset(feats, labels, 64, 'raw', train=True)
    assert len(d) == 1 and d.too_short == [utts[1]]
