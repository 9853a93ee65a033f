"""Where one faithful training step spends its time, per Chainer function.

The steps of ``tools/bench_cpu_fast.py`` (each experiment's faithful
models and minibatch, a full optimizer step), run under a FunctionHook
that times every function's forward and backward *exclusive* of the
functions they call (a convolution's backward calls a deconvolution and a
weight-gradient function: those are counted under their own names), plus
RMSprop's per-parameter update.  What is left of the step's wall time is
Python between the functions (graph building, ``Variable`` bookkeeping,
the Links' ``__call__``, ``cleargrads``).  Usage::

    .venv/bin/python tools/profile_step.py [--only ID ...] [--reps 2] [--top 12]

``VOX_CHAINER_CPU_FAST=0`` profiles Chainer's own cores.
"""
import argparse
import collections
import time

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
from chainer.optimizers import rmsprop

from bench_cpu_fast import EXPERIMENTS, build_steps


class ExclusiveTimer(chainer.FunctionHook):
    """Seconds per (function label, 'forward' | 'backward'), children excluded."""

    name = 'ExclusiveTimer'

    def __init__(self):
        self.totals = collections.Counter()
        self.calls = collections.Counter()
        self._stack = []  # [start, seconds spent in children]

    def _pre(self):
        self._stack.append([time.perf_counter(), 0.0])

    def _post(self, key):
        start, children = self._stack.pop()
        elapsed = time.perf_counter() - start
        self.totals[key] += elapsed - children
        self.calls[key] += 1
        if self._stack:
            self._stack[-1][1] += elapsed

    def forward_preprocess(self, function, in_data):
        self._pre()

    def forward_postprocess(self, function, in_data):
        self._post((function.label, 'forward'))

    def backward_preprocess(self, function, in_data, out_grad):
        self._pre()

    def backward_postprocess(self, function, in_data, out_grad):
        self._post((function.label, 'backward'))


def _timed_rmsprop(original, totals):
    def timed(self, param):
        t0 = time.perf_counter()
        original(self, param)
        totals[('RMSprop update', 'optimizer')] += time.perf_counter() - t0
    return timed


def main(argv=None):
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--only', nargs='+', default=list(EXPERIMENTS))
    ap.add_argument('--reps', type=int, default=2)
    ap.add_argument('--top', type=int, default=12)
    args = ap.parse_args(argv)
    for exp_id in args.only:
        for kind, fn in build_steps(exp_id).items():
            fn()  # warm-up
            hook = ExclusiveTimer()
            original = rmsprop.RMSpropRule.update_core_cpu
            rmsprop.RMSpropRule.update_core_cpu = _timed_rmsprop(
                original, hook.totals)
            wall = 0.0
            try:
                with hook:
                    for _ in range(args.reps):
                        t0 = time.perf_counter()
                        fn()
                        wall += time.perf_counter() - t0
            finally:
                rmsprop.RMSpropRule.update_core_cpu = original
            per = {k: v / args.reps for k, v in hook.totals.items()}
            step = wall / args.reps
            counted = sum(per.values())
            print(f'\n{exp_id} {kind}: {step:.2f} s per step '
                  f'(mean of {args.reps})')
            print('| function | pass | s per step | share |')
            print('|---|---|---|---|')
            for (label, kind_), s in sorted(per.items(),
                                            key=lambda kv: -kv[1])[:args.top]:
                print(f'| {label} | {kind_} | {s:.3f} | {s / step:.0%} |')
            rest = sum(sorted(per.values(), reverse=True)[args.top:])
            print(f'| (other functions) | | {rest:.3f} | {rest / step:.0%} |')
            print(f'| (Python between functions) | | {step - counted:.3f} | '
                  f'{(step - counted) / step:.0%} |', flush=True)
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
