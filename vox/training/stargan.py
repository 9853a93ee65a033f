"""The StarGAN recipe (54314b33, cfcefd21), read top to bottom as Chainer's
examples/dcgan/train_dcgan.py: models, optimizers, iterators, updater,
Trainer, then every extension of the run.  The numbers come from the
experiment's config.yaml; the losses and the critic schedule are the
updater's (vox/updaters/stargan.py).  What every run shares around this
(run folder, lock, provenance, seeding, resume) is
``vox.runs.runner.train_in_run_folder``.
"""
import chainer
from chainer import training
from chainer.training import extensions

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.base.npz import save_npz
from vox.extensions.conversion_samples import ConversionSamples
from vox.extensions.guards import (GracefulStop, NonFiniteGuard,
                                   RandomStates, RememberingConverter)
from vox.extensions.quality_curve import add_quality_curve
from vox.inference.conversion import SpeakerTable
from vox.links.discriminators import ConvBNDiscriminator, ConvDiscriminator
from vox.links.generators import ResNetGenerator, SkipGenerator
from vox.training.common import (PlotReport, WriteOnStart,
                                 announce_snapshot, check_optimizer,
                                 every_or_end, pick_model, progress_bar)
from vox.training.curves import style_axes
from vox.training.judge import load_judge
from vox.updaters.stargan import StarGANUpdater

GENERATORS = {
    'skip_generator': SkipGenerator,         # 54314b33
    'resnet_generator': ResNetGenerator,     # cfcefd21
}
DISCRIMINATORS = {
    'conv_bn_discriminator': ConvBNDiscriminator,   # 54314b33
    'conv_discriminator': ConvDiscriminator,        # cfcefd21
}

SNAPSHOT_PATHS = {'generator': 'updater/model:gen/',
                  'discriminator': 'updater/model:dis/'}


def _both(*keys):
    """Training and validation keys, in that order."""
    return list(keys) + [f'validation/{k}' for k in keys]


# PNG -> log keys, grouped as one looks at a StarGAN, at most six keys
# (each with its validation twin, dashed) per figure: the critic's terms,
# the gradient penalty alone (it spans decades: log scale), what the
# generator gets from the critic, its reconstruction-type terms, and per
# label group the two classification terms and the two accuracies.
# Every reported term is in at least one plot, for training and validation.
PLOTS = {
    'critic.png': _both('dis/loss_adv', 'dis/loss_cls', 'dis/loss'),
    'critic_gradient_penalty.png': _both('dis/loss_gp'),
    'generator_adversarial.png': _both('gen/loss_adv', 'gen/loss_cls',
                                       'gen/loss'),
    'generator_reconstruction.png': _both('gen/loss_rec', 'gen/loss_id',
                                          'gen/loss_fm'),
    **{f'classification_{g}.png': _both(f'dis/loss_cls_{g}',
                                        f'gen/loss_cls_{g}')
       for g in GROUPS},
    **{f'accuracy_{g}.png': _both(f'dis/acc_{g}', f'gen/acc_{g}')
       for g in GROUPS},
}

PRINT_KEYS = ['dis/loss_adv', 'dis/loss_gp', 'gen/loss_rec', 'gen/loss_id',
              'dis/acc_speaker', 'gen/acc_sex', 'validation/gen/loss_rec']


def build_models(config, n_classes):
    """``{'generator': G, 'discriminator': D}`` as the config names them
    (also how a trained run is rebuilt: vox/training/store.py)."""
    gen = pick_model(GENERATORS, config.generator, 'generator')(
        n_classes, width=config.generator.width)
    dis = pick_model(DISCRIMINATORS, config.discriminator, 'discriminator')(
        n_classes, width=config.discriminator.width)
    return {'generator': gen, 'discriminator': dis}


def check_crop_frames(models, frames):
    gen, dis = models['generator'], models['discriminator']
    if frames % gen.frame_multiple or frames < dis.min_frames:
        raise VoxError(
            f'data.crop_frames={frames}: {type(gen).__name__} needs a '
            f'multiple of {gen.frame_multiple} and {type(dis).__name__} at '
            f'least {dis.min_frames} frames')


def build_trainer(config, data, run_dir, device):
    """The whole StarGAN run in ``run_dir``, ready for ``trainer.run()``."""
    train, report = config.train, config.report

    # Models: G(x, c) and D(x) -> (feature, adversarial map, class logits),
    # initialised from NumPy's global generator (seeded by the run).
    n_classes = data.labels.n_classes
    models = build_models(config, n_classes)
    check_crop_frames(models, config.data.crop_frames)
    gen, dis = models['generator'], models['discriminator']
    gen.to_device(device)
    dis.to_device(device)

    # Optimizers: RMSprop for each network, every setting from train:.
    check_optimizer(train)
    opt_gen = chainer.optimizers.RMSprop(lr=train.lr, alpha=train.alpha,
                                         eps=train.eps)
    opt_gen.setup(gen)
    opt_dis = chainer.optimizers.RMSprop(lr=train.lr, alpha=train.alpha,
                                         eps=train.eps)
    opt_dis.setup(dis)

    # Iterators: the training crops shuffled by data.order_rng (seeded, in
    # the snapshot through RandomStates); the fixed validation crops.
    train_iter = chainer.iterators.SerialIterator(
        data.train, train.batch_size,
        order_sampler=chainer.iterators.ShuffleOrderSampler(data.order_rng))
    val_iter = chainer.iterators.SerialIterator(
        data.validation, train.batch_size, repeat=False, shuffle=False)

    # Updater: D every iteration, G every n_critic-th (losses: in it).  Its
    # converter keeps the last batch for NonFiniteGuard.
    converter = RememberingConverter(chainer.dataset.concat_examples)
    updater = StarGANUpdater(
        train_iter, opt_gen, opt_dis, n_classes=n_classes,
        label_combinations=data.combinations, seed=config.seed,
        converter=converter, device=device, losses=config.losses)

    trainer = training.Trainer(updater, (train.epochs, 'epoch'),
                               out=str(run_dir))

    # Every extension of the run, in the order they are added.
    log_trigger = tuple(report.log_every)
    snapshot_trigger = every_or_end(report.snapshot_every, train.epochs)
    # Validation: every loss term on the validation crops.
    trainer.extend(extensions.Evaluator(
        val_iter, {'gen': gen, 'dis': dis}, eval_func=updater.forward,
        device=device), trigger=log_trigger)
    # cfcefd21's "lr x 10^-0.5 every 100 epochs" (none in 54314b33).
    if train.lr_decay is not None:
        for name, opt in (('gen', opt_gen), ('dis', opt_dis)):
            trainer.extend(
                extensions.ExponentialShift('lr', train.lr_decay.factor,
                                            optimizer=opt),
                trigger=(train.lr_decay.every_epochs, 'epoch'),
                name=f'lr_decay_{name}')
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
    # vox run --judge: an e19098ab run scores the conversions at every
    # snapshot (judge accuracy and content kept, quality.png).
    if report.judge is not None:
        add_quality_curve(trainer, gen, *load_judge(report.judge, device),
                          config, data, device, snapshot_trigger)
    # speakers.json (the speakers' names -> label codes) for vox convert;
    # converted validation crops (PNG + WAV), at the end too; null: none.
    table = SpeakerTable.from_data(data)
    trainer.extend(WriteOnStart(table.save, name='speakers_json'))
    if report.samples_every is not None:
        trainer.extend(
            ConversionSamples.from_dataset(gen, data.validation, table,
                                           device=device),
            trigger=every_or_end(report.samples_every, train.epochs))
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
