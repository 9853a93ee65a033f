"""Reading a finished (or running) run folder back: config, labels, models.

Each trainer module in ``vox/training/`` exposes
``build_models(config, n_classes) -> {name: link}`` and
``SNAPSHOT_PATHS = {name: 'updater/model:.../'}``, the prefix under which
the Trainer snapshot stores that link.  Commands that use a trained model
(reconstruct, convert, evaluate, blurmask targets) go through here.
"""
import dataclasses
import json
import re
import zipfile
from pathlib import Path

import chainer

from vox.base.files import read_text
from vox.base.labels import GROUPS
from vox.config import ExperimentConfig, from_dict, load_raw
from vox.data.dataset import LabelSpace
from vox.base.errors import VoxError
from vox.training.registry import trainer_module

SNAPSHOT_RE = re.compile(r'snapshot_iter_(\d+)$')


@dataclasses.dataclass
class Run:
    path: Path
    config: ExperimentConfig
    labels: LabelSpace

    @property
    def trainer_module(self):
        return trainer_module(self.config.kind, str(self.path))


def snapshots(run_dir):
    """Complete snapshots, oldest first (by iteration number)."""
    found = []
    for p in Path(run_dir).glob('snapshot_iter_*'):
        m = SNAPSHOT_RE.search(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def newest_snapshot(run_dir):
    found = snapshots(run_dir)
    if not found:
        raise VoxError(f'{run_dir}: no snapshot yet; train longer or give '
                       f'a run folder that has snapshot_iter_* files')
    return found[-1]


def load_run(run_dir):
    run_dir = Path(run_dir)
    if run_dir.is_file():  # a snapshot was given: its folder is the run
        run_dir = run_dir.parent
    cfg_file = run_dir / 'config.yaml'
    if not cfg_file.exists():
        raise VoxError(f'{run_dir}: not a vox run folder (no config.yaml); '
                       f'give results/<ID>/<run>')
    raw = load_raw(cfg_file)
    raw.pop('corpus', None)  # run facts written beside the config
    config = from_dict(ExperimentConfig, raw, str(cfg_file))
    return Run(run_dir, config, read_labels(run_dir / 'labels.json'))


def read_labels(path):
    """A run's labels.json: each label group -> its class names."""
    try:
        names = json.loads(read_text(path, limit=1 << 24))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        why = e.strerror if isinstance(e, OSError) else 'not JSON'
        raise VoxError(f'{path}: cannot read the run\'s labels ({why}); '
                       f'the run folder is incomplete: give a run that '
                       f'finished starting, or rerun it') from None
    if not (isinstance(names, dict) and all(
            isinstance(names.get(g), list) and names[g] and all(
                isinstance(n, str) for n in names[g]) for g in GROUPS)):
        raise VoxError(f'{path}: not a run\'s labels (a mapping of '
                       f'{", ".join(GROUPS)} to lists of class names); the '
                       f'run folder is damaged: rerun it')
    return LabelSpace(names)


def load_models(run_dir, snapshot=None, device=None,
                choose_older='give an older snapshot with --snapshot'):
    """(run, {name: link}) with weights from ``snapshot`` or the newest one;
    ``choose_older``: how the command's user picks another snapshot."""
    given = Path(run_dir)
    run = load_run(given)
    if snapshot is None:
        snapshot = given if given.is_file() else newest_snapshot(run.path)
    try:  # a snapshot cut by a crash has no zip directory at its end
        with open(snapshot, 'rb') as f:
            zipfile.ZipFile(f).close()
    except (OSError, zipfile.BadZipFile) as e:
        raise VoxError(f'{snapshot}: unreadable ({e}); '
                       f'{choose_older}') from None
    module = run.trainer_module
    models = module.build_models(run.config, run.labels.n_classes)
    for name, link in models.items():
        try:
            chainer.serializers.load_npz(
                str(snapshot), link, path=module.SNAPSHOT_PATHS[name])
        except (KeyError, ValueError) as e:
            raise VoxError(f'{snapshot}: does not hold the {name} of a '
                           f'{run.config.kind} run ({e})') from None
        except (OSError, EOFError, zipfile.BadZipFile) as e:  # cut by a crash
            raise VoxError(f'{snapshot}: unreadable ({e}); '
                           f'{choose_older}') from None
        if device is not None:
            link.to_device(device)
    return run, models
