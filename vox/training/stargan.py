"""54314b33 and cfcefd21: StarGAN models and trainer.

The models are chosen by name in the YAML (``generator.name``,
``discriminator.name``, see :data:`GENERATORS` / :data:`DISCRIMINATORS`),
the loss weights come from ``losses:`` (:class:`vox.config.StarGANLosses`)
and the step is :class:`vox.updaters.stargan.StarGANUpdater`.

What uses a trained generator (conversion samples, ``vox convert``,
``vox evaluate``) lives in :mod:`vox.inference.conversion`.
"""
import chainer
from chainer import training
from chainer.training import extensions

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.extensions.conversion_samples import ConversionSamples
from vox.extensions.quality_curve import add_quality_curve
from vox.inference.conversion import SpeakerTable
from vox.links.discriminators import ConvBNDiscriminator, ConvDiscriminator
from vox.links.generators import ResNetGenerator, SkipGenerator
from vox.training import distributed
from vox.training.common import (add_lr_decay, add_reports, every_or_end,
                                 make_optimizer, pick_model)
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
    parallel = distributed.current()
    n_classes = data.labels.n_classes
    models = build_models(config, n_classes)
    check_crop_frames(models, config.data.crop_frames)
    gen = parallel.model(models['generator'])
    dis = parallel.model(models['discriminator'])
    gen.to_device(device)
    dis.to_device(device)
    opt_gen = parallel.optimizer(make_optimizer(config.train, gen))
    opt_dis = parallel.optimizer(make_optimizer(config.train, dis))
    batch = config.train.batch_size
    train_iter = parallel.train_iterator(data.train, batch, data.order_rng)
    val_iter = parallel.validation_iterator(data.validation, batch)
    updater = StarGANUpdater(
        train_iter, opt_gen, opt_dis, n_classes=n_classes,
        label_combinations=data.combinations, seed=config.seed,
        device=device, losses=config.losses)
    if parallel.size > 1:
        updater.batch_mean = parallel.batch_mean
    trainer = training.Trainer(updater, (config.train.epochs, 'epoch'),
                               out=str(run_dir))

    def evaluate(*batch):  # the share is the batch's (distributed runs)
        return updater.forward(*batch, share=getattr(val_iter, 'share',
                                                     None))
    trainer.extend(parallel.evaluator(extensions.Evaluator(
        val_iter, {'gen': gen, 'dis': dis}, eval_func=evaluate,
        device=device)), trigger=tuple(config.report.log_every))
    parallel.extend(trainer)
    add_lr_decay(trainer, config.train, {'gen': opt_gen, 'dis': opt_dis})
    add_reports(trainer, config, PLOTS, PRINT_KEYS)

    if not parallel.is_writer:
        return trainer
    if config.report.judge is not None:  # vox run --judge: quality curves
        add_quality_curve(trainer, gen, *load_judge(config.report.judge,
                                                    device),
                          config, data, device, every_or_end(
                              config.report.snapshot_every,
                              config.train.epochs))
    table = SpeakerTable.from_data(data)
    table.save(run_dir)
    if config.report.samples_every is not None:  # null: no samples
        trainer.extend(
            ConversionSamples.from_dataset(gen, data.validation, table,
                                           device=device),
            trigger=every_or_end(config.report.samples_every,
                                 config.train.epochs))
    return trainer
