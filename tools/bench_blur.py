"""Benchmark vox.functions.frequency_blur against direct transcriptions.

Forward + backward (gradients wrt x and m for a random upstream gradient):

* ``ours``: the FunctionNode, O(T*K*R) with R = ceil(max m) - 1;
* ``dense``: the notes' ArrayFire approach vectorised in NumPy, a
  (T, K, K) tensor of contributions Z[t, p, i] and their m-derivatives;
* ``loop``: pure-Python loops over t, p, i (small sizes only).

Prints Markdown tables.  Usage (2 CPU cores shared: it is light)::

    .venv/bin/python tools/bench_blur.py [--K 256] [--T 64] [--mode both]
"""
import argparse
import math
import time

import numpy

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer

from vox.functions import frequency_blur


def _window(m):
    m_eff = numpy.where(m > 0, m, 1)
    n = numpy.ceil(m_eff) - 1
    return m_eff, m_eff * (2 * n + 1) - n * (n + 1), 2 * n + 1


def ours(x, m, gy, conserve):
    xv, mv = chainer.Variable(x), chainer.Variable(m)
    y = frequency_blur(xv, mv, conserve)
    y.grad = gy
    y.backward()
    return y.array, xv.grad, mv.grad


def dense(x, m, gy, conserve):
    """K x K x T: Z[t, p, i] = x_p A[t, p, i], as the ArrayFire code."""
    T, K = x.shape
    m_eff, S, dS = _window(m)
    dist = numpy.abs(numpy.arange(K)[:, None] - numpy.arange(K)[None, :])
    W = m_eff[:, :, None] - dist[None].astype(x.dtype)     # m_p - |i-p|
    cond = W > 0
    S3, dS3 = S[:, :, None], dS[:, :, None]
    A = numpy.where(cond, W / S3, 0)                        # f1_1 / x_p
    Ag = numpy.where(cond, (S3 - dS3 * W) / (S3 * S3), 0)  # f1_2 / x_p
    if conserve:
        idx = numpy.arange(K)
        A[:, idx, idx] = 0
        Ag[:, idx, idx] = 0
        A[:, idx, idx] = -A.sum(2)                          # f2_1
        Ag[:, idx, idx] = -Ag.sum(2)                        # f2_2
    y = numpy.einsum('tp,tpi->ti', x, A)
    gx = numpy.einsum('tpi,ti->tp', A, gy)
    gm = x * numpy.einsum('tpi,ti->tp', Ag, gy)
    if conserve:
        y += x
        gx += gy
    gm = numpy.where(m > 0, gm, 0)
    return y.astype(x.dtype), gx.astype(x.dtype), gm.astype(x.dtype)


def loop(x, m, gy, conserve):
    """Plain Python transcription of the notes' per-point formula."""
    T, K = x.shape
    y = numpy.array(x if conserve else numpy.zeros_like(x), numpy.float64)
    gx = numpy.array(gy if conserve else numpy.zeros_like(x), numpy.float64)
    gm = numpy.zeros((T, K))
    for t in range(T):
        for p in range(K):
            mp = float(m[t, p])
            if mp <= 0:
                if not conserve:
                    y[t, p] += x[t, p]
                    gx[t, p] += gy[t, p]
                continue
            S, dS = 0.0, 0
            for d in range(-math.ceil(mp), math.ceil(mp) + 1):
                if mp - abs(d) > 0:
                    S += mp - abs(d)
                    dS += 1
            give = giveg = 0.0
            for i in range(K):
                w = mp - abs(i - p)
                if w <= 0 or (conserve and i == p):
                    continue
                a, ag = w / S, (S - dS * w) / (S * S)
                y[t, i] += x[t, p] * a
                gx[t, p] += gy[t, i] * a
                gm[t, p] += x[t, p] * gy[t, i] * ag
                give += a
                giveg += ag
            if conserve:
                y[t, p] -= x[t, p] * give
                gx[t, p] -= gy[t, p] * give
                gm[t, p] -= x[t, p] * gy[t, p] * giveg
    return y, gx, gm


def best_time(fn, args, repeat):
    best, out = float('inf'), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, out


def inputs(T, K, mean_m, seed=0):
    rng = numpy.random.RandomState(seed)
    x = rng.uniform(0, 1, (T, K)).astype(numpy.float32)
    m = rng.uniform(0.5 * mean_m, 1.5 * mean_m, (T, K)).astype(numpy.float32)
    gy = rng.normal(size=(T, K)).astype(numpy.float32)
    return x, m, gy


def max_rel_err(a, b):
    return max(float(numpy.abs(u - v).max() / (numpy.abs(v).max() + 1e-30))
               for u, v in zip(a, b))


def main():
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--K', type=int, default=256)
    ap.add_argument('--T', type=int, default=64)
    ap.add_argument('--means', type=float, nargs='+',
                    default=[1, 2, 5, 10, 50])
    ap.add_argument('--mode', choices=['both', 'conserve', 'drop'],
                    default='both')
    ap.add_argument('--repeat', type=int, default=5)
    ap.add_argument('--small-K', type=int, default=32)
    ap.add_argument('--small-T', type=int, default=4)
    args = ap.parse_args()
    modes = {'both': [False, True], 'conserve': [True],
             'drop': [False]}[args.mode]

    print('K=%d, T=%d, float32, forward+backward, best of %d (ms)\n'
          % (args.K, args.T, args.repeat))
    print('| conserve_total | mean m | R | ours | dense KxKxT | speed-up '
          '| max rel. diff |')
    print('|---|---|---|---|---|---|---|')
    for conserve in modes:
        for mean in args.means:
            x, m, gy = inputs(args.T, args.K, mean)
            R = int(min(max(math.ceil(m.max()) - 1, 0), args.K - 1))
            t_o, r_o = best_time(ours, (x, m, gy, conserve), args.repeat)
            t_d, r_d = best_time(dense, (x, m, gy, conserve),
                                 max(1, args.repeat // 2))
            print('| %s | %g | %d | %.2f | %.1f | %.1fx | %.1e |' % (
                conserve, mean, R, 1e3 * t_o, 1e3 * t_d, t_d / t_o,
                max_rel_err(r_o, r_d)))

    K, T = args.small_K, args.small_T
    print('\nSmall size K=%d, T=%d (pure-Python loop included), ms\n'
          % (K, T))
    print('| conserve_total | mean m | ours | dense | loop | max rel. diff '
          '(ours vs loop) |')
    print('|---|---|---|---|---|---|')
    for conserve in modes:
        for mean in [m_ for m_ in args.means if m_ <= K]:
            x, m, gy = inputs(T, K, mean)
            t_o, r_o = best_time(ours, (x, m, gy, conserve), args.repeat)
            t_d, _ = best_time(dense, (x, m, gy, conserve), args.repeat)
            t_l, r_l = best_time(loop, (x, m, gy, conserve), 1)
            print('| %s | %g | %.2f | %.2f | %.0f | %.1e |' % (
                conserve, mean, 1e3 * t_o, 1e3 * t_d, 1e3 * t_l,
                max_rel_err(r_o, r_l)))


if __name__ == '__main__':
    main()
