"""Before / after of vox.cpu_fast: one training step, Chainer's CPU cores
against vox's, interleaved in one process.

Each experiment's faithful models (the blog's head sizes 1421/53/2) and
minibatch, a fixed synthetic batch; a full optimizer step (forward,
backward, RMSprop update; StarGAN: a critic-only and a critic+generator
update).  After one warm-up step of each, the two implementations
alternate ``--reps`` times, so a machine shared with other work slows both
alike; the minimum wall time and the process CPU time are reported.
``--skip GROUP ...`` compares vox with and without some of its changes
instead (the "before" side is vox with those groups of
``vox.cpu_fast.GROUPS`` left as Chainer's), for one change's before /
after.  Usage::

    .venv/bin/python tools/bench_cpu_fast.py [--only ID ...] [--reps 3]
        [--skip GROUP ...]
"""
import argparse
import json
import time

import numpy

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer

from vox import cpu_fast
from vox.base.labels import BLOG_N_CLASSES
from vox.config import load_config

EXPERIMENTS = ('e19098ab', 'bc7db4a2', '54314b33', 'cfcefd21')


def make_optimizer(train, link):
    """RMSprop as the recipes build it (vox/training/<kind>.py)."""
    opt = chainer.optimizers.RMSprop(lr=train.lr, alpha=train.alpha,
                                     eps=train.eps)
    opt.setup(link)
    return opt


def build_steps(exp_id):
    """{kind: step()} for the experiment's faithful models and batch."""
    import importlib
    config = load_config(exp_id)
    numpy.random.seed(0)
    rng = numpy.random.RandomState(1)
    b, t = config.train.batch_size, config.data.crop_frames
    x = rng.uniform(0, 1, (b, 1, t, 256)).astype(numpy.float32)
    labels = numpy.stack([rng.randint(n, size=b) for n in BLOG_N_CLASSES],
                         axis=1).astype(numpy.int32)
    module = importlib.import_module(f'vox.training.{config.kind}')
    if config.kind in ('classifier', 'autoencoder'):
        model = list(module.build_models(config, BLOG_N_CLASSES).values())[0]
        loss = (module.ClassifierLoss if config.kind == 'classifier'
                else module.AutoEncoderLoss)(model)
        opt = make_optimizer(config.train, loss)
        args = [x] + [labels[:, k].copy() for k in range(3)]
        return {'step': lambda: opt.update(loss, *args)}
    from vox.updaters.stargan import StarGANUpdater
    models = module.build_models(config, BLOG_N_CLASSES)
    data = [(x[i], *map(numpy.int32, labels[i])) for i in range(b)]
    updater = StarGANUpdater(
        chainer.iterators.SerialIterator(data, b, shuffle=False),
        make_optimizer(config.train, models['generator']),
        make_optimizer(config.train, models['discriminator']),
        n_classes=BLOG_N_CLASSES, label_combinations=labels, seed=0,
        losses=config.losses)

    def step(iteration):
        def run():
            updater.iteration = iteration  # the schedule follows it
            updater.update()
        return run
    return {'critic': step(0),
            'critic+gen': step(config.losses.n_critic - 1)}


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--only', nargs='+', default=list(EXPERIMENTS))
    ap.add_argument('--reps', type=int, default=3)
    ap.add_argument('--skip', nargs='+', default=None,
                    choices=sorted(cpu_fast.GROUPS))
    args = ap.parse_args(argv)
    if args.skip:
        before = f"vox without {', '.join(args.skip)}"
        modes = {'chainer': lambda: cpu_fast.install(skip=args.skip),
                 'vox': cpu_fast.install}
    else:
        before = 'Chainer'
        modes = {'chainer': cpu_fast.uninstall, 'vox': cpu_fast.install}
    results = {}
    print(f'| experiment | step | {before} wall (CPU) | vox wall (CPU) | '
          'speed-up (wall; CPU) |')
    print('|---|---|---|---|---|')
    for exp_id in args.only:
        for kind, fn in build_steps(exp_id).items():
            times = {m: [] for m in modes}
            for switch in modes.values():  # warm-up
                switch()
                fn()
            for _ in range(args.reps):
                for mode, switch in modes.items():
                    switch()
                    times[mode].append(timed(fn))
            cpu_fast.install()
            row = {m: {'wall_min_s': min(w for w, _ in v),
                       'cpu_min_s': min(c for _, c in v)}
                   for m, v in times.items()}
            results[f'{exp_id}/{kind}'] = row
            c, v = row['chainer'], row['vox']
            print(f"| {exp_id} | {kind} | {c['wall_min_s']:.2f} s "
                  f"({c['cpu_min_s']:.2f} s) | {v['wall_min_s']:.2f} s "
                  f"({v['cpu_min_s']:.2f} s) | "
                  f"{c['wall_min_s'] / v['wall_min_s']:.2f}x; "
                  f"{c['cpu_min_s'] / v['cpu_min_s']:.2f}x |", flush=True)
    print(json.dumps(results))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
