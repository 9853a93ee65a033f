"""e19098ab: the classifier's loss, reports and trainer."""
import chainer
import chainer.functions as F

from vox.base.labels import GROUPS
from vox.links.classifier import Classifier
from vox.training.common import (ModelLoss, add_reports, pick_model,
                                 single_model_trainer)


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


#: ``model.name`` -> the class it builds.
MODELS = {'classifier': Classifier}

SNAPSHOT_PATHS = {'classifier': 'updater/model:main/classifier/'}


def build_models(config, n_classes):
    cls = pick_model(MODELS, config.model, 'model')
    return {'classifier': cls(n_classes, width=config.model.width)}


def build_trainer(config, data, run_dir, device):
    model = ClassifierLoss(
        build_models(config, data.labels.n_classes)['classifier'])
    trainer = single_model_trainer(config, data, run_dir, device, model)
    add_reports(trainer, config, PLOTS, [
        'main/loss', 'validation/main/loss', 'validation/main/acc_speaker',
        'validation/main/acc_birthplace', 'validation/main/acc_sex'])
    return trainer
