"""Tests for vox.functions.frequency_blur (the blur-mask notes).

Gradient checks keep m at least 0.3 away from integers: the output's
derivative wrt m has a kink at every integer m (a neighbour enters the
window and dS/dm jumps by 2), so a finite difference across one is wrong.
"""
import math

import numpy
import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
from chainer import gradient_check

from vox.functions import frequency_blur


def _rand_m(rng, shape, kmax=5, low=0.3, high=0.7):
    """m = k + U(low, high), k in [0, kmax): away from integer kinks."""
    k = rng.randint(0, kmax, size=shape)
    return k + rng.uniform(low, high, size=shape)


# -- direct transcription of the notes (plain Python loops) -----------------

def _window_sum(mp):
    """S_p and dS_p/dm_p by summing the full (unclipped) window."""
    S, dS = 0.0, 0
    r = int(math.ceil(abs(mp))) + 1
    for d in range(-r, r + 1):
        if mp - abs(d) > 0:
            S += mp - abs(d)
            dS += 1          # d/dm of each positive term is 1
    return S, dS


def _reference(x, m, gy, conserve_total):
    """Forward y and dL/dm (L = sum(gy * y)) per the notes, for x of (T, K).

    Z[p, i] is p's contribution to i, Zg[p, i] its derivative wrt m_p.
    Original rule: Z = x_p (m_p - |i-p|) / S_p where positive, y = sum_p Z.
    Fix (ArrayFire f1_1/f1_2, f2_1/f2_2): off-diagonal as above, diagonal
    minus the row's off-diagonal sum, y = x + sum_p Z.
    """
    T, K = x.shape
    y = numpy.zeros((T, K))
    gm = numpy.zeros((T, K))
    for t in range(T):
        Z = numpy.zeros((K, K))
        Zg = numpy.zeros((K, K))
        for p in range(K):
            mp, xp_ = m[t, p], x[t, p]
            S, dS = _window_sum(mp)
            for i in range(K):
                w = mp - abs(i - p)
                if w <= 0:       # cond
                    continue
                if conserve_total and i == p:
                    continue     # (1 - i_e_p)
                Z[p, i] = xp_ * w / S                            # f1_1
                Zg[p, i] = xp_ * (S - dS * w) / (S * S)          # f1_2
            if conserve_total:
                Z[p, p] = -sum(Z[p, i] for i in range(K))        # f2_1
                Zg[p, p] = -sum(Zg[p, i] for i in range(K))      # f2_2
        for i in range(K):
            y[t, i] = sum(Z[p, i] for p in range(K))
            if conserve_total:
                y[t, i] += x[t, i]
        for p in range(K):
            gm[t, p] = sum(gy[t, i] * Zg[p, i] for i in range(K))
    return y, gm


@pytest.mark.parametrize('conserve_total', [False, True])
def test_matches_transcription_of_notes(conserve_total):
    rng = numpy.random.RandomState(0)
    T, K = 3, 12
    x = rng.uniform(0, 2, (T, K))
    m = rng.uniform(0.05, 6.0, (T, K))      # includes (0, 1] and m > K/2
    gy = rng.normal(size=(T, K))
    y_ref, gm_ref = _reference(x, m, gy, conserve_total)

    xv = chainer.Variable(x)
    mv = chainer.Variable(m)
    y = frequency_blur(xv, mv, conserve_total)
    numpy.testing.assert_allclose(y.array, y_ref, rtol=1e-12, atol=1e-12)
    y.grad = gy
    y.backward()
    numpy.testing.assert_allclose(mv.grad, gm_ref, rtol=1e-10, atol=1e-12)

    # float32 in, float32 out, same numbers
    y32 = frequency_blur(x.astype(numpy.float32), m.astype(numpy.float32),
                         conserve_total)
    assert y32.dtype == numpy.float32
    numpy.testing.assert_allclose(y32.array, y_ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('conserve_total', [False, True])
def test_check_backward(conserve_total):
    rng = numpy.random.RandomState(1)
    shape = (2, 1, 3, 10)
    x = rng.uniform(0, 2, shape)
    m = _rand_m(rng, shape, kmax=6)
    m[0, 0, 0, :3] = [-0.5, -1.5, 0.5]        # identity region m <= 1
    gy = rng.normal(size=shape)

    def f(x, m):
        return frequency_blur(x, m, conserve_total)

    gradient_check.check_backward(
        f, (x, m), gy, eps=1e-3, atol=1e-6, rtol=1e-5, dtype=numpy.float64)


@pytest.mark.parametrize('shape', [(7, 16), (2, 1, 5, 16)])
def test_conserve_total_keeps_frame_sums(shape):
    rng = numpy.random.RandomState(2)
    x = rng.uniform(0, 1, shape).astype(numpy.float32)
    m = rng.uniform(0, 30, shape).astype(numpy.float32)
    y = frequency_blur(x, m, conserve_total=True).array
    numpy.testing.assert_allclose(y.sum(-1), x.sum(-1), rtol=1e-5)
    # and it is a real blur, not the identity
    assert numpy.abs(y - x).max() > 1e-2


def test_original_rule_loses_total_as_m_grows():
    rng = numpy.random.RandomState(3)
    T, K = 4, 32
    x = rng.uniform(0, 1, (T, K)).astype(numpy.float32)
    totals = []
    for mm in (1.0, 2.5, 5.5, 10.5, 40.5, 1000.5):
        m = numpy.full((T, K), mm, numpy.float32)
        totals.append(frequency_blur(x, m).array.sum())
    numpy.testing.assert_allclose(totals[0], x.sum(), rtol=1e-6)
    assert all(a > b for a, b in zip(totals, totals[1:]))
    assert totals[-1] < 0.1 * x.sum()
    # interior points with a small window agree between both rules
    m = numpy.full((T, K), 3.5, numpy.float32)
    a = frequency_blur(x, m).array
    b = frequency_blur(x, m, conserve_total=True).array
    numpy.testing.assert_allclose(a[:, 4:-4], b[:, 4:-4], rtol=1e-6)
    assert not numpy.allclose(a[:, 0], b[:, 0])


@pytest.mark.parametrize('conserve_total', [False, True])
def test_small_or_nonpositive_m_is_identity(conserve_total):
    rng = numpy.random.RandomState(4)
    T, K = 3, 9
    x = rng.uniform(0, 1, (T, K)).astype(numpy.float32)
    for m in (numpy.zeros((T, K)),
              numpy.full((T, K), -3.0),
              numpy.full((T, K), 1e-30),
              rng.uniform(-2, 1, (T, K)),
              numpy.ones((T, K))):
        mv = chainer.Variable(m.astype(numpy.float32))
        y = frequency_blur(x, mv, conserve_total)
        numpy.testing.assert_array_equal(y.array, x)
        y.grad = rng.normal(size=(T, K)).astype(numpy.float32)
        y.backward()
        numpy.testing.assert_array_equal(mv.grad, 0)


@pytest.mark.parametrize('conserve_total', [False, True])
def test_continuous_in_m_across_integers(conserve_total):
    rng = numpy.random.RandomState(5)
    x = rng.uniform(0, 1, (2, 11))
    for k in (1.0, 2.0, 3.0, 7.0):
        lo = frequency_blur(x, numpy.full(x.shape, k - 1e-9),
                            conserve_total).array
        hi = frequency_blur(x, numpy.full(x.shape, k + 1e-9),
                            conserve_total).array
        numpy.testing.assert_allclose(lo, hi, atol=1e-7)


@pytest.mark.parametrize('conserve_total', [False, True])
def test_batched_shape_matches_frames(conserve_total):
    rng = numpy.random.RandomState(6)
    shape = (3, 1, 4, 20)
    x = rng.uniform(0, 1, shape).astype(numpy.float32)
    m = rng.uniform(-1, 12, shape).astype(numpy.float32)
    y = frequency_blur(x, m, conserve_total).array
    assert y.shape == shape and y.dtype == numpy.float32
    y2 = frequency_blur(x.reshape(-1, 20), m.reshape(-1, 20),
                        conserve_total).array
    numpy.testing.assert_array_equal(y, y2.reshape(shape))


def test_huge_m_is_clipped_to_band():
    # R is clipped to K - 1; m far beyond the band must stay cheap and exact
    x = numpy.arange(1, 9, dtype=numpy.float64)[None]
    m = numpy.full_like(x, 1e6)
    y_ref, _ = _reference(x, m, numpy.ones_like(x), True)
    y = frequency_blur(x, m, conserve_total=True).array
    numpy.testing.assert_allclose(y, y_ref, rtol=1e-9)


def test_rejects_mismatched_inputs():
    x = numpy.zeros((2, 5), numpy.float32)
    with pytest.raises(chainer.utils.type_check.InvalidType):
        frequency_blur(x, numpy.zeros((2, 4), numpy.float32))
    with pytest.raises(chainer.utils.type_check.InvalidType):
        frequency_blur(x, numpy.zeros((2, 5), numpy.float64))


@pytest.mark.gpu
@pytest.mark.parametrize('conserve_total', [False, True])
def test_numpy_and_cupy_agree(conserve_total):
    import cupy
    rng = numpy.random.RandomState(7)
    shape = (2, 1, 16, 64)
    x = rng.uniform(0, 1, shape).astype(numpy.float32)
    m = rng.uniform(-1, 20, shape).astype(numpy.float32)
    gy = rng.normal(size=shape).astype(numpy.float32)
    results = []
    for to in (numpy.asarray, cupy.asarray):
        xv, mv = chainer.Variable(to(x)), chainer.Variable(to(m))
        y = frequency_blur(xv, mv, conserve_total)
        y.grad = to(gy)
        y.backward()
        results.append([chainer.backend.CpuDevice().send(a)
                        for a in (y.array, xv.grad, mv.grad)])
    for a, b in zip(*results):
        numpy.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
