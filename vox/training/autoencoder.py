"""bc7db4a2: the AutoEncoder's loss, reports, samples and trainer.

Loss: mean squared error between the raw input magnitude ``(B, 1, T, 256)``
and the reconstruction (the blog's "mean squared error"), averaged over
every element.  Reported as ``main/mse`` (training) and, through the
Evaluator on the fixed validation crops, ``validation/main/mse``.
"""
import chainer
import chainer.functions as F

from vox.extensions.samples import (SampleWriter, autoencoder_transform,
                                    sample_crops)
from vox.links.autoencoder import AutoEncoder
from vox.training import distributed
from vox.training.common import (ModelLoss, add_reports, every_or_end,
                                 pick_model, single_model_trainer)

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

#: ``model.name`` -> the class it builds.
MODELS = {'autoencoder': AutoEncoder}

SNAPSHOT_PATHS = {'autoencoder': 'updater/model:main/autoencoder/'}


def build_models(config, n_classes=None):
    """``{'autoencoder': AutoEncoder}``; the labels play no part."""
    cls = pick_model(MODELS, config.model, 'model')
    return {'autoencoder': cls(width=config.model.width)}


def build_trainer(config, data, run_dir, device):
    autoencoder = build_models(config, data.labels.n_classes)['autoencoder']
    model = AutoEncoderLoss(autoencoder)
    trainer = single_model_trainer(config, data, run_dir, device, model)
    autoencoder = trainer.updater.get_optimizer('main').target.autoencoder
    writer = distributed.current().is_writer
    # Samples (spectrogram PNGs, input / copy-synthesis / output WAVs) of
    # fixed validation crops every report.samples_every and at the end
    # (none when samples_every is null).
    if writer and config.report.samples_every is not None:
        trainer.extend(
            SampleWriter(sample_crops(data.validation, SAMPLE_CROPS),
                         autoencoder_transform(autoencoder), device=device),
            trigger=every_or_end(config.report.samples_every,
                                 config.train.epochs))
    add_reports(trainer, config, PLOTS,
                ['main/mse', 'validation/main/mse'])
    return trainer
