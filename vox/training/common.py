"""Pieces every experiment's trainer shares: optimizer, schedule, reports."""
import sys
import warnings

import chainer
import matplotlib
from chainer import training
from chainer.training import extensions

matplotlib.use('Agg')  # PlotReport on machines without a display

from vox.base.npz import save_npz  # noqa: E402
from vox.base.errors import VoxError  # noqa: E402
from vox.base.progress import LineProgress, is_terminal  # noqa: E402
from vox.training import distributed  # noqa: E402
from vox.training.curves import style_axes  # noqa: E402


class ModelLoss(chainer.Chain):
    """A model and its loss as one Chain (the classifier's, the AE's).

    The same ``forward`` serves training and the Evaluator, so training and
    validation figures are computed the same way.  The model is the child
    named ``LINK``, which is part of its path in a snapshot.
    """

    LINK = None

    def __init__(self, model):
        super().__init__()
        with self.init_scope():
            setattr(self, self.LINK, model)


def pick_model(table, section, what):
    """The class ``table[section.name]`` (``section``: a ModelConfig); an
    unknown name is a VoxError listing the known ones."""
    if section.name not in table:
        raise VoxError(f"{what}.name: unknown {what} {section.name!r}; "
                       f"known: {', '.join(sorted(table))}")
    return table[section.name]


def make_optimizer(train, link):
    if train.optimizer != 'RMSprop':
        raise VoxError(f"train.optimizer: only 'RMSprop' (the blog's) is "
                       f"implemented, got {train.optimizer!r}")
    opt = chainer.optimizers.RMSprop(lr=train.lr, alpha=train.alpha,
                                     eps=train.eps)
    opt.setup(link)
    return opt


def add_lr_decay(trainer, train, optimizers):
    """cfcefd21's "lr x 10^-0.5 every 100 epochs" as ExponentialShift."""
    if train.lr_decay is None:
        return
    for name, opt in optimizers.items():
        trainer.extend(
            extensions.ExponentialShift('lr', train.lr_decay.factor,
                                        optimizer=opt),
            trigger=(train.lr_decay.every_epochs, 'epoch'),
            name=f'lr_decay_{name}')


def single_model_trainer(config, data, run_dir, device, model):
    """Trainer for one loss chain and one optimizer (classifier, AE).

    The training order is shuffled by ``data.order_rng`` (seeded, in the
    snapshot through RandomStates), validation is the fixed crops in order
    through an Evaluator calling the same ``model.forward``, and the lr
    schedule, if any, is attached.  Reports are the caller's.  In a
    distributed run the model, optimizer, iterators and evaluator are
    ChainerMN's (vox/training/distributed.py); ``model`` is then replaced
    by its multi-node copy, returned as ``trainer.updater``'s target.
    """
    parallel = distributed.current()
    model = parallel.model(model)
    model.to_device(device)
    optimizer = parallel.optimizer(make_optimizer(config.train, model))
    train_iter = parallel.train_iterator(
        data.train, config.train.batch_size, data.order_rng)
    val_iter = parallel.validation_iterator(
        data.validation, config.train.batch_size)
    updater = training.StandardUpdater(train_iter, optimizer, device=device)
    trainer = training.Trainer(updater, (config.train.epochs, 'epoch'),
                               out=str(run_dir))
    trainer.extend(parallel.evaluator(
        extensions.Evaluator(val_iter, model, device=device)),
        trigger=tuple(config.report.log_every))
    parallel.extend(trainer)
    add_lr_decay(trainer, config.train, {'main': optimizer})
    return trainer


class PlotReport(extensions.PlotReport):
    """Chainer's PlotReport, made exactly resumable (issue 8).

    Chainer 7.8.1's PlotReport saves only its plotted points.  Its own
    interval trigger is not saved, so after a resume it starts from
    ``previous_epoch_detail = 0`` and fires at the first iteration: the
    plots get an extra point and the next point averages only part of its
    interval.  Nor are the running sums of the interval under way saved, so
    a resume mid-interval (Ctrl-C) loses the iterations before it.  Both
    are saved here, as LogReport saves its own.  The name stays
    ``PlotReport`` so snapshot keys are Chainer's; a snapshot written
    before this fix still loads, quietly (the trigger then guesses from the
    updater, which is right for a report called every iteration, and the
    interval under way starts afresh).  A snapshot without this figure at
    all (written when the plots were grouped otherwise) loads too: the
    figure starts at the resume point.
    """

    name = 'PlotReport'

    def serialize(self, serializer):
        try:
            super().serialize(serializer)
        except KeyError:
            if not isinstance(serializer, chainer.serializer.Deserializer):
                raise
            # A snapshot from before this figure existed (issue 19
            # regrouped the StarGAN's figures): it starts empty at the
            # resume point; the LogReport log keeps every point.
            pass
        with warnings.catch_warnings():
            # Chainer warns, per plot, when loading a snapshot without
            # these keys (one from before this fix); both cases are handled.
            warnings.filterwarnings('ignore', message='The previous value',
                                    category=UserWarning)
            warnings.filterwarnings('ignore', message='The names of stat',
                                    category=UserWarning)
            if hasattr(self._trigger, 'serialize'):
                self._trigger.serialize(serializer['_trigger'])
            self._summary.serialize(serializer['_summary'])


def progress_bar(trainer, stream=None, clock=None):
    """Chainer's ProgressBar on a terminal; in a log (a file, a pipe) a
    line at most every 10 s and the last one (vox.base.progress), since
    every redraw of the bar would be four lines of log text."""
    stream = stream or sys.stdout
    if is_terminal(stream):
        return extensions.ProgressBar(update_interval=1, out=stream)
    length, unit = trainer.stop_trigger.get_training_length()
    line = LineProgress('vox: training iteration', stream, clock)

    @training.make_extension(trigger=(1, 'iteration'), priority=-100)
    def log_progress(trainer):
        updater = trainer.updater
        if unit == 'epoch':
            line.update(updater.iteration, updater.epoch_detail / length,
                        f' (epoch {updater.epoch}/{length})')
        else:
            line.update(updater.iteration, updater.iteration / length,
                        f'/{length}')
    return log_progress


def add_reports(trainer, config, plots, print_keys):
    """LogReport, PlotReports, PrintReport, ProgressBar and snapshots.

    ``plots`` maps a PNG file name to the log keys drawn in it; each
    PlotReport is styled by ``vox.training.curves.style_axes`` (one colour
    per key, validation dashed in it, log scale for terms spanning decades).
    Only the writing rank of a distributed run gets them (the others write
    nothing).
    """
    if not distributed.current().is_writer:
        return
    report = config.report
    log_trigger = tuple(report.log_every)
    trainer.extend(extensions.LogReport(trigger=log_trigger))
    for filename, keys in plots.items():
        trainer.extend(PlotReport(
            keys, x_key=log_trigger[1], filename=filename,
            trigger=log_trigger, postprocess=style_axes))
    trainer.extend(extensions.PrintReport(
        [log_trigger[1], 'iteration'] + print_keys + ['elapsed_time']),
        trigger=log_trigger)
    if report.progress_bar:
        trainer.extend(progress_bar(trainer))
    snapshot_trigger = every_or_end(report.snapshot_every,
                                    config.train.epochs)
    # No autoload: the run loop loads the snapshot to resume from itself,
    # before trainer.run (vox/runs/runner.py says why).
    trainer.extend(
        extensions.snapshot(filename='snapshot_iter_{.updater.iteration}',
                            n_retains=report.snapshots_kept,
                            savefun=save_npz),
        trigger=snapshot_trigger, name='snapshot')

    @training.make_extension(priority=-200)  # right after the snapshot
    def announce_snapshot(trainer):
        print(f'vox: wrote snapshot_iter_{trainer.updater.iteration}',
              flush=True)
    trainer.extend(announce_snapshot, trigger=snapshot_trigger)
    # NaN/inf handling: the runner attaches NonFiniteGuard
    # (vox/extensions/guards.py), FailOnNonNumber's check plus a diagnosis.


def every_or_end(interval, end_epochs):
    """Fires every ``interval`` ([n, 'epoch'|'iteration']) and at the end.

    A plain interval trigger would leave the last epochs unsnapshotted when
    the schedule is not a multiple of the interval.
    """
    n, unit = interval

    def trigger(trainer):
        u = trainer.updater
        if u.is_new_epoch and u.epoch >= end_epochs:
            return True
        if unit == 'epoch':
            return u.is_new_epoch and u.epoch % n == 0
        return u.iteration % n == 0
    return trigger
