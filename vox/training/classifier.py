"""The classifier recipe (e19098ab), read top to bottom as Chainer's
examples/dcgan/train_dcgan.py: model and loss, optimizer, iterators,
updater, Trainer, then every extension of the run.  The numbers come from
the experiment's config.yaml.  What every run shares around this (run
folder, lock, provenance, seeding, resume) is
``vox.runs.runner.train_in_run_folder``.
"""
import chainer
import chainer.functions as F
from chainer import training
from chainer.training import extensions

from vox.base.labels import GROUPS
from vox.base.npz import save_npz
from vox.extensions.guards import (GracefulStop, NonFiniteGuard,
                                   RandomStates, RememberingConverter)
from vox.links.classifier import Classifier
from vox.training.common import (ModelLoss, PlotReport, announce_snapshot,
                                 check_optimizer, every_or_end, pick_model,
                                 progress_bar)
from vox.training.curves import style_axes


class ClassifierLoss(ModelLoss):
    """Sum of the three softmax cross entropies; reports each head."""

    LINK = 'classifier'

    def forward(self, x, speaker, birthplace, sex):
        logits = self.classifier(x)
        loss = 0
        report = {}
        for group, y, t in zip(GROUPS, logits, (speaker, birthplace, sex)):
            ce = F.softmax_cross_entropy(y, t)
            loss += ce
            report[f'loss_{group}'] = ce
            report[f'acc_{group}'] = F.accuracy(y, t)
        report['loss'] = loss
        chainer.report(report, self)
        return loss


PLOTS = {
    'cross_entropy.png': [f'{split}main/loss_{g}' for split in
                          ('', 'validation/') for g in GROUPS],
    'accuracy.png': [f'{split}main/acc_{g}' for split in
                     ('', 'validation/') for g in GROUPS],
}

PRINT_KEYS = ['main/loss', 'validation/main/loss',
              'validation/main/acc_speaker',
              'validation/main/acc_birthplace', 'validation/main/acc_sex']

#: ``model.name`` -> the class it builds.
MODELS = {'classifier': Classifier}

SNAPSHOT_PATHS = {'classifier': 'updater/model:main/classifier/'}


def build_models(config, n_classes):
    """``{'classifier': link}`` as the config names it (also how a trained
    run is rebuilt: vox/training/store.py)."""
    cls = pick_model(MODELS, config.model, 'model')
    return {'classifier': cls(n_classes, width=config.model.width)}


def build_trainer(config, data, run_dir, device):
    """The whole classifier run in ``run_dir``, ready for ``trainer.run()``."""
    train, report = config.train, config.report

    # Model and loss: the three heads' cross entropies as one Chain, so the
    # Evaluator computes validation figures with the same forward.
    model = ClassifierLoss(
        build_models(config, data.labels.n_classes)['classifier'])
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
