"""Learnable triangular blur along the frequency axis (the blur-mask notes).

Every time-frequency point ``p`` of a magnitude matrix spreads its value to
the points ``i`` of its frame with weight ``(m_p - |i - p|) / S_p`` wherever
``m_p - |i - p| > 0``.  ``S_p`` is the sum of those weights over the *full*
window, as if the band were unbounded (the notes' example: a point with
``m = 3`` and value 9 spreads ``1 2 3 2 1``; at the band edge it keeps
``3 2 1`` and loses ``2 1``, so ``S = 9``, not 6).

Two boundary rules, both from the notes:

* ``conserve_total=False`` (the notes' first version): what falls outside the
  band is dropped, so a frame's total shrinks as ``m`` grows near the edges.
  ``y_i = sum_p x_p w_{p,i} / S_p`` (``i = p`` included).
* ``conserve_total=True`` (the notes' fix, the ArrayFire ``f1_1``/``f2_1``
  snippet): a point gives ``x_p w_{p,i} / S_p`` to every in-band neighbour
  ``i != p`` and its own value is reduced by exactly the sum of those gifts,
  ``y = x + Z_add`` with ``Z_add[p, p] = -sum_{i != p} Z_add[p, i]``.  Each
  frame's total is unchanged.  Away from the edges both rules agree.

Decisions where the notes are silent (see ``docs/blur.md``):

* Non-integer ``m``: the weights are continuous in ``m``.  The window holds
  the offsets ``|d| < m``, i.e. ``n = ceil(m) - 1`` neighbours on each side;
  ``S(m) = m (2n + 1) - n (n + 1)`` (``= m**2`` for integer ``m``) and
  ``dS/dm = 2n + 1`` (the number of terms in the window; at an integer ``m``
  this is the left derivative).  ``d w/dm`` is 1 inside the window, 0
  outside.  The output is continuous in ``m`` but its derivative has kinks
  at integer ``m``.
* ``0 < m <= 1``: the window is the point alone, so the output is exactly
  the identity with zero gradient wrt ``m``.  ``m <= 0`` (where ``S`` would
  be 0) is defined the same way: identity, zero gradient wrt ``m``.  The
  blur only begins at ``m > 1``.

Cost is O(B*T*K*R) time and O(B*T*K) memory with the window radius
``R = min(ceil(max m) - 1, K - 1)``: the code loops over the offsets
``1..R`` only and never builds a K x K x T tensor.  Works on NumPy and CuPy.
"""
import numpy

import chainer
from chainer import backend
from chainer import function_node
from chainer.utils import type_check


def _radius(xp, m, K):
    """Window radius R = ceil(max m) - 1, clipped to [0, K - 1]."""
    if m.size == 0:
        return 0
    mmax = float(m.max())  # one device sync on CuPy
    if not numpy.isfinite(mmax):
        raise ValueError('frequency_blur: m must be finite')
    return int(min(max(numpy.ceil(mmax) - 1, 0), K - 1))


def _window(xp, m):
    """Return (m_eff, S, dS/dm); m_eff = 1 where m <= 0 (identity)."""
    one = m.dtype.type(1)
    m_eff = xp.where(m > 0, m, one)
    n = xp.ceil(m_eff) - one
    S = m_eff * (2 * n + one) - n * (n + one)
    dS = 2 * n + one
    return m_eff, S, dS


def _weights(xp, m_eff, S, dS, d):
    """u = relu(m - d) / S and du/dm for offset d >= 0."""
    w = m_eff - m_eff.dtype.type(d)
    inside = w > 0
    zero = m_eff.dtype.type(0)
    u = xp.where(inside, w / S, zero)
    # (S - dS w) / S**2, written so that S**2 cannot underflow for tiny m
    du = xp.where(inside, (1 - dS * u) / S, zero)
    return u, du


def _in_band_count(xp, K, d, dtype):
    """For offset d >= 1: how many of p + d, p - d lie in [0, K), per p."""
    k = xp.arange(K)
    return ((k + d < K).astype(dtype) + (k - d >= 0).astype(dtype))


class FrequencyBlur(function_node.FunctionNode):

    def __init__(self, conserve_total=False):
        self.conserve_total = bool(conserve_total)

    def check_type_forward(self, in_types):
        type_check._argname(in_types, ('x', 'm'))
        x_type, m_type = in_types
        type_check.expect(
            x_type.dtype.kind == 'f',
            m_type.dtype == x_type.dtype,
            x_type.shape == m_type.shape,
            x_type.ndim >= 1,
        )

    def forward(self, inputs):
        self.retain_inputs((0, 1))
        x, m = inputs
        xp = backend.get_array_module(x)
        K = x.shape[-1]
        R = _radius(xp, m, K)
        m_eff, S, dS = _window(xp, m)
        one = x.dtype.type(1)
        y = xp.zeros_like(x)
        in_band = xp.zeros_like(x)  # sum of in-band u_{p,d}, d != 0
        for d in range(1, R + 1):
            u, _ = _weights(xp, m_eff, S, dS, d)
            c = x * u
            y[..., d:] += c[..., :-d]      # p -> p + d
            y[..., :-d] += c[..., d:]      # p -> p - d
            if self.conserve_total:
                in_band[..., :-d] += u[..., :-d]
                in_band[..., d:] += u[..., d:]
        if self.conserve_total:
            y += x * (one - in_band)
        else:
            y += x * (m_eff / S)
        return y,

    def backward(self, indexes, grad_outputs):
        x, m = self.get_retained_inputs()
        gy, = grad_outputs
        return FrequencyBlurGrad(self.conserve_total).apply((x, m, gy))


class FrequencyBlurGrad(function_node.FunctionNode):
    """Analytic gradient of FrequencyBlur wrt x and m (first order only)."""

    def __init__(self, conserve_total):
        self.conserve_total = conserve_total

    def forward(self, inputs):
        x, m, gy = inputs
        xp = backend.get_array_module(x)
        K = x.shape[-1]
        R = _radius(xp, m, K)
        m_eff, S, dS = _window(xp, m)
        gx = xp.zeros_like(x)
        gm = xp.zeros_like(x)  # sum_i gy_i dZ[p, i]/dm_p, times x_p below
        for d in range(1, R + 1):
            u, du = _weights(xp, m_eff, S, dS, d)
            gs = xp.zeros_like(gy)        # gy_{p+d} + gy_{p-d}, in band
            gs[..., :-d] += gy[..., d:]
            gs[..., d:] += gy[..., :-d]
            if self.conserve_total:
                gs -= _in_band_count(xp, K, d, x.dtype) * gy
            gx += u * gs
            gm += du * gs
        if self.conserve_total:
            gx += gy
        else:
            u0, du0 = _weights(xp, m_eff, S, dS, 0)
            gx += u0 * gy
            gm += du0 * gy
        gm *= x
        gm = xp.where(m > 0, gm, x.dtype.type(0))
        return gx, gm

    def backward(self, indexes, grad_outputs):
        raise NotImplementedError(
            'frequency_blur: double backpropagation is not implemented')


def frequency_blur(x, m, conserve_total=False):
    """Triangular blur of ``x`` along its last (frequency) axis, width ``m``.

    Args:
        x: magnitudes, any shape with frequency last, e.g. ``(T, K)`` or
            ``(B, 1, T, K)``; float32 (float64 also works, for checks).
        m: per-point blur width, same shape and dtype as ``x``.
        conserve_total (bool): ``False``: the notes' original rule, weight
            that falls outside the band is dropped (a frame's total shrinks).
            ``True``: the notes' fix, each point's own value is reduced by
            exactly what it gives its in-band neighbours (totals unchanged).

    Returns:
        ~chainer.Variable of the same shape and dtype as ``x``.

    Point ``p`` gives ``x_p (m_p - |i - p|) / S_p`` to each ``i`` with
    ``|i - p| < m_p``; ``S_p`` sums those weights over the full (unclipped)
    window: ``S = m (2n + 1) - n (n + 1)``, ``n = ceil(m) - 1``.  For
    ``m <= 1`` (including ``m <= 0``) the result is the identity and the
    gradient wrt ``m`` is zero.  The output is continuous in ``m``; its
    derivative wrt ``m`` has kinks at integer ``m`` (left derivative used
    there).  Differentiable in ``x`` and ``m`` (first order).  Cost
    O(size * R), ``R = ceil(max m) - 1``; NumPy and CuPy.
    """
    y, = FrequencyBlur(conserve_total).apply((x, m))
    return y
