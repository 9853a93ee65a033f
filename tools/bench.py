"""make bench: every experiment at its faithful size, on the device given.

For each experiment (e19098ab, bc7db4a2, 54314b33, cfcefd21), in a child
process of its own (so its peak host memory is its own), at the faithful
configuration's minibatch and input length:

* the median time of a full training iteration after warm-up: the Trainer
  built by the experiment's ``build_trainer`` with the runner's guards, run
  for a few iterations; an iteration is everything between two iterations
  (next batch, converter, forward, backward, optimizer update, the
  per-iteration extensions).  Iterations that end an epoch (validation,
  logs, plots) are left out and the validation is timed on its own.
  StarGAN: critic-only iterations and critic+generator iterations apart,
  and their mean per iteration given ``n_critic``;
* samples (crops) per second; the data pipeline's crops per second through
  the training iterator (SerialIterator + converter, features cached);
* peak host memory (VmHWM of the child, and ru_maxrss as the parent sees
  it); peak GPU memory of CuPy's pool on a GPU;
* FLOPs per iteration from the layer shapes (see ``vox/base/perf.py``) and the
  FLOP/s achieved, beside the device's peak;
* time per epoch and for the blog's schedule, on the generated corpus and
  per 1000 utterances of real data.

Then the VRAM argument of 54314b33 / cfcefd21 (issue 9, item 3): on a GPU
the pool's peak at minibatch 2 and the largest minibatch within 3017 MiB,
measured; on the CPU an estimate, labelled as one.

Writes ``docs/performance.json`` (a section per device kind) and the
generated part of ``docs/performance.md``; ``--only`` replaces only the
experiments given.  Usage::

    .venv/bin/python tools/bench.py [--device @numpy|@cupy:0] [--only ID]
        [--warmup 2] [--iters 5] [--gen-iters 2] [--no-vram]
"""
import argparse
import datetime
import json
import math
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from vox.base.labels import BLOG_N_CLASSES
from vox.base.paths import REPO, git_revision

EXPERIMENTS = ('e19098ab', 'bc7db4a2', '54314b33', 'cfcefd21')
#: (experiment, frames): the blog's two StarGANs at their own lengths, and
#: cfcefd21's models at 54314b33's 256 frames (the time axis alone).
VRAM_CASES = (('54314b33', None), ('cfcefd21', None), ('cfcefd21', 256))
BLOG_VRAM_MIB = 3017
MIB = 2 ** 20
MAX_ITERATIONS = 400

MARK = '<!-- bench:{kind}:{edge} (tools/bench.py writes this part) -->'


def device_kind(spec):
    spec = (spec or '@numpy').strip()
    if spec.startswith('@cupy') or (spec.isdigit() and int(spec) >= 0):
        return 'gpu'
    return 'cpu'


# ---------------------------------------------------------------------------
# Child: one experiment

def pad_labels(data, n_classes):
    """Gives the label space at least ``n_classes`` classes per group, so
    the models are built with the blog's head sizes (1421 / 53 / 2) while
    the crops come from the corpus (their labels are valid indices)."""
    from vox.base.labels import GROUPS
    from vox.data.dataset import LabelSpace
    names = {}
    for group, n in zip(GROUPS, n_classes):
        have = list(data.labels.names[group])
        names[group] = have + [f'~blog-{group}-{i:04d}'
                               for i in range(max(0, n - len(have)))]
    data.labels = LabelSpace(names)


def _iteration_timer(device, updater, stargan, warmup, iters, gen_iters):
    import chainer
    from vox.base import perf

    class IterationTimer(chainer.training.Extension):
        """Wall time from one iteration's end to the next's (device synced)."""
        trigger = (1, 'iteration')
        priority = -10 ** 6  # after every other extension
        name = 'vox_bench_timer'

        def __init__(self):
            self.records = []
            self.need = ({'critic': (warmup, iters),
                          'critic+gen': (min(warmup, 1), gen_iters)}
                         if stargan else {'step': (warmup, iters)})

        def kind(self, iteration):
            if not stargan:
                return 'step'
            return 'critic+gen' if updater.is_gen_step(iteration) \
                else 'critic'

        def initialize(self, trainer):
            perf.synchronize(device)
            self.last = time.perf_counter()
            self.last_cpu = time.process_time()

        def __call__(self, trainer):
            perf.synchronize(device)
            now, now_cpu = time.perf_counter(), time.process_time()
            u = trainer.updater
            self.records.append({
                'iteration': u.iteration, 'kind': self.kind(u.iteration - 1),
                'epoch_end': bool(u.is_new_epoch),
                'seconds': now - self.last,
                'cpu_seconds': now_cpu - self.last_cpu})
            self.last, self.last_cpu = now, now_cpu

        def timed(self, kind, key='seconds'):
            rows = [r for r in self.records if r['kind'] == kind]
            skip = self.need[kind][0]
            return [r[key] for r in rows[skip:] if not r['epoch_end']]

        def done(self, trainer):
            if len(self.records) >= MAX_ITERATIONS:  # never loop for ever
                return True
            return all(len(self.timed(k)) >= n
                       for k, (_, n) in self.need.items())

    class StopTrigger:
        """The Trainer's stop trigger (ProgressBar asks it for a length)."""

        def __init__(self, timer):
            self.timer = timer

        def __call__(self, trainer):
            return self.timer.done(trainer)

        def get_training_length(self):
            return MAX_ITERATIONS, 'iteration'

    timer = IterationTimer()
    return timer, StopTrigger(timer)


def bench_experiment(exp_id, args):
    import chainer
    import numpy as np
    from vox.base import perf
    from vox.runs import runner
    from vox.config import load_config
    from vox.base.device import get_device
    from vox.data.sources import load_data
    from vox.training.registry import trainer_module

    started = time.time()
    config = load_config(exp_id, args.profile)
    device = get_device(args.device)
    gpu = device.xp is not np
    pool = perf.PoolPeak() if gpu else None
    data = load_data(config.data, config.seed, args.corpus)
    corpus_classes = list(data.labels.n_classes)
    if args.classes == 'blog':
        pad_labels(data, BLOG_N_CLASSES)
    rss_data = perf.proc_status().get('VmRSS')
    runner.seed_everything(config.seed, device)
    module = trainer_module(config.kind)
    stargan = config.kind == 'stargan'
    batch = config.train.batch_size
    out = {'id': exp_id, 'title': config.title, 'kind': config.kind,
           'profile': config.profile, 'device': str(device),
           'batch_size': batch, 'crop_frames': config.data.crop_frames,
           'n_classes_model': list(data.labels.n_classes),
           'n_classes_corpus': corpus_classes,
           'train_crops': len(data.train),
           'validation_crops': len(data.validation),
           'epochs': config.train.epochs,
           'reference': config.reference}

    with tempfile.TemporaryDirectory(prefix='vox-bench-') as tmp:
        trainer = module.build_trainer(config, data, Path(tmp), device)
        updater = trainer.updater
        out['parameters'] = {
            name: int(sum(p.size for p in opt.target.params()))
            for name, opt in updater.get_all_optimizers().items()}
        timer, stop = _iteration_timer(device, updater, stargan,
                                       args.warmup, args.iters,
                                       args.gen_iters)
        trainer.extend(timer)
        trainer.stop_trigger = stop
        trainer.run(show_loop_exception_msg=False)
        out['iterations'] = {
            kind: {'seconds': timer.timed(kind),
                   'median_s': statistics.median(timer.timed(kind)),
                   'cpu_seconds': timer.timed(kind, 'cpu_seconds'),
                   'median_cpu_s': statistics.median(
                       timer.timed(kind, 'cpu_seconds'))}
            for kind in timer.need}
        out['iteration_log'] = timer.records
        n_critic = config.losses.n_critic if stargan else 1
        if stargan:
            out['n_critic'] = n_critic
            mean_iter = ((n_critic - 1) * out['iterations']['critic'][
                'median_s'] + out['iterations']['critic+gen']['median_s']) \
                / n_critic
        else:
            mean_iter = out['iterations']['step']['median_s']
        out['mean_iteration_s'] = mean_iter
        out['samples_per_s'] = batch / mean_iter

        # Validation, as the Evaluator runs it at every epoch's end.
        evaluator = trainer.get_extension('validation')
        times = []
        for _ in range(2):
            perf.synchronize(device)
            t0 = time.perf_counter()
            evaluator()
            perf.synchronize(device)
            times.append(time.perf_counter() - t0)
        out['validation_s'] = min(times)

        # FLOPs: one more iteration of each kind under the counting hooks.
        flops = {}
        for kind in timer.need:
            if stargan:  # the schedule depends only on the iteration count
                updater.iteration = 10 * n_critic - (
                    1 if kind == 'critic+gen' else 0)
            link_hook, function_hook = perf.LinkFlops(), perf.ExecutedFlops()
            with trainer.reporter.scope({}), link_hook, function_hook:
                updater.update()
            flops[kind] = {
                'forward': link_hook.forward_flops,
                'convention': link_hook.training_flops,
                'executed': function_hook.flops,
                'executed_by_function': {
                    k: 2 * v for k, v in function_hook.by_function.items()}}
        out['flops'] = flops

        def mean_over_schedule(key):
            if stargan:
                return ((n_critic - 1) * flops['critic'][key]
                        + flops['critic+gen'][key]) / n_critic
            return flops['step'][key]
        out['flops_per_iteration'] = {
            k: mean_over_schedule(k)
            for k in ('forward', 'convention', 'executed')}
        out['achieved_flops'] = {
            k: v / mean_iter for k, v in out['flops_per_iteration'].items()}

        # The data pipeline alone: the training iterator and converter.
        it = chainer.iterators.SerialIterator(
            data.train, batch, order_sampler=chainer.iterators
            .ShuffleOrderSampler(np.random.RandomState(1)))
        converter = chainer.dataset.concat_examples
        converter(it.next(), device)  # warm-up
        n, t0 = 0, time.perf_counter()
        while n < 20 or time.perf_counter() - t0 < 1.0:
            converter(it.next(), device)
            n += 1
        perf.synchronize(device)
        seconds = time.perf_counter() - t0
        out['pipeline'] = {'batches': n, 'seconds': seconds,
                           'crops_per_s': n * batch / seconds}
        out['consumed_crops_per_s'] = out['samples_per_s']

    # Projections: one epoch = one crop per training utterance.
    d = config.data
    iters_per_epoch = len(data.train) / batch
    epoch_s = iters_per_epoch * mean_iter + out['validation_s']
    per_val_crop = out['validation_s'] / max(1, len(data.validation))
    real_train = 1000 * (1 - d.validation_fraction)
    real_val = 1000 * d.validation_fraction * d.validation_crops
    real_epoch_s = real_train / batch * mean_iter + real_val * per_val_crop
    out['projection'] = {
        'iterations_per_epoch': iters_per_epoch,
        'epoch_s': epoch_s,
        'schedule_h': config.train.epochs * epoch_s / 3600,
        'per_1000_utterances': {
            'train_crops': real_train, 'validation_crops': real_val,
            'epoch_s': real_epoch_s,
            'schedule_h': config.train.epochs * real_epoch_s / 3600}}

    status = perf.proc_status()
    out['host_memory'] = {'rss_after_data_bytes': rss_data,
                          'peak_rss_bytes': status.get('VmHWM')}
    if gpu:
        out['gpu_memory'] = {'pool_peak_used_bytes': pool.used,
                             'pool_peak_held_bytes': pool.held}
    out['seconds'] = time.time() - started
    return out


# ---------------------------------------------------------------------------
# Child: the VRAM argument

def _synthetic_batches(frames, n, seed=0):
    import numpy as np
    rng = np.random.RandomState(seed)
    return [(rng.uniform(0, 1, (1, frames, 256)).astype(np.float32),
             np.int32(rng.randint(BLOG_N_CLASSES[0])),
             np.int32(rng.randint(BLOG_N_CLASSES[1])),
             np.int32(rng.randint(BLOG_N_CLASSES[2]))) for _ in range(n)]


def vram_experiment(exp_id, frames, args):
    """Peak memory of one critic-only and one critic+generator iteration.

    GPU: CuPy pool peaks, measured, at the requested minibatches and a
    search for the largest minibatch whose held peak is within the budget.
    CPU: an estimate (parameters + gradients + RMSprop state + the arrays
    the graphs keep for backward) and a CPU proxy (tracemalloc's peak of
    NumPy allocations), with the largest minibatch from a linear fit.
    """
    import gc
    import tracemalloc

    import chainer
    import numpy as np
    from vox.base import perf
    from vox.runs import runner
    from vox.config import load_config
    from vox.base.device import get_device
    from vox.training.stargan import build_models, check_crop_frames
    from vox.updaters.stargan import StarGANUpdater

    config = load_config(exp_id)
    frames = frames or config.data.crop_frames
    device = get_device(args.device)
    gpu = device.xp is not np
    pool = perf.PoolPeak() if gpu else None
    if not gpu:
        tracemalloc.start()
    runner.seed_everything(config.seed, device)
    models = build_models(config, BLOG_N_CLASSES)
    check_crop_frames(models, frames)
    gen, dis = models['generator'], models['discriminator']
    gen.to_device(device)
    dis.to_device(device)
    train = config.train
    opt_gen = chainer.optimizers.RMSprop(lr=train.lr, alpha=train.alpha,
                                         eps=train.eps)
    opt_gen.setup(gen)
    opt_dis = chainer.optimizers.RMSprop(lr=train.lr, alpha=train.alpha,
                                         eps=train.eps)
    opt_dis.setup(dis)
    rng = np.random.RandomState(1)
    combos = np.stack([rng.randint(n, size=256) for n in BLOG_N_CLASSES],
                      axis=1).astype(np.int32)
    n_critic = config.losses.n_critic

    def static_bytes():
        """Parameters, their gradients, RMSprop's ``ms``, BN statistics."""
        total = 0
        for link in (gen, dis):
            total += 3 * perf.param_bytes(link)
            for sub in link.links():
                for name in sub._persistent:
                    value = getattr(sub, name)
                    total += int(getattr(value, 'nbytes', 0))
        return total

    def trial(batch):
        data = _synthetic_batches(frames, batch)
        it = chainer.iterators.SerialIterator(data, batch, shuffle=False)
        updater = StarGANUpdater(
            it, opt_gen, opt_dis, n_classes=BLOG_N_CLASSES,
            label_combinations=combos, seed=0, device=device,
            losses=config.losses)
        saved = {}

        def walk(name, lossfun):
            def wrapped(*a):
                loss = lossfun(*a)
                saved[name] = perf.saved_activation_bytes(
                    loss, exclude=(gen, dis))
                return loss
            return wrapped
        updater.loss_dis = walk('dis', updater.loss_dis)
        updater.loss_gen = walk('gen', updater.loss_gen)
        gc.collect()
        if gpu:
            pool.reset()
        else:
            tracemalloc.reset_peak()
        reporter = chainer.Reporter()
        reporter.add_observer('dis', dis)
        reporter.add_observer('gen', gen)
        oom = None
        try:
            for iteration in (0, n_critic - 1):  # critic, critic+gen
                updater.iteration = iteration
                with reporter.scope({}):
                    updater.update()
            perf.synchronize(device)
        except Exception as e:  # out of memory on a small GPU
            text = f'{type(e).__name__}: {e}'
            if not gpu or not ('memory' in text.lower()
                               or 'ALLOC' in text):
                raise
            oom = text[:200]
        if oom is not None:  # outside the except: its traceback is gone
            del updater, it, data
            for link in (gen, dis):
                link.cleargrads()
            gc.collect()
            pool.reset()
            return {'batch': batch, 'oom': oom}
        row = {'batch': batch, 'static_bytes': static_bytes(),
               'saved_dis_bytes': saved.get('dis'),
               'saved_gen_bytes': saved.get('gen')}
        row['estimate_bytes'] = row['static_bytes'] + max(
            saved.get('dis', 0), saved.get('gen', 0))
        if gpu:
            row['pool_peak_used_bytes'] = pool.used
            row['pool_peak_held_bytes'] = pool.held
        else:
            row['cpu_proxy_bytes'] = tracemalloc.get_traced_memory()[1]
        del updater, it, data
        return row

    budget = args.vram_budget_mib * MIB
    out = {'id': exp_id, 'frames': frames, 'device': str(device),
           'n_classes_model': list(BLOG_N_CLASSES),
           'budget_mib': args.vram_budget_mib,
           'parameters': {'generator': int(sum(p.size for p in gen.params())),
                          'discriminator': int(sum(
                              p.size for p in dis.params()))},
           'measured': gpu}
    trial(1)  # warm-up: allocates gradients and RMSprop state once
    rows = [trial(b) for b in args.vram_batches]
    out['rows'] = rows

    def fit(key):
        good = [r for r in rows if r.get(key)]
        if len(good) < 2:
            return None
        r1, r2 = good[-2], good[-1]
        slope = (r2[key] - r1[key]) / (r2['batch'] - r1['batch'])
        const = r1[key] - slope * r1['batch']
        if slope <= 0:
            return None
        return {'fixed_bytes': const, 'per_sample_bytes': slope,
                'largest_batch': max(0, int((budget - const) // slope))}
    out['fit_estimate'] = fit('estimate_bytes')
    if gpu:
        out['fit_measured'] = fit('pool_peak_held_bytes')
        # Search under a pool limit of the budget (CuPy raises
        # OutOfMemoryError past it), so "fits" is a measured run, not a
        # comparison or an extrapolation: double while it fits, then bisect.
        search = {}
        pool.pool.set_limit(size=int(budget))
        out['pool_limit_bytes'] = int(budget)

        def fits(b):
            if b not in search:
                search[b] = trial(b)
            return 'oom' not in search[b]
        lo, hi = 0, 1
        while hi <= args.vram_max_batch and fits(hi):
            lo, hi = hi, hi * 2
        if hi > args.vram_max_batch:
            hi = None
        else:
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if fits(mid):
                    lo = mid
                else:
                    hi = mid
        pool.pool.set_limit(size=0)  # 0: no limit
        out['search'] = sorted(search.values(), key=lambda r: r['batch'])
        out['largest_batch_measured'] = lo
        out['search_capped'] = hi is None
    else:
        out['fit_cpu_proxy'] = fit('cpu_proxy_bytes')
    return out


# ---------------------------------------------------------------------------
# Parent

def child_command(args, *extra):
    cmd = [sys.executable, str(Path(__file__).resolve()),
           '--device', args.device, '--warmup', str(args.warmup),
           '--iters', str(args.iters), '--gen-iters', str(args.gen_iters),
           '--classes', args.classes,
           '--vram-budget-mib', str(args.vram_budget_mib),
           '--vram-max-batch', str(args.vram_max_batch),
           '--vram-batches', *map(str, args.vram_batches)]
    if args.profile:
        cmd += ['--profile', args.profile]
    if args.corpus:
        cmd += ['--corpus', args.corpus]
    return cmd + list(extra)


def run_child(cmd, label):
    """Runs a child; returns (result dict, ru_maxrss bytes, log path)."""
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        result_path = f.name
    log_path = result_path[:-5] + '.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd + ['--result', result_path],
                                stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        print(f'bench: {label} failed (exit {proc.returncode}); log '
              f'{log_path}:\n{tail}', file=sys.stderr)
        return None, None, log_path
    with open(result_path) as f:
        result = json.load(f)
    os.unlink(result_path)
    os.unlink(log_path)
    return result, usage.ru_maxrss * 1024, None


def machine(args):
    import chainer
    import numpy
    from vox.base import perf
    cpu = perf.cpu_description()
    peak, peak_how = perf.cpu_peak_flops(cpu)
    desc = {'cpu': cpu, 'cpu_peak_flops': peak, 'cpu_peak_source': peak_how,
            'python': platform.python_version(),
            'platform': platform.platform(),
            'numpy': numpy.__version__, 'chainer': chainer.__version__,
            'blas': perf.blas_description(),
            'blas_threads': perf.blas_threads(),
            'git': git_revision(REPO, short=True)}
    if device_kind(args.device) == 'gpu':
        desc['gpu'] = perf.gpu_description()
    return desc


def main(argv=None):
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    ap = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--device', default='@numpy',
                    help="'@numpy' (default) or '@cupy:0'")
    ap.add_argument('--only', nargs='+', metavar='ID',
                    help='experiments to run (default: '
                    f"{' '.join(EXPERIMENTS)}); the others keep their "
                    'previous figures')
    ap.add_argument('--warmup', type=int, default=2,
                    help='iterations left out first (default 2; StarGAN '
                    'critic+gen iterations: at most 1)')
    ap.add_argument('--iters', type=int, default=5,
                    help='timed iterations (default 5)')
    ap.add_argument('--gen-iters', type=int, default=2,
                    help='timed StarGAN critic+generator iterations '
                    '(default 2)')
    ap.add_argument('--classes', choices=('blog', 'corpus'), default='blog',
                    help="head sizes: the blog's 1421/53/2 (default) or the "
                    "corpus's class counts")
    ap.add_argument('--profile', help='a config profile instead of the '
                    'faithful configuration (for trying the tool)')
    ap.add_argument('--corpus', help='CORPUS= for the crops (default synth)')
    ap.add_argument('--no-vram', action='store_true',
                    help='skip the VRAM argument (item 3 of issue 9)')
    ap.add_argument('--vram-budget-mib', type=float, default=BLOG_VRAM_MIB)
    ap.add_argument('--vram-batches', type=int, nargs='+', default=[1, 2, 4],
                    help='minibatches measured for the VRAM table (default '
                    '1 2 4; 2 is the blog\'s)')
    ap.add_argument('--vram-max-batch', type=int, default=1024,
                    help='GPU search cap (default 1024)')
    ap.add_argument('--json', help='default docs/performance.json')
    ap.add_argument('--md', help='default docs/performance.md')
    ap.add_argument('--no-write', action='store_true',
                    help='print the tables, write nothing')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    ap.add_argument('--child-vram', help=argparse.SUPPRESS)
    ap.add_argument('--frames', type=int, help=argparse.SUPPRESS)
    ap.add_argument('--result', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    from vox import compat  # noqa: F401  (before chainer: Chainer today)
    if args.child or args.child_vram:  # one experiment, in its own process
        if args.child:
            result = bench_experiment(args.child, args)
        else:
            result = vram_experiment(args.child_vram, args.frames, args)
        with open(args.result, 'w') as f:
            json.dump(result, f)
        return 0

    from vox.base.errors import VoxError
    from vox.base.device import get_device
    from vox.config import known_ids
    try:
        get_device(args.device)  # a clear error before any child starts
        unknown = [i for i in args.only or () if i not in known_ids()]
        if unknown:
            raise VoxError(f"--only {' '.join(unknown)}: unknown ID; "
                           f"benchmarked: {' '.join(EXPERIMENTS)}")
    except VoxError as e:
        print(f'bench: error: {e}', file=sys.stderr)
        return 2
    if args.profile and not args.no_write and not (args.json and args.md):
        print('bench: error: --profile measures other models than the '
              'faithful ones; give --no-write, or --json and --md outside '
              'docs/', file=sys.stderr)
        return 2
    args.json = args.json or str(REPO / 'docs' / 'performance.json')
    args.md = args.md or str(REPO / 'docs' / 'performance.md')
    kind = device_kind(args.device)
    ids = [i for i in EXPERIMENTS if not args.only or i in args.only]
    ids += [i for i in args.only or () if i not in ids]
    exe = Path(sys.executable)
    exe = (str(exe.relative_to(REPO)) if exe.is_relative_to(REPO)
           else exe.name)  # e.g. python3 on a GPU machine, no venv
    env = [f'{k}={os.environ[k]}' for k in ('CUPY_TF32',) if k in os.environ]
    command = ' '.join(shlex.quote(a) for a in
                       env + [exe, 'tools/bench.py']
                       + list(argv if argv is not None else sys.argv[1:]))
    section = {'device': args.device, 'machine': machine(args),
               'command': command, 'experiments': {}, 'vram': {}}
    load_before = os.getloadavg()
    failed = False
    for exp_id in ids:
        print(f'bench: {exp_id} on {args.device} ...', flush=True)
        t0 = time.time()
        result, maxrss, _ = run_child(child_command(args, '--child', exp_id),
                                      exp_id)
        if result is None:
            failed = True
            continue
        result['host_memory']['ru_maxrss_bytes'] = maxrss
        result['command'] = command
        result['date'] = datetime.datetime.now().isoformat(timespec='seconds')
        section['experiments'][exp_id] = result
        print(f'bench: {exp_id}: {result["mean_iteration_s"]:.3f} s per '
              f'iteration, {result["samples_per_s"]:.2f} samples/s '
              f'({time.time() - t0:.0f} s)', flush=True)
    if not args.no_vram:
        for exp_id, frames in VRAM_CASES:
            if args.only and exp_id not in args.only:
                continue
            label = f'VRAM {exp_id}' + (f' at {frames} frames' if frames
                                       else '')
            print(f'bench: {label} ...', flush=True)
            extra = ['--child-vram', exp_id]
            if frames:
                extra += ['--frames', str(frames)]
            result, _, _ = run_child(child_command(args, *extra), label)
            if result is None:
                failed = True
                continue
            result['command'] = command
            result['date'] = datetime.datetime.now().isoformat(
                timespec='seconds')
            section['vram'][f'{exp_id}@{result["frames"]}'] = result
    section['load_average'] = {'before': load_before,
                               'after': os.getloadavg()}

    report = load_report(args.json)
    merged = merge(report.get(kind), section)
    report[kind] = merged
    md = render(kind, merged)
    if args.no_write:
        print(md)
    else:
        Path(args.json).write_text(json.dumps(report, indent=1,
                                              default=float) + '\n')
        write_markdown(args.md, kind, md)
        print(f'bench: wrote {args.json} and {args.md}')
    return 1 if failed else 0


def load_report(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def merge(old, new):
    """New figures replace old ones per experiment; the rest are kept."""
    if not old:
        return new
    out = dict(new)
    out['experiments'] = {**old.get('experiments', {}),
                          **new['experiments']}
    out['vram'] = {**old.get('vram', {}), **new['vram']}
    return out


# ---------------------------------------------------------------------------
# Markdown

def _mib(b):
    return '—' if b is None else f'{b / MIB:,.0f} MiB'


def _g(flops):
    return f'{flops / 1e9:,.1f}'


def _dur(seconds):
    if seconds < 120:
        return f'{seconds:.1f} s'
    if seconds < 7200:
        return f'{seconds / 60:.1f} min'
    if seconds < 3 * 86400:
        return f'{seconds / 3600:.1f} h'
    return f'{seconds / 86400:.1f} days'


def render(kind, section):
    m = section['machine']
    cpu = m['cpu']
    lines = []
    title = 'GPU' if kind == 'gpu' else 'CPU'
    lines.append(f'## {title}: `{section["device"]}`\n')
    desc = (f"{cpu['model_name']} (vendor {cpu['vendor']}, family "
            f"{cpu['family']} model {cpu['model']}"
            f"{', under a hypervisor' if cpu['hypervisor'] else ''}), "
            f"{cpu['cores']} cores usable, {cpu['mhz']} MHz, "
            f"SIMD {'/'.join(cpu['simd'])}, "
            f"{(cpu['memory_bytes'] or 0) / 2 ** 30:.0f} GiB RAM")
    lines.append(f'- Machine: {desc}')
    if 'gpu' in m:
        g = m['gpu']
        lines.append(f"- GPU: {g['name']}, {g['memory_bytes'] / 2 ** 30:.0f}"
                     f" GiB, CuPy {g['cupy']}, CUDA runtime "
                     f"{g['cuda_runtime']}, cuDNN "
                     f"{'on' if g['cudnn'] else 'off'}")
    lines.append(f"- Software: Python {m['python']} ({m['platform']}), "
                 f"NumPy {m['numpy']}, Chainer {m['chainer']}, BLAS "
                 f"{m['blas']}, {m['blas_threads']}; vox {m['git']}")
    tf32 = None
    if kind == 'gpu':
        peak, how = m['gpu'].get('peak_flops'), m['gpu'].get('peak_source')
        tf32 = m['gpu'].get('tf32_peak_flops')
    else:
        peak, how = m['cpu_peak_flops'], m['cpu_peak_source']
    lines.append(f"- Peak float32 assumed: "
                 f"{'unknown' if peak is None else _g(peak) + ' GFLOP/s'}"
                 f" ({how})")
    if tf32:
        lines.append(f"- Peak TF32 tensor-core assumed: {_g(tf32)} GFLOP/s "
                     f"({m['gpu']['tf32_peak_source']}); CuPy uses it only "
                     f"with CUPY_TF32=1 (this run: "
                     f"{m['gpu'].get('cupy_tf32') or 'unset'})")
    la = section.get('load_average', {})
    if la:
        lines.append(f"- Load average (1/5/15 min) before "
                     f"{'/'.join(f'{v:.2f}' for v in la['before'])}, after "
                     f"{'/'.join(f'{v:.2f}' for v in la['after'])}")
    commands = sorted({e['command'] for e in section['experiments']
                       .values()} | {v['command'] for v in
                                     section['vram'].values()})
    lines.append('- Command' + ('s' if len(commands) > 1 else '') + ': '
                 + ', '.join(f'`{c}`' for c in commands))
    dates = sorted(e['date'] for e in section['experiments'].values())
    if dates:
        lines.append(f'- Measured {dates[0]} .. {dates[-1]}')
    lines.append('')

    exps = [section['experiments'][i] for i in EXPERIMENTS
            if i in section['experiments']]
    exps += [e for i, e in section['experiments'].items()
             if i not in EXPERIMENTS]
    lines.append('### Iteration time, throughput, memory, FLOP/s\n')
    lines.append('| experiment | minibatch x input | iteration, median wall '
                 '(process CPU) | samples/s | peak host RSS | peak GPU pool '
                 '| GFLOP / iteration (3x fwd; executed) | achieved GFLOP/s '
                 '(3x fwd; executed) | of peak |')
    lines.append('|---|---|---|---|---|---|---|---|---|')
    for e in exps:
        its = e['iterations']

        def t(which):
            cpu = its[which].get('median_cpu_s')
            return f"{its[which]['median_s']:.2f} s" + (
                '' if cpu is None or kind == 'gpu' else f' (CPU {cpu:.2f} s)')
        if 'critic' in its:
            it_text = (f"critic {t('critic')}, critic+gen "
                       f"{t('critic+gen')}; mean {e['mean_iteration_s']:.2f}"
                       f" s (n_critic {e['n_critic']})")
        else:
            it_text = t('step')
        gpu_mem = 'n/a (CPU)' if 'gpu_memory' not in e else (
            f"{_mib(e['gpu_memory']['pool_peak_used_bytes'])} used, "
            f"{_mib(e['gpu_memory']['pool_peak_held_bytes'])} held")
        f, a = e['flops_per_iteration'], e['achieved_flops']
        pct = '—' if not peak else \
            f"{100 * a['convention'] / peak:.0f}%; " \
            f"{100 * a['executed'] / peak:.0f}%"
        if tf32:
            pct += f" (TF32: {100 * a['executed'] / tf32:.1f}%)"
        profile = '' if e['profile'] == 'faithful' else f" ({e['profile']})"
        rss = _mib(e['host_memory']['peak_rss_bytes'])
        lines.append(
            f"| {e['id']} {e['kind']}{profile} "
            f"| {e['batch_size']} x 1x{e['crop_frames']}x256 | {it_text} | "
            f"{e['samples_per_s']:.2f} | {rss} | "
            f"{gpu_mem} | {_g(f['convention'])}; {_g(f['executed'])} | "
            f"{_g(a['convention'])}; {_g(a['executed'])} | {pct} |")
    lines.append('')
    lines.append('### Data pipeline and schedule\n')
    lines.append('| experiment | pipeline crops/s | training consumes '
                 'crops/s | validation per epoch | epoch (generated corpus) '
                 '| full schedule (generated corpus) | epoch per 1000 '
                 'utterances | full schedule per 1000 utterances |')
    lines.append('|---|---|---|---|---|---|---|---|')
    for e in exps:
        p = e['projection']
        r = p['per_1000_utterances']
        lines.append(
            f"| {e['id']} | {e['pipeline']['crops_per_s']:,.0f} | "
            f"{e['consumed_crops_per_s']:.2f} | {_dur(e['validation_s'])} "
            f"({e['validation_crops']} crops) | {_dur(p['epoch_s'])} "
            f"({e['train_crops']} crops, {p['iterations_per_epoch']:.1f} "
            f"iterations) | {e['epochs']} epochs: "
            f"{_dur(p['schedule_h'] * 3600)} | "
            f"{_dur(r['epoch_s'])} | {_dur(r['schedule_h'] * 3600)} |")
    lines.append('')
    if section['vram']:
        lines += render_vram(kind, section['vram'])
    return '\n'.join(lines).rstrip() + '\n'


def render_vram(kind, vram):
    lines = ['### VRAM: 54314b33 (256 frames) vs cfcefd21 (64 frames)\n']
    measured = any(v['measured'] for v in vram.values())
    if not measured:
        lines.append('**GPU measurement pending: no GPU in this session.** '
                     'Every figure below is an ESTIMATE made on the CPU, '
                     'not a measurement of GPU memory:\n')
        lines.append('- *estimate* = parameters + their gradients + '
                     "RMSprop's state (3 x 4 bytes per parameter, both "
                     'networks) + BatchNorm statistics + the arrays the '
                     "graph keeps for backward (a walk of the loss's graph "
                     'before backward, the larger of the critic and the '
                     'generator step).  A lower bound: the gradients in '
                     'flight during backward and convolution workspace '
                     '(im2col / cuDNN) are not in it, nor the CUDA context '
                     '(a few hundred MiB on any card).')
        lines.append('- *CPU proxy* = the peak of NumPy allocations '
                     '(tracemalloc) during the same critic and '
                     'critic+generator iterations on the CPU: im2col '
                     'buffers included, as on the CuPy route without '
                     'cuDNN.  Still not GPU memory.')
        lines.append('- largest minibatch: a straight line through the two '
                     'largest minibatches measured, solved for '
                     f"{next(iter(vram.values()))['budget_mib']:.0f} MiB.\n")
    else:
        lines.append("Measured: peak of CuPy's default pool (used = bytes "
                     'in live arrays, held = bytes taken from the device '
                     'including its cache) over one critic and one '
                     'critic+generator iteration; the CUDA context is not '
                     'included.  The largest minibatch is searched '
                     '(doubling, then bisection) with the pool limited to '
                     'the budget (`MemoryPool.set_limit`): it is the largest '
                     'whose two iterations ran without the pool running '
                     'out, measured, not extrapolated.\n')
    head = ('| model | input | params (G + D) | minibatch | '
            + ('estimate | CPU proxy |' if not measured else
               'pool used | pool held | estimate |'))
    lines.append(head)
    lines.append('|' + '---|' * (head.count('|') - 1))
    for key, v in vram.items():
        for r in v['rows']:
            if 'oom' in r:
                lines.append(f"| {v['id']} | 1x{v['frames']}x256 | | "
                             f"{r['batch']} | out of memory | |")
                continue
            params = (f"{v['parameters']['generator'] / 1e6:.1f}M + "
                      f"{v['parameters']['discriminator'] / 1e6:.1f}M")
            if measured:
                tail = (f"{_mib(r['pool_peak_used_bytes'])} | "
                        f"{_mib(r['pool_peak_held_bytes'])} | "
                        f"{_mib(r['estimate_bytes'])} |")
            else:
                tail = (f"{_mib(r['estimate_bytes'])} | "
                        f"{_mib(r['cpu_proxy_bytes'])} |")
            lines.append(f"| {v['id']} | 1x{v['frames']}x256 | {params} | "
                         f"{r['batch']} | {tail}")
    lines.append('')
    budget = next(iter(vram.values()))['budget_mib']
    lines.append(f'Largest minibatch within {budget:.0f} MiB:\n')
    if measured:
        lines.append('| model | input | measured (search) | from the '
                     'estimate |')
        lines.append('|---|---|---|---|')
    else:
        lines.append('| model | input | from the estimate | from the CPU '
                     'proxy | GPU measurement |')
        lines.append('|---|---|---|---|---|')
    for key, v in vram.items():
        def b(fit):
            if not fit:
                return '—'
            return (f"{fit['largest_batch']} ({_mib(fit['fixed_bytes'])} + "
                    f"{_mib(fit['per_sample_bytes'])} per sample)")
        if measured:
            cap = ' (search capped)' if v.get('search_capped') else ''
            lines.append(f"| {v['id']} | 1x{v['frames']}x256 | "
                         f"{v['largest_batch_measured']}{cap} | "
                         f"{b(v['fit_estimate'])} |")
        else:
            lines.append(f"| {v['id']} | 1x{v['frames']}x256 | "
                         f"{b(v['fit_estimate'])} | "
                         f"{b(v.get('fit_cpu_proxy'))} | pending (no GPU) |")
    lines.append('')
    return lines


PLACEHOLDER = {
    'cpu': '## CPU\n\nNot measured yet: `make bench`.\n',
    'gpu': ('## GPU: `@cupy:0`\n\n**GPU measurement pending: no GPU in this '
            'session.**  Run `make bench DEVICE=@cupy:0` on a GPU machine '
            '(on the project\'s: `make gpu-bundle && bash '
            'tools/gpu_check.sh`); it fills this part (iteration times, '
            'pool peaks, and the measured VRAM table).\n'),
}


def write_markdown(path, kind, body):
    """Replaces this device kind's generated part; keeps everything else."""
    path = Path(path)
    text = path.read_text() if path.exists() else (
        '# Performance\n\n' + ''.join(
            f"{MARK.format(kind=k, edge='begin')}\n{PLACEHOLDER[k]}"
            f"{MARK.format(kind=k, edge='end')}\n\n" for k in ('cpu', 'gpu')))
    begin, end = MARK.format(kind=kind, edge='begin'), MARK.format(
        kind=kind, edge='end')
    block = f'{begin}\n{body}{end}'
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + '\n\n' + block + '\n'
    path.write_text(text)


if __name__ == '__main__':
    sys.exit(main())
