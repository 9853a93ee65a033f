"""Does keeping m in float64 change a blur-mask run's final map?

Runs the blur-mask loop of ``vox run blurmask-N`` (the same input, target
and :func:`vox.blurmask.objective.step`) twice side by side, once with m and
the input in float32 and once in float64 (``vox.blurmask.run.LOOP_DTYPE``),
without plots or checkpoints, and compares the final m: its statistics, the
largest difference, the correlation of the two maps' deviations from their
means, and how many of the 10 % smallest-m points (``kept_points.png``) the
two share.  Usage::

    python tools/blurmask_dtype.py blurmask-5 [--profile features64]
        [--iterations 10000] [--results results]

or the two halves in parallel processes, then the comparison::

    python tools/blurmask_dtype.py blurmask-5 ... --dtype float32 --out a.npz
    python tools/blurmask_dtype.py blurmask-5 ... --dtype float64 --out b.npz
    python tools/blurmask_dtype.py --compare a.npz b.npz
"""
import argparse
import time

import numpy as np

import vox.compat  # noqa: F401  (before chainer: Chainer today)

from vox.base.device import get_device
from vox.blurmask import run as blurmask_run
from vox.blurmask.objective import Objective, project, step
from vox.config.blurmask import load_blurmask_config


def final_m(cfg, x_scaled, f, target_scale, dtype, iterations):
    x = np.ascontiguousarray(x_scaled, dtype=dtype)
    a, b = cfg.weights
    objective = Objective(
        x, f, a=a, b=b, conserve_total=cfg.conserve_total,
        entropy_reduce=cfg.entropy_reduce, log_floor=cfg.log_floor,
        blur_scale=cfg.blur_scale, target_scale=target_scale)
    m = np.full(x.shape, cfg.m_init, dtype=dtype)
    for _ in range(iterations):
        _, _, m = step(objective, m, cfg.lr, cfg.relu_on_m)
    m = project(m, cfg.relu_on_m)
    return m, objective.evaluate(m).mse


def smallest(m, fraction=0.1):
    flat = m.ravel()
    return set(np.argsort(flat, kind='stable')[:int(fraction * flat.size)])


def compare(m32, mse32, m64, mse64):
    m32 = m32.astype(np.float64)
    print('| m in | mean m | min m | max m | final MSE |')
    print('|---|---|---|---|---|')
    for name, m, mse in (('float32', m32, mse32), ('float64', m64, mse64)):
        print(f'| {name} | {m.mean():.6g} | {m.min():.6g} | {m.max():.6g} '
              f'| {mse:.6g} |')
    d32, d64 = m32 - m32.mean(), m64 - m64.mean()
    corr = float((d32 * d64).sum() / np.sqrt((d32 ** 2).sum()
                                             * (d64 ** 2).sum()))
    shared = len(smallest(m32) & smallest(m64)) / len(smallest(m64))
    print(f'max |m64 - m32| {np.abs(m64 - m32).max():.4g}; spread '
          f'(max - min) float32 {np.ptp(m32):.4g}, float64 '
          f'{np.ptp(m64):.4g}; correlation of the deviations from the mean '
          f'{corr:.4f}; 10 % smallest-m points shared {shared:.3f}')


def main(argv=None):
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('id', nargs='?')
    p.add_argument('--profile')
    p.add_argument('--iterations', type=int)
    p.add_argument('--results')
    p.add_argument('--dtype', choices=['float32', 'float64'],
                   help='run only this one and save it with --out')
    p.add_argument('--out', help='npz for --dtype')
    p.add_argument('--compare', nargs=2, metavar=('FLOAT32', 'FLOAT64'),
                   help='compare two saved runs')
    args = p.parse_args(argv)
    if args.compare:
        (m32, mse32), (m64, mse64) = [
            (z['m'], float(z['mse'])) for z in map(np.load, args.compare)]
        compare(m32, mse32, m64, mse64)
        return 0
    cfg = load_blurmask_config(args.id, args.profile)
    iterations = args.iterations or cfg.iterations
    device = get_device('@numpy')
    x_raw, input_facts = blurmask_run.load_input(cfg)
    f, target_scale, target_facts = blurmask_run.load_target(
        cfg, device, args.results)
    x_scaled = x_raw if cfg.blur_scale == 'raw' else \
        blurmask_run.audio.to_unit(x_raw)
    print(f'{cfg.id} ({cfg.profile}), {iterations} iterations; input '
          f'{input_facts["path"]} {cfg.input.frames} frames from '
          f'{input_facts["start_frame"]}; target {target_facts["kind"]} '
          f'{target_facts["output"]} {target_facts.get("run", "")}')
    out = {}
    for dtype in [args.dtype] if args.dtype else ['float32', 'float64']:
        start = time.time()
        out[dtype] = final_m(cfg, x_scaled, f, target_scale,
                             np.dtype(dtype), iterations)
        print(f'{dtype}: {time.time() - start:.0f} s')
    if args.dtype:
        m, mse = out[args.dtype]
        np.savez(args.out, m=m, mse=mse)
        return 0
    compare(*out['float32'], *out['float64'])
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
