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

Cost is O(B*T*K) time and memory whatever ``m`` is: the forward sums every
point's tent as second differences and integrates them (two cumulative
sums), the backward gathers windowed sums from prefix sums; both in
float64 (the result has the input's dtype).  No K x K x T tensor and no
loop over the window's offsets.  Works on NumPy and CuPy.
"""
import numpy

import chainer
from chainer import backend
from chainer import function_node
from chainer.utils import type_check


def _check_finite(m):
    if m.size and not numpy.isfinite(float(m.max())):  # one sync on CuPy
        raise ValueError('frequency_blur: m must be finite')


def _window(xp, m):
    """Return (m_eff, n, S, dS); m_eff = 1 where m <= 0 (identity)."""
    one = m.dtype.type(1)
    m_eff = xp.where(m > 0, m, one)
    n = xp.ceil(m_eff) - one
    S = m_eff * (2 * n + one) - n * (n + one)
    dS = 2 * n + one
    return m_eff, n, S, dS


def _sides(xp, n, K):
    """In-band neighbours on each side of every point: (right, left) =
    (min(n, K - 1 - p), min(n, p)), integers."""
    p = xp.arange(K)
    n = xp.minimum(n, K).astype(numpy.int64)
    return xp.minimum(n, K - 1 - p), xp.minimum(n, p)


def _in_band_weight(m_eff, right, left):
    """V_p = sum of m - |d| over the in-band offsets d != 0."""
    r, l = right.astype(m_eff.dtype), left.astype(m_eff.dtype)
    return (r + l) * m_eff - (r * (r + 1) + l * (l + 1)) / 2


def _spread(xp, c, m_eff, n):
    """``y_i = sum_p c_p relu(m_p - |i - p|)`` over ``i != p`` in band,
    rows of ``(N, K)``, by second differences.

    The tent ``m - |d|`` (``1 <= |d| <= n``, 0 at ``d = 0``) has central
    second differences ``2m - 2`` at 0, ``-m`` at +-1, ``1 - f`` at +-n and
    ``f`` at +-(n + 1), ``f = m - n``: those impulses are summed into a
    buffer and integrated twice (two cumulative sums).  An impulse ``h`` at
    ``q`` adds ``h max(0, j - q)`` at ``j``, so one right of the band adds
    nothing there and one at ``q < -1`` is folded onto -1 and 0 (weights
    ``-h q`` and ``h (1 + q)``), keeping the buffer ``K + 2`` long whatever
    ``m`` is.
    """
    N, K = c.shape
    width = K + 2                   # positions -1 .. K - 1, then a dump
    p = xp.arange(K, dtype=c.dtype)
    f = m_eff - n
    cm = c * m_eff
    impulses = ((p, c * (2 * m_eff - 2)), (p + 1, -cm), (p - 1, -cm),
                (p + n, c * (1 - f)), (p - n, c * (1 - f)),
                (p + n + 1, c * f), (p - n - 1, c * f))
    rows = (xp.arange(N) * width)[:, None]
    index, weight = [], []
    for q, h in impulses:
        q = xp.broadcast_to(q, c.shape)
        left = q <= -1
        b = xp.where(left, 0, xp.minimum(q + 1, K + 1)).astype(numpy.int64)
        index += [rows + b, xp.broadcast_to(rows + 1, c.shape)]
        weight += [xp.where(left, -h * q, h), xp.where(left, h * (1 + q), 0)]
    index = xp.concatenate([i.ravel() for i in index])
    weight = xp.concatenate([w.ravel() for w in weight])
    buf = xp.bincount(index, weights=weight, minlength=N * width)
    buf = buf.reshape(N, width)
    return xp.cumsum(xp.cumsum(buf, axis=1), axis=1)[:, :K]


def _gather_sums(xp, g, right, left):
    """Per point: (sum of g over the in-band neighbours d != 0, sum of
    |d| g there), by prefix sums; rows of ``(N, K)``."""
    N, K = g.shape
    i = xp.arange(K, dtype=g.dtype)
    zero = xp.zeros((N, 1), g.dtype)
    q0 = xp.concatenate([zero, xp.cumsum(g, axis=1)], axis=1).ravel()
    q1 = xp.concatenate([zero, xp.cumsum(g * i, axis=1)], axis=1).ravel()
    p = xp.arange(K)
    base = (xp.arange(N) * (K + 1))[:, None]
    hi, mid, lo = base + p + right + 1, base + p + 1, base + p - left
    here = base + p
    r0, r1 = q0[hi] - q0[mid], q1[hi] - q1[mid]    # i in p+1 .. p+right
    l0, l1 = q0[here] - q0[lo], q1[here] - q1[lo]  # i in p-left .. p-1
    return r0 + l0, (r1 - i * r0) + (i * l0 - l1)


def _rows(a):
    """``(N, K)`` float64 view of an array with frequency last."""
    return a.reshape(-1, a.shape[-1]).astype(numpy.float64, copy=False)


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
        x_in, m_in = inputs
        xp = backend.get_array_module(x_in)
        _check_finite(m_in)
        x, m = _rows(x_in), _rows(m_in)
        K = x.shape[-1]
        m_eff, n, S, _ = _window(xp, m)
        c = xp.where(n >= 1, x / S, 0.0)
        y = _spread(xp, c, m_eff, n)
        if self.conserve_total:
            right, left = _sides(xp, n, K)
            y += x * (1 - _in_band_weight(m_eff, right, left) / S)
        else:
            y += x * (m_eff / S)
        return y.reshape(x_in.shape).astype(x_in.dtype, copy=False),

    def backward(self, indexes, grad_outputs):
        x, m = self.get_retained_inputs()
        gy, = grad_outputs
        return FrequencyBlurGrad(self.conserve_total).apply((x, m, gy))


class FrequencyBlurGrad(function_node.FunctionNode):
    """Analytic gradient of FrequencyBlur wrt x and m (first order only).

    With ``u_d = (m - d) / S`` and ``du_d/dm = (1 - dS u_d) / S`` for the
    in-band offsets ``d != 0``, ``W = sum (m - |d|) gy_{p+d}`` and
    ``A = sum gy_{p+d}`` there (prefix sums), ``V`` the sum of ``m - |d|``
    there: ``gx = W / S + gy (u_0 or 1 - V / S)`` and
    ``gm = x (A / S - dS W / S^2 + gy du_0)`` (original rule), with
    ``- gy (n_in / S - dS V / S^2)`` instead of ``gy du_0`` (conserve).
    """

    def __init__(self, conserve_total):
        self.conserve_total = conserve_total

    def forward(self, inputs):
        x_in, m_in, gy_in = inputs
        xp = backend.get_array_module(x_in)
        x, m, gy = _rows(x_in), _rows(m_in), _rows(gy_in)
        K = x.shape[-1]
        m_eff, n, S, dS = _window(xp, m)
        right, left = _sides(xp, n, K)
        A, B = _gather_sums(xp, gy, right, left)
        W = m_eff * A - B
        gx = W / S
        gm = A / S - dS * W / (S * S)
        if self.conserve_total:
            V = _in_band_weight(m_eff, right, left)
            count = (right + left).astype(x.dtype)
            gx += gy * (1 - V / S)
            gm -= gy * (count / S - dS * V / (S * S))
        else:
            u0 = m_eff / S
            gx += u0 * gy
            gm += gy * (1 - dS * u0) / S
        gm *= x
        gm = xp.where(m > 0, gm, 0.0)
        shape, dtype = x_in.shape, x_in.dtype
        return (gx.reshape(shape).astype(dtype, copy=False),
                gm.reshape(shape).astype(dtype, copy=False))

    def backward(self, indexes, grad_outputs):
        raise NotImplementedError(
            'frequency_blur: double backpropagation is not implemented')


def frequency_blur(x, m, conserve_total=False):
    """Triangular blur of ``x`` along its last (frequency) axis, width ``m``.

    Args:
        x: magnitudes, any shape with frequency last, e.g. ``(T, K)`` or
            ``(B, 1, T, K)``; float32 or float64 (the blur-mask loop uses
            float64, ``vox.blurmask.run.LOOP_DTYPE``).
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
    O(size) whatever ``m``; NumPy and CuPy.
    """
    y, = FrequencyBlur(conserve_total).apply((x, m))
    return y
