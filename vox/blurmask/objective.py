"""The attribution objective of the blur-mask notes and one step on ``m``.

    loss(m) = a * MSE(f(s(blur(x, m))), f(s(x))) - b * H(m)

* ``x``: the input spectrogram in the blur's scale (the raw FFT magnitude
  by default); ``blur`` is :func:`vox.functions.frequency_blur` with the
  run's boundary rule; ``s`` maps the blur's scale to the scale the target
  network was trained on (differentiable, the same map as
  :func:`vox.data.audio.to_unit` / :func:`vox.data.audio.from_unit`); ``f`` is the
  frozen target (BatchNorm in inference mode); ``f(s(x))`` is computed once.
* ``MSE``: mean over the output's elements (``F.mean_squared_error``).
* ``H(m) = reduce_p log(max(|m_p|, floor))`` with ``reduce`` = sum (the
  default) or mean over the K*T points.

  - **Sum vs mean.**  The notes say the H loss is "around e6" and "after
    normalising by K*T it is just log m (m = 5 gives 1.6)", and that its
    gradient "is just 1/m, around e-1".  A gradient of 1/m per point is the
    gradient of the *sum*; the mean's would be 1/(K*T*m), around 1e-5 at
    64 x 256.  The notes' numbers need the sum: at lambda 10 on the entropy
    mean m reached 400 in 10000 steps (with the sum, m dm/dt = 10 gives
    sqrt(2 * 10 * 10000) = 447; with the mean m would stay near 4), and
    moving lambda = 1e5 onto the MSE term (gradient ~1e-5) only balances
    an entropy gradient of ~1e-1.  So the runs default to ``sum``; the K*T
    normalisation is how the notes *read* the value, and the log records
    ``entropy_mean`` (mean log m) beside it either way.
  - **m <= 0.**  The notes took ``log |m|`` ("computing log used abs").  We
    keep the abs and floor it: ``log(max(|m|, floor))`` (floor 1e-3).  Its
    gradient is ``1/m`` where ``|m| > floor`` (so a negative m, which only
    the no-ReLU MSE-weighted runs produce, is pushed further negative, as
    the notes' abs implies) and 0 where ``|m| <= floor``: an m set to 0 by
    the ReLU projection gets no entropy push, and since the blur is the
    identity with zero m-gradient for ``m <= 1`` it gets no MSE push
    either, so it stays at 0.  The loss stays finite (log 0 = -inf in the
    notes' formula would make the ReLU run's loss and gradient infinite).

Update: ``m <- m - lr * (a * dMSE/dm - b * dH/dm)``, plain gradient descent
on ``m`` only; with ``relu_on_m`` the step starts with ``m <- max(m, 0)``.
"""
import dataclasses
import math

import numpy

import chainer
import chainer.functions as F
from chainer import backend

from vox.data import audio
from vox.functions.frequency_blur import frequency_blur

LOG10_OVER_20 = math.log(10.0) / 20.0


def to_unit(v):
    """Differentiable :func:`vox.data.audio.to_unit` (zero gradient where clipped)."""
    floor = 10.0 ** (audio.DB_MIN / 20.0)
    db = (20.0 / math.log(10.0)) * F.log(F.maximum(
        v, v.xp.full(v.shape, floor, dtype=v.dtype)))
    return F.clip((db - audio.DB_MIN) / (audio.DB_MAX - audio.DB_MIN),
                  0.0, 1.0)


def from_unit(v):
    """Differentiable :func:`vox.data.audio.from_unit`."""
    db = v * (audio.DB_MAX - audio.DB_MIN) + audio.DB_MIN
    return F.exp(db * LOG10_OVER_20)


def convert(v, src, dst):
    """A spectrogram Variable from scale ``src`` to ``dst`` ('raw'/'unit')."""
    if src == dst:
        return v
    return to_unit(v) if dst == 'unit' else from_unit(v)


def entropy(m, reduce='sum', floor=1e-3):
    """H(m) = sum or mean of log(max(|m|, floor)) (a Variable)."""
    m = chainer.as_variable(m)
    logs = F.log(F.maximum(F.absolute(m),
                           m.xp.full(m.shape, floor, dtype=m.dtype)))
    return F.sum(logs) if reduce == 'sum' else F.mean(logs)


def entropy_grad(m, reduce='sum', floor=1e-3):
    """dH/dm in closed form: 1/m where |m| > floor, else 0 (an array)."""
    xp = backend.get_array_module(m)
    safe = xp.where(xp.abs(m) > floor, m, m.dtype.type(1))
    g = xp.where(xp.abs(m) > floor, 1 / safe, m.dtype.type(0))
    return g if reduce == 'sum' else g / m.size


def _stats(v):
    return float(v.mean()), float(v.var())


@dataclasses.dataclass
class Step:
    """What one evaluation of the objective at ``m`` gives."""
    mse: float
    entropy: float          # H as used in the loss (sum or mean)
    entropy_mean: float     # mean log(max(|m|, floor)), the notes' reading
    loss: float             # a * mse - b * entropy
    grad_mse: object        # dMSE/dm, array shaped like m (unweighted)
    grad_entropy: object    # dH/dm, array (unweighted)
    grad: object            # a * grad_mse - b * grad_entropy
    blurred: object         # blur(x, m), array in the blur's scale

    def record(self, m, a, b):
        """The per-iteration log entry (numbers only)."""
        gm_mean, gm_var = _stats(self.grad_mse)
        ge_mean, ge_var = _stats(self.grad_entropy)
        g_mean, g_var = _stats(self.grad)
        return {
            'mse': self.mse, 'entropy': self.entropy,
            'entropy_mean': self.entropy_mean, 'loss': self.loss,
            'weighted_mse': a * self.mse, 'weighted_entropy': b * self.entropy,
            'grad_mse_mean': gm_mean, 'grad_mse_var': gm_var,
            'grad_entropy_mean': ge_mean, 'grad_entropy_var': ge_var,
            'grad_mean': g_mean, 'grad_var': g_var,
            'm_mean': float(m.mean()), 'm_min': float(m.min()),
            'm_max': float(m.max()),
            'm_negative': float((m < 0).mean()),
            'm_at_most_1': float((m <= 1).mean()),
            'fft_total': float(self.blurred.sum()),
        }


class Objective:
    """``loss(m)`` for one input ``x`` and a frozen target ``f``.

    Args:
        x: ``(T, K)`` array in the blur's scale (NumPy or CuPy).
        target: callable, Variable ``(1, 1, T, K)`` in ``target_scale`` ->
            Variable; must not update anything (BatchNorm is run with
            ``train=False`` here).
        a, b: the weights of ``a * MSE - b * H``.
    """

    def __init__(self, x, target, *, a=1.0, b=1.0, conserve_total=False,
                 entropy_reduce='sum', log_floor=1e-3, blur_scale='raw',
                 target_scale='unit'):
        self.x = x
        self.target = target
        self.a, self.b = float(a), float(b)
        self.conserve_total = conserve_total
        self.entropy_reduce = entropy_reduce
        self.log_floor = log_floor
        self.blur_scale = blur_scale
        self.target_scale = target_scale
        with chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            self.reference = self.output(x).array

    def output(self, spec):
        """f(s(spec)) for a ``(T, K)`` array or Variable."""
        v = chainer.as_variable(spec)
        v = F.reshape(v, (1, 1) + v.shape)
        with chainer.using_config('train', False):
            return self.target(convert(v, self.blur_scale, self.target_scale))

    def mse(self, m):
        """(MSE Variable, blurred Variable) for ``m`` (array or Variable)."""
        blurred = frequency_blur(self.x, m, self.conserve_total)
        y = self.output(blurred)
        ref = y.xp.asarray(self.reference)
        return F.mean_squared_error(y, ref), blurred

    def loss(self, m):
        """The scalar loss as a Variable (used by the gradient tests)."""
        mse, _ = self.mse(m)
        h = entropy(m, self.entropy_reduce, self.log_floor)
        return self.a * mse - self.b * h

    def evaluate(self, m):
        """Loss terms and both gradient terms at ``m`` (an array)."""
        mv = chainer.Variable(m)
        mse, blurred = self.mse(mv)
        g_mse, = chainer.grad([mse], [mv])
        g_mse = g_mse.array if g_mse is not None else m * 0
        xp = backend.get_array_module(m)
        floor = m.dtype.type(self.log_floor)
        logs = xp.log(xp.maximum(xp.abs(m), floor))
        h = float(logs.sum()) if self.entropy_reduce == 'sum' \
            else float(logs.mean())
        g_h = entropy_grad(m, self.entropy_reduce, self.log_floor)
        mse = float(mse.array)
        return Step(mse=mse, entropy=h, entropy_mean=float(logs.mean()),
                    loss=self.a * mse - self.b * h, grad_mse=g_mse,
                    grad_entropy=g_h, grad=self.a * g_mse - self.b * g_h,
                    blurred=blurred.array)


def project(m, relu):
    """The notes' ReLU on m, at the start of an iteration."""
    if not relu:
        return m
    xp = backend.get_array_module(m)
    return xp.maximum(m, m.dtype.type(0))


def step(objective, m, lr=1.0, relu=False):
    """One iteration: (projected m, Step at it, updated m)."""
    m = project(m, relu)
    s = objective.evaluate(m)
    new = (m - m.dtype.type(lr) * s.grad).astype(m.dtype, copy=False)
    return m, s, new


def as_numpy(a):
    return numpy.asarray(backend.CpuDevice().send(a))
