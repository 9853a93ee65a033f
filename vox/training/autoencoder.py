"""The AutoEncoder recipe (bc7db4a2), read top to bottom as Chainer's
examples/dcgan/train_dcgan.py: model and loss, optimizer, iterators,
updater, Trainer, then every extension of the run.  The numbers come from
the experiment's config.yaml.  What every run shares around this (run
folder, lock, provenance, seeding, resume) is
``vox.runs.runner.train_in_run_folder``.

Loss: mean squared error between the raw input magnitude ``(B, 1, T, 256)``
and the reconstruction (the blog's "mean squared error"), averaged over
every element.  Reported as ``main/mse`` (training) and, through the
Evaluator on the fixed validation crops, ``validation/main/mse``.
"""
import chainer
import chainer.functions as F
from chainer import training
from chainer.training import extensions

from vox.base.npz import save_npz
from vox.extensions.guards import (GracefulStop, NonFiniteGuard,
                                   RandomStates, RememberingConverter)
from vox.extensions.samples import (SampleWriter, autoencoder_transform,
                                    sample_crops)
from vox.links.autoencoder import AutoEncoder
from vox.training.common import (ModelLoss, PlotReport, announce_snapshot,
                                 check_optimizer, every_or_end, pick_model,
                                 progress_bar)
from vox.training.curves import style_axes

#: Validation crops written as samples (spectrograms + audio) each time.
SAMPLE_CROPS = 4


class AutoEncoderLoss(ModelLoss):
    """MSE of the reconstruction; the labels are accepted and ignored."""

    LINK = 'autoencoder'

    def forward(self, x, speaker=None, birthplace=None, sex=None):
        y = self.autoencoder(x)
        mse = F.mean_squared_error(y, x)
        chainer.report({'mse': mse}, self)
        return mse


PLOTS = {'mse.png': ['main/mse', 'validation/main/mse']}

PRINT_KEYS = ['main/mse', 'validation/main/mse']

#: ``model.name`` -> the class it builds.
MODELS = {'autoencoder': AutoEncoder}

SNAPSHOT_PATHS = {'autoencoder': 'updater/model:main/autoencoder/'}


def build_models(config, n_classes=None):
    """``{'autoencoder': AutoEncoder}``; the labels play no part (also how
    a trained run is rebuilt: vox/training/store.py)."""
    cls = pick_model(MODELS, config.model, 'model')
    return {'autoencoder': cls(width=config.model.width)}


def build_trainer(config, data, run_dir, device):
    """The whole AutoEncoder run in ``run_dir``, ready for
    ``trainer.run()``."""
    train, report = config.train, config.report

    # Model and loss as one Chain, so the Evaluator computes validation
    # figures with the same forward.
    autoencoder = build_models(config, data.labels.n_classes)['autoencoder']
    model = AutoEncoderLoss(autoencoder)
    model.to_device(device)

    # Optimizer: RMSprop, every setting from train:.
    check_optimizer(train)
    optimizer = chainer.optimizers.RMSprop(lr=train.lr, alpha=train.alpha,
                                           eps=train.eps)
    optimizer.setup(model)

    # Iterators: the training crops shuffled by data.order_rng (seeded, in
    # the snapshot through RandomStates); the fixed validation crops.
    train_iter = chainer.iterators.SerialIterator(
        data.train, train.batch_size,
        order_sampler=chainer.iterators.ShuffleOrderSampler(data.order_rng))
    val_iter = chainer.iterators.SerialIterator(
        data.validation, train.batch_size, repeat=False, shuffle=False)

    # Updater: one step of the loss; its converter keeps the last batch
    # for NonFiniteGuard.
    converter = RememberingConverter(chainer.dataset.concat_examples)
    updater = training.StandardUpdater(train_iter, optimizer,
                                       converter=converter, device=device)

    trainer = training.Trainer(updater, (train.epochs, 'epoch'),
                               out=str(run_dir))

    # Every extension of the run, in the order they are added.
    log_trigger = tuple(report.log_every)
    snapshot_trigger = every_or_end(report.snapshot_every, train.epochs)
    trainer.extend(extensions.Evaluator(val_iter, model, device=device),
                   trigger=log_trigger)
    if train.lr_decay is not None:
        trainer.extend(
            extensions.ExponentialShift('lr', train.lr_decay.factor,
                                        optimizer=optimizer),
            trigger=(train.lr_decay.every_epochs, 'epoch'),
            name='lr_decay_main')
    # Samples (spectrogram PNGs, input / copy-synthesis / output WAVs) of
    # fixed validation crops every report.samples_every and at the end
    # (none when samples_every is null).
    if report.samples_every is not None:
        trainer.extend(
            SampleWriter(sample_crops(data.validation, SAMPLE_CROPS),
                         autoencoder_transform(autoencoder), device=device),
            trigger=every_or_end(report.samples_every, train.epochs))
    # The log, its plots (styled: vox/training/curves.py) and the console.
    trainer.extend(extensions.LogReport(trigger=log_trigger))
    for filename, keys in PLOTS.items():
        trainer.extend(PlotReport(
            keys, x_key=log_trigger[1], filename=filename,
            trigger=log_trigger, postprocess=style_axes))
    trainer.extend(extensions.PrintReport(
        [log_trigger[1], 'iteration'] + PRINT_KEYS + ['elapsed_time']),
        trigger=log_trigger)
    if report.progress_bar:  # a bar on a terminal, lines in a log
        trainer.extend(progress_bar(trainer))
    # Snapshots.  No autoload: the run loads the snapshot to resume from
    # before trainer.run (vox/runs/runner.py says why).
    trainer.extend(
        extensions.snapshot(filename='snapshot_iter_{.updater.iteration}',
                            n_retains=report.snapshots_kept,
                            savefun=save_npz),
        trigger=snapshot_trigger, name='snapshot')
    trainer.extend(announce_snapshot, trigger=snapshot_trigger)
    # Guards: a NaN/inf stops the run before it is snapshotted (the batch
    # is saved); the crop and order generators go into every snapshot;
    # Ctrl-C or SIGTERM snapshots and stops.
    trainer.extend(NonFiniteGuard(converter))
    trainer.extend(RandomStates({'crops': data.train.rng,
                                 'order': data.order_rng}))
    trainer.extend(GracefulStop(extensions.snapshot(
        filename='snapshot_iter_{.updater.iteration}',
        n_retains=report.snapshots_kept, savefun=save_npz)))
    return trainer
