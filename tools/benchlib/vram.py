"""The VRAM argument of 54314b33 / cfcefd21: peak memory of a critic-only
and a critic+generator iteration at a few minibatches, and the largest
minibatch within the blog's card (``tools/bench.py --child-vram ID``).
On a GPU measured (CuPy's pool, searched under a pool limit); on the CPU
an estimate, labelled as one."""
import gc
import tempfile
import tracemalloc
from pathlib import Path

from vox import compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import numpy as np

from benchlib import perf
from benchlib.iterations import pad_labels
from benchlib.perf import MIB
from vox.base.device import get_device
from vox.base.labels import BLOG_N_CLASSES
from vox.config import load_config
from vox.data.sources import load_data
from vox.runs import runner
from vox.training import stargan

#: (experiment, frames): the blog's two StarGANs at their own lengths, and
#: cfcefd21's models at 54314b33's 256 frames (the time axis alone).
VRAM_CASES = (('54314b33', None), ('cfcefd21', None), ('cfcefd21', 256))
BLOG_VRAM_MIB = 3017


def _synthetic_batches(frames, n, seed=0):
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
    config = load_config(exp_id)
    frames = frames or config.data.crop_frames
    config.data.crop_frames = frames  # the recipe checks the models take it
    device = get_device(args.device)
    gpu = device.xp is not np
    pool = perf.PoolPeak() if gpu else None
    # Corpus crops and labels only for building the recipe's Trainer (the
    # trials feed synthetic minibatches of exactly their size); loaded
    # before tracemalloc starts, so the CPU proxy does not count them.
    data = load_data(config.data, config.seed, args.corpus)
    pad_labels(data, BLOG_N_CLASSES)
    if not gpu:
        tracemalloc.start()
    runner.seed_everything(config.seed, device)
    tmp = tempfile.TemporaryDirectory(prefix='vox-bench-vram-')
    # The recipe's models, RMSprop optimizers and StarGANUpdater.
    updater = stargan.build_trainer(config, data, Path(tmp.name),
                                    device).updater
    gen, dis = updater.gen, updater.dis
    n_critic = config.losses.n_critic
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
        # This trial's minibatches through the recipe's updater: Chainer's
        # StandardUpdater has no setter for its iterators.
        updater._iterators['main'] = it
        saved.clear()
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
            del it, data
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
        del it, data
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
    tmp.cleanup()
    return out
