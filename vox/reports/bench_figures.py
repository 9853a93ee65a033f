"""Bench figures a finding may name (``measure: {source: bench, ...}``),
measured on the run's own models at its own width, so they hold on any
device.

* ``activation_ratio_quarter``: the bytes one StarGAN training step keeps
  for backward (vox.base.perf.saved_activation_bytes: the generator's
  output through the critic, at the run's minibatch) at the run's crop,
  divided by the same at four times that crop: what cutting the time
  axis to a quarter saves.
"""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import chainer.functions as F
import numpy as np

from vox.base.perf import saved_activation_bytes
from vox.training.store import load_run


def _flat(out):
    if isinstance(out, (list, tuple)):
        for h in out:
            yield from _flat(h)
    else:
        yield out


def step_activation_bytes(models, n_classes, batch, frames):
    gen, dis = models['generator'], models['discriminator']
    x = np.random.RandomState(0).uniform(
        0, 1, (batch, 1, frames, 256)).astype(np.float32)
    c = np.zeros((batch, sum(n_classes)), np.float32)
    c[:, 0] = 1
    with chainer.using_config('train', True):
        loss = sum(F.sum(h) for h in _flat(dis(gen(x, c))))
    return saved_activation_bytes(loss, exclude=(gen, dis))


def activation_ratio_quarter(run_dir):
    run = load_run(run_dir)
    if run.config.kind != 'stargan':
        return None, None, f'{run.config.kind} run: no StarGAN step to measure'
    n = run.labels.n_classes
    models = run.trainer_module.build_models(run.config, n)
    batch = run.config.train.batch_size
    frames = run.config.data.crop_frames
    short = step_activation_bytes(models, n, batch, frames)
    full = step_activation_bytes(models, n, batch, 4 * frames)
    ratio = short / full
    return ratio, (f'{short / 2 ** 20:.1f} MiB at {frames} frames, '
                   f'{full / 2 ** 20:.1f} MiB at {4 * frames} (minibatch '
                   f'{batch}): ratio {ratio:.3f}'), None


MEASURES = {'activation_ratio_quarter': activation_ratio_quarter}


def measure(run_dir, key):
    """(value, words, missing reason) of bench figure ``key``."""
    try:
        return MEASURES[key](run_dir)
    except (OSError, ValueError) as e:
        return None, None, f'cannot build the models of {run_dir}: {e}'
