"""The e19098ab run that judges a StarGAN run while it trains
(``vox run --judge``, vox.extensions.quality_curve).

Read here rather than through vox.training.store, which reaches every
trainer module (this one's importer among them) through the registry:
the judge is always a classifier, so this module needs only that one.
"""
import dataclasses
import json
import zipfile
from pathlib import Path

import chainer

from vox.base import snapshot_name
from vox.base.errors import VoxError
from vox.config import load_yaml, ExperimentConfig, from_dict
from vox.data.dataset import LabelSpace
from vox.training import classifier

@dataclasses.dataclass
class JudgeRun:
    path: Path
    config: ExperimentConfig
    labels: LabelSpace


def load_judge(run_dir, device=None):
    """(JudgeRun, classifier link with its newest snapshot's weights)."""
    path = Path(run_dir)
    try:
        raw = load_yaml(path / 'config.yaml') or {}
        with open(path / 'labels.json') as f:
            labels = LabelSpace(json.load(f))
    except (OSError, ValueError, VoxError) as e:
        raise VoxError(f'--judge {path}: not a finished vox run folder '
                       f'({e}); give results/e19098ab/<run>') from None
    raw.pop('corpus', None)  # run facts written beside the config
    config = from_dict(ExperimentConfig, raw, str(path / 'config.yaml'))
    if config.kind != 'classifier':
        raise VoxError(f'--judge {path}: a {config.kind} run; give an '
                       f'e19098ab (classifier) run folder')
    found = sorted((int(m.group(1)), p)
                   for p in path.glob(snapshot_name.GLOB)
                   for m in [snapshot_name.PATTERN.search(p.name)] if m)
    if not found:
        raise VoxError(f'--judge {path}: no snapshot yet; train it longer')
    link = classifier.build_models(config, labels.n_classes)['classifier']
    try:
        chainer.serializers.load_npz(str(found[-1][1]), link,
                                     path=classifier.SNAPSHOT_PATHS[
                                         'classifier'])
    except (KeyError, ValueError, OSError, EOFError,
            zipfile.BadZipFile) as e:
        raise VoxError(f'--judge {found[-1][1]}: unreadable ({e})') from None
    if device is not None:
        link.to_device(device)
    return JudgeRun(path, config, labels), link
