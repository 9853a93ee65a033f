"""Pieces the recipes share that Chainer lacks: a model and its loss as one
Chain, a resumable PlotReport, a trigger that also fires at the end."""
import sys
import warnings

import chainer
import matplotlib
from chainer import training
from chainer.training import extensions

matplotlib.use('Agg')  # PlotReport on machines without a display

from vox.base.errors import VoxError  # noqa: E402
from vox.base.progress import LineProgress, is_terminal  # noqa: E402
from vox.base.snapshot_name import snapshot_name  # noqa: E402
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


class PlotReport(extensions.PlotReport):
    """Chainer's PlotReport, made exactly resumable.

    Chainer 7.8.1's PlotReport saves only its plotted points.  Its own
    interval trigger is not saved, so after a resume it starts from
    ``previous_epoch_detail = 0`` and fires at the first iteration: the
    plots get an extra point and the next point averages only part of its
    interval.  Nor are the running sums of the interval under way saved, so
    a resume mid-interval (Ctrl-C) loses the iterations before it.  Both
    are saved here, as LogReport saves its own.  The name stays
    ``PlotReport`` so snapshot keys are Chainer's; a snapshot of Chainer's
    own PlotReport (without these two) still loads, quietly (the trigger
    then guesses from the updater, which is right for a report called every
    iteration, and the interval under way starts afresh).  A snapshot
    without this figure at all (a run whose plots were grouped otherwise)
    loads too: the figure starts at the resume point.
    """

    name = 'PlotReport'

    def serialize(self, serializer):
        try:
            super().serialize(serializer)
        except KeyError:
            if not isinstance(serializer, chainer.serializer.Deserializer):
                raise
            # A snapshot without this figure (its plots grouped
            # otherwise): it starts empty at the resume point; the
            # LogReport log keeps every point.
            pass
        with warnings.catch_warnings():
            # Chainer warns, per plot, when loading a snapshot without
            # these keys (Chainer's own PlotReport); both cases are handled.
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


def check_optimizer(train):
    """RMSprop is the only optimizer the blog names (and vox builds)."""
    if train.optimizer != 'RMSprop':
        raise VoxError(f"train.optimizer: only 'RMSprop' (the blog's) is "
                       f"implemented, got {train.optimizer!r}")


@training.make_extension(priority=-200)  # right after the snapshot
def announce_snapshot(trainer):
    """Says on stdout that a snapshot was written (a test kills a run
    when it reads this line)."""
    print(f'vox: wrote {snapshot_name(trainer.updater.iteration)}',
          flush=True)


class WriteOnStart(training.Extension):
    """Writes a file of the run folder when training starts (or resumes),
    through ``write(run_dir)``: what the run's users need that no other
    extension writes.  An extension, so that in a distributed run only
    rank 0 writes it, as every extension that writes the folder."""

    @staticmethod
    def trigger(trainer):
        # Never: it writes in initialize.  A plain function, so the trigger
        # adds no state to the snapshot (older snapshots still load).
        return False

    def __init__(self, write, name):
        self.write = write
        self.name = name

    def initialize(self, trainer):
        self.write(trainer.out)

    def __call__(self, trainer):
        pass


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
