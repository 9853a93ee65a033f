"""Experiment kind -> its recipe, the module that builds its Trainer.

Each recipe exposes ``build_trainer(config, data, run_dir, device)``,
``build_models(config, n_classes) -> {name: link}`` and ``SNAPSHOT_PATHS``
(``{name: prefix of that link in a Trainer snapshot}``; see
vox/training/store.py).
"""
from vox.base.errors import VoxError
from vox.training import autoencoder, classifier, stargan

TRAINERS = {
    'classifier': classifier,
    'autoencoder': autoencoder,
    'stargan': stargan,
}


def trainer_module(kind, where=''):
    """The module of experiment kind ``kind``; unknown kinds: VoxError."""
    if kind not in TRAINERS:
        raise VoxError(f'{where}{": " if where else ""}unknown experiment '
                       f'kind {kind!r}; known: {", ".join(sorted(TRAINERS))}')
    return TRAINERS[kind]
