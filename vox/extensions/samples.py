"""Listenable, viewable samples written during training (every experiment).

Two layers, so that other experiments reuse the writing without the
AutoEncoder's specifics:

Writing helpers (plain functions, no Chainer):

* :func:`write_spectrogram_png` -- one PNG of one or more raw magnitudes
  ``(T, 256)`` through :func:`vox.data.plotting.save_spectrograms` (time on x,
  Hz on y, a dB colour bar; panels of one call share one dB scale).
* :func:`resynthesize` / :func:`write_griffin_lim_wav` -- a raw magnitude
  ``(T, 256)`` -> a 16 kHz wave / WAV through :func:`vox.data.audio.griffin_lim`
  (fixed seed and iteration count, so the same magnitude always gives the
  same file; silent edge frames so short crops do not click);
  :func:`resynthesize_many` -- the same for many magnitudes in one batched
  call (the same waves, bit for bit).
* :func:`write_sample` -- everything for one crop: the input's PNG, the
  original input audio (when known), the **copy-synthesis reference** (the
  input magnitude through the very Griffin-Lim the outputs go through) and,
  per model output, its PNG and WAV.  Comparing ``*_output.wav`` with
  ``*_input_copysynth.wav`` isolates the model's error from the resynthesis
  error (lost phase, 4-8 kHz band dropped), which ``*_input.wav`` (the
  original audio) contains on top.

File names, for crop name ``val00`` and output name ``output``::

    val00_input.png  val00_input.wav  val00_input_copysynth.wav
    val00_output.png val00_output.wav  val00.png (all panels side by side)

The Trainer extension :class:`SampleWriter` picks fixed crops of a dataset
(:func:`fixed_indices`), runs a ``transform`` on them in test mode
(``chainer.using_config('train', False)`` and ``no_backprop_mode``) and
calls :func:`write_sample` into ``<run>/samples/epoch_NNNN/``.  The
``transform`` is the experiment's part: it maps a batch of model inputs to
``{output name: raw magnitudes (B, T, 256)}`` -- the AutoEncoder's
reconstruction (:func:`autoencoder_transform`), a GAN's conversions to
chosen targets, and so on.
"""
import dataclasses
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

import chainer
from chainer.training import extension

from vox.data import audio
from vox.data.plotting import save_spectrograms, to_db

#: Griffin-Lim settings of every sample (and of ``vox reconstruct``).
GL_ITERATIONS = audio.GL_ITERATIONS
GL_SEED = audio.GL_SEED
#: Colour range of the PNGs: the input's peak down this many dB.
DB_SPAN = 80.0


# --------------------------------------------------------------------------
# Writing helpers (no Chainer): reuse these for any magnitude you produce.

def db_range_of(magnitudes, span=DB_SPAN):
    """One ``(vmin, vmax)`` dB range covering the loudest of ``magnitudes``."""
    top = max(float(to_db(m).max()) for m in magnitudes)
    return top - span, top


def write_spectrogram_png(path, panels, title=None, db_range=None):
    """``panels``: ``[(label, raw magnitude (T, 256)), ...]`` -> one PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_spectrograms(str(path), [(label, np.asarray(m)) for label, m in
                                  panels], title=title, db_range=db_range)
    return path


def resynthesize(magnitude, n_iter=GL_ITERATIONS, seed=GL_SEED, xp=None):
    """Raw magnitude ``(T, 256)`` -> 16 kHz wave of ``n_samples(T)`` samples.

    :func:`vox.data.audio.griffin_lim` with the samples' fixed iteration count
    and seed (it pads the edges itself, so short crops do not click).
    """
    return audio.griffin_lim(magnitude, n_iter=n_iter, seed=seed, xp=xp)


def resynthesize_many(magnitudes, n_iter=GL_ITERATIONS, seed=GL_SEED,
                      xp=None):
    """:func:`resynthesize` of each magnitude, all in one batched
    Griffin-Lim (:func:`vox.data.audio.griffin_lim_batch`: the same waves,
    bit for bit, as one call per magnitude, in a fraction of the time)."""
    return audio.griffin_lim_batch(magnitudes, n_iter=n_iter, seed=seed,
                                   xp=xp)


def write_griffin_lim_wav(path, magnitude, n_iter=GL_ITERATIONS,
                          seed=GL_SEED, wave=None):
    """Raw magnitude ``(T, 256)`` -> 16 kHz WAV by :func:`resynthesize`
    (or ``wave``, its result computed already, e.g. in a batch).

    Every resynthesis in vox's samples goes through here with the same
    settings, so an output and its copy-synthesis reference differ only by
    the model.  Returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    audio.save_wav(path, resynthesize(magnitude, n_iter=n_iter, seed=seed)
                   if wave is None else wave)
    return path


def write_sample(out_dir, name, input_magnitude, outputs, input_wave=None,
                 title=None, n_iter=GL_ITERATIONS, xp=None):
    """Writes one crop's PNGs and WAVs into ``out_dir``; returns the paths.

    ``input_magnitude``: the raw ``(T, 256)`` magnitude the model saw (the
    ``unit`` scale must be undone with :func:`vox.data.audio.from_unit` first).
    ``outputs``: ``{output name: raw magnitude (T', 256)}``.
    ``input_wave``: the original 16 kHz audio of the crop, written as
    ``<name>_input.wav`` when given.  All PNGs of one crop share the input's
    dB range, so brightness compares across them.  All WAVs of the crop
    come from one batched Griffin-Lim (on ``xp``: CuPy for a GPU run).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    inp = np.asarray(input_magnitude, dtype=np.float32)
    mags = {k: np.asarray(v, dtype=np.float32) for k, v in outputs.items()}
    copy, *out_waves = resynthesize_many([inp] + list(mags.values()),
                                         n_iter=n_iter, xp=xp)
    waves = dict(zip(mags, out_waves))
    db_range = db_range_of([inp])
    written = []
    label = f'{title}: ' if title else ''
    written.append(write_spectrogram_png(
        out_dir / f'{name}_input.png', [('input', inp)],
        title=f'{label}{name} input', db_range=db_range))
    if input_wave is not None:
        path = out_dir / f'{name}_input.wav'
        audio.save_wav(path, input_wave)
        written.append(path)
    written.append(write_griffin_lim_wav(
        out_dir / f'{name}_input_copysynth.wav', inp, wave=copy))
    for out_name, mag in mags.items():
        written.append(write_spectrogram_png(
            out_dir / f'{name}_{out_name}.png', [(out_name, mag)],
            title=f'{label}{name} {out_name}', db_range=db_range))
        written.append(write_griffin_lim_wav(
            out_dir / f'{name}_{out_name}.wav', mag, wave=waves[out_name]))
    written.append(write_spectrogram_png(
        out_dir / f'{name}.png',
        [('input', inp)] + [(k, np.asarray(v)) for k, v in outputs.items()],
        title=f'{label}{name}', db_range=db_range))
    return written


# --------------------------------------------------------------------------
# Choosing crops.

@dataclasses.dataclass
class SampleCrop:
    """One fixed crop: what the model gets and what a listener gets."""
    name: str                    # e.g. 'val00'
    x: np.ndarray                # model input, e.g. (1, T, 256) float32
    labels: tuple                # (speaker, birthplace, sex) class indices
    magnitude: np.ndarray        # raw (T, 256) magnitude of the crop
    wave: Optional[np.ndarray]   # original 16 kHz audio of the crop, or None


def fixed_indices(n_items, count):
    """``count`` indices spread evenly over ``range(n_items)`` (no RNG).

    A validation set is ordered by speaker, so evenly spaced crops cover
    different speakers, and the choice depends on nothing but the sizes.
    """
    count = min(count, n_items)
    if count <= 0:
        return []
    if count == 1:
        return [n_items // 2]
    # Spacing >= 1, so the rounded positions are distinct.
    return [int(np.floor(v + 0.5))
            for v in np.linspace(0, n_items - 1, count)]


def crop_wave(dataset, i):
    """The original audio under crop ``i`` of a validation dataset, or None.

    Works for :class:`vox.data.dataset.SpectrogramCropDataset` built with
    ``train=False`` (fixed offsets); returns None when the source file can
    no longer be read (the copy-synthesis reference is written regardless).
    """
    try:
        features, offsets, _ = dataset.items[i]
        if getattr(dataset, 'train', False):
            return None
        start = int(offsets[0]) * audio.HOP
        wave = audio.load_wav(features.utterance.path)
    except Exception:  # not our dataset type, file moved, not audio ...
        return None
    length = audio.n_samples(dataset.crop_frames)
    return wave[start:start + length] if len(wave) >= start + length else None


def sample_crops(dataset, count, prefix='val'):
    """:class:`SampleCrop` for ``count`` fixed crops of ``dataset``."""
    crops = []
    for k, i in enumerate(fixed_indices(len(dataset), count)):
        example = dataset[i]
        magnitude, _ = dataset.crop(i)
        crops.append(SampleCrop(
            name=f'{prefix}{k:02d}', x=np.asarray(example[0]),
            labels=tuple(int(v) for v in example[1:]),
            magnitude=np.asarray(magnitude, dtype=np.float32),
            wave=crop_wave(dataset, i)))
    return crops


# --------------------------------------------------------------------------
# The Trainer extension.

Transform = Callable[[np.ndarray, np.ndarray], Dict[str, np.ndarray]]


def autoencoder_transform(model):
    """The AutoEncoder's transform: ``{'output': model(x)[:, 0]}`` (raw)."""
    def transform(x, labels):
        y = model(x)
        return {'output': chainer.backends.cuda.to_cpu(y.array)[:, 0]}
    return transform


class SampleWriter(extension.Extension):
    """Writes samples of fixed crops under ``<out>/samples/epoch_NNNN/``.

    ``crops``: from :func:`sample_crops`.  ``transform(x, labels)`` gets the
    stacked model inputs (on ``device``) and the ``(B, 3)`` int32 labels and
    returns ``{output name: raw magnitudes (B, T, 256) numpy}``; it runs in
    test mode without backprop.  Register it with a trigger such as
    :func:`vox.training.common.every_or_end` so the last epoch is written
    too; :meth:`write` can also be called directly (e.g. after training).
    """

    priority = extension.PRIORITY_WRITER
    name = 'samples'

    def __init__(self, crops: Sequence[SampleCrop], transform: Transform,
                 device=None, out=None, n_iter=GL_ITERATIONS):
        self.crops: List[SampleCrop] = list(crops)
        self.transform = transform
        self.device = chainer.get_device(device or '@numpy')
        self.out = out
        self.n_iter = n_iter
        self.written_epochs = []

    def __call__(self, trainer):
        self.write(Path(self.out or trainer.out), trainer.updater.epoch)

    def write(self, out, epoch):
        if not self.crops:
            return []
        folder = Path(out) / 'samples' / f'epoch_{epoch:04d}'
        x = self.device.send(np.stack([c.x for c in self.crops]))
        labels = self.device.send(
            np.asarray([c.labels for c in self.crops], dtype=np.int32))
        with chainer.using_config('train', False), \
                chainer.no_backprop_mode():
            outputs = self.transform(x, labels)
        written = []
        for k, crop in enumerate(self.crops):
            written += write_sample(
                folder, crop.name, crop.magnitude,
                {name: mags[k] for name, mags in outputs.items()},
                input_wave=crop.wave, title=f'epoch {epoch}',
                n_iter=self.n_iter, xp=self.device.xp)
        self.written_epochs.append(epoch)
        return written
