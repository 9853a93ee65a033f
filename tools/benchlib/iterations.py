"""Step time, throughput and memory of one experiment at its faithful size
(``tools/bench.py --child ID`` runs it in a process of its own, so its peak
host memory is its own).

The Trainer is the one the experiment's recipe builds
(``build_trainer``, every extension of a run included), run for a few
iterations under a timer; an iteration is everything between two
iterations (next batch, converter, forward, backward, optimizer update,
the per-iteration extensions).  Iterations that end an epoch (validation,
logs, plots) are left out and the validation is timed on its own.
"""
import statistics
import tempfile
import time
from pathlib import Path

from vox import compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import numpy as np

from benchlib import perf
from benchlib.flops import count_flops, mean_over_schedule
from vox.base.device import get_device
from vox.base.labels import BLOG_N_CLASSES, GROUPS
from vox.config import load_config
from vox.data.dataset import LabelSpace
from vox.data.sources import load_data
from vox.runs import runner
from vox.training.registry import trainer_module

#: A run that never gets its timed iterations stops here.
MAX_ITERATIONS = 400


def pad_labels(data, n_classes):
    """Gives the label space at least ``n_classes`` classes per group, so
    the models are built with the blog's head sizes (1421 / 53 / 2) while
    the crops come from the corpus (their labels are valid indices)."""
    names = {}
    for group, n in zip(GROUPS, n_classes):
        have = list(data.labels.names[group])
        names[group] = have + [f'~blog-{group}-{i:04d}'
                               for i in range(max(0, n - len(have)))]
    data.labels = LabelSpace(names)


def _iteration_timer(device, updater, stargan, warmup, iters, gen_iters):
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
        flops = count_flops(trainer, timer.need,
                            n_critic if stargan else None)
        out['flops'] = flops
        out['flops_per_iteration'] = mean_over_schedule(
            flops, n_critic if stargan else None)
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

