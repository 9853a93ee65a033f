"""Batched Griffin-Lim: the same magnitude gives the same audio alone, in
any batch, at any position and with any thread count; the float32 result
stays close to the float64 one; the array-module (CuPy) path computes the
same thing."""
import importlib.util
import types
from pathlib import Path

import numpy as np
import pytest

from vox.data import audio

REPO = Path(__file__).resolve().parent.parent


def tone_mags(frames, count, seed=0):
    rng = np.random.RandomState(seed)
    out = []
    t = np.arange(audio.n_samples(frames)) / audio.SAMPLE_RATE
    for _ in range(count):
        f = rng.uniform(120, 400)
        wave = 0.2 * np.sin(2 * np.pi * f * t) + 0.01 * rng.randn(len(t))
        out.append(audio.magnitude(wave))
    return out


@pytest.fixture
def small_blocks(monkeypatch):
    # 16-frame crops pack 2 to a block: batches split into several blocks
    monkeypatch.setattr(audio, 'GL_BLOCK_FRAMES', 2 * (16 + 2 * audio.EDGE_FRAMES))


def test_a_crop_gives_the_same_bits_alone_and_in_any_batch(small_blocks):
    crop, *others = tone_mags(16, 6)
    longer = tone_mags(24, 2, seed=1)
    alone = audio.griffin_lim(crop, n_iter=4)
    batches = [[crop], [crop] + others, others[:3] + [crop] + others[3:],
               others + [crop], longer[:1] + others[:2] + [crop] + longer[1:]]
    for batch in batches:
        for workers in (1, 2, 3):
            got = audio.griffin_lim_batch(batch, n_iter=4, workers=workers)
            k = next(i for i, m in enumerate(batch) if m is crop)
            np.testing.assert_array_equal(got[k], alone)
            assert [len(w) for w in got] == [audio.n_samples(len(m))
                                             for m in batch]


def test_batch_keeps_the_input_order(small_blocks):
    mags = tone_mags(16, 3) + tone_mags(24, 2, seed=3)
    got = audio.griffin_lim_batch(mags, n_iter=3)
    for m, w in zip(mags, got):
        np.testing.assert_array_equal(w, audio.griffin_lim(m, n_iter=3))


def test_run_to_run_and_seeded():
    mag = tone_mags(16, 1)[0]
    a = audio.griffin_lim(mag, n_iter=3)
    np.testing.assert_array_equal(a, audio.griffin_lim(mag, n_iter=3))
    assert not np.array_equal(a, audio.griffin_lim(mag, n_iter=3, seed=1))


def _reference():
    spec = importlib.util.spec_from_file_location(
        'bench_griffinlim', REPO / 'tools' / 'bench_griffinlim.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.reference_griffin_lim


def test_float64_path_equals_the_per_crop_reference():
    # The same algorithm as the per-crop complex128 implementation the
    # benchmark keeps: the same initial phase, the same momentum step.
    mag = tone_mags(32, 1)[0]
    ref = _reference()(mag, n_iter=10)
    got = audio.griffin_lim(mag, n_iter=10, dtype=np.float64)
    np.testing.assert_allclose(got, ref, atol=1e-6 * np.abs(ref).max())


def test_float32_stays_close_to_float64():
    mag = tone_mags(32, 1)[0]
    ref = audio.griffin_lim(mag, dtype=np.float64)
    got = audio.griffin_lim(mag)
    snr = 10 * np.log10(np.sum(ref.astype(float) ** 2)
                        / np.sum((ref.astype(float) - got) ** 2))
    assert snr > 60
    assert abs(audio.spectral_convergence(mag, ref)
               - audio.spectral_convergence(mag, got)) < 1e-4


def _stand_in_xp():
    """numpy with numpy.fft: the code path CuPy takes (its own fft, a fixed
    batch layout), runnable without a GPU."""
    xp = types.ModuleType('stand_in_xp')
    for name in ('asarray', 'zeros', 'empty', 'multiply', 'subtract', 'add',
                 'sqrt', 'maximum', 'divide', 'lib', 'fft'):
        setattr(xp, name, getattr(np, name))
    return xp


def test_array_module_path_matches_and_is_batch_independent(small_blocks):
    crop, *others = tone_mags(16, 4)
    xp = _stand_in_xp()
    alone = audio.griffin_lim(crop, n_iter=4, xp=xp)
    np.testing.assert_allclose(alone, audio.griffin_lim(crop, n_iter=4),
                               atol=1e-4 * np.abs(alone).max())
    for batch in ([crop] + others, others + [crop]):
        got = audio.griffin_lim_batch(batch, n_iter=4, xp=xp)
        k = [m is crop for m in batch].index(True)
        np.testing.assert_array_equal(got[k], alone)


def test_silent_magnitude_gives_silence_not_nan():
    out = audio.griffin_lim(np.zeros((16, audio.N_BINS), np.float32),
                            n_iter=3)
    assert np.all(out == 0)


def test_empty_batch():
    assert audio.griffin_lim_batch([]) == []
