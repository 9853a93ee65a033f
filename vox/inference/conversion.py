"""Using a trained StarGAN generator: spectrograms and WAVs to targets.

What every use of a trained generator shares (the conversion samples
written during training, ``vox convert``, ``vox evaluate``):

* :func:`convert_unit`: whole spectrograms of any length through G (frames
  padded with the silence floor to the generator's frame multiple, then
  trimmed back);
* :func:`convert_wave`: a 16 kHz waveform of any length to a converted
  waveform of the same length (one pass, Griffin-Lim resynthesis);
* :class:`SpeakerTable`: the corpus's real (speaker, birthplace, sex)
  combinations with their utterance counts, saved as ``speakers.json`` in
  the run folder, and the rule that picks a target from partial attributes
  ("the most typical speaker": the one with the most utterances among those
  having the given attributes; ties go to the first name in sorted order).
"""
import dataclasses
import difflib
import json
from pathlib import Path

import chainer
import numpy as np

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.data import audio
from vox.updaters.stargan import labels_to_onehot


def convert_unit(gen, x, targets, device=None, batch_size=8):
    """Converts unit-scale spectrograms ``x`` (B, 1, T, F) to ``targets``.

    ``targets``: (B, 3) int label indices (speaker, birthplace, sex).  Any
    T: the frames are padded at the end with 0 (the unit scale's floor, -50
    dB, i.e. silence) to a multiple of ``gen.frame_multiple``, converted in
    one pass (the generators are fully convolutional over time; BN uses its
    running statistics) and trimmed back.  Returns numpy (B, 1, T, F) in
    (0, 1).
    """
    device = chainer.get_device(device or '@numpy')
    x = np.asarray(x, dtype=np.float32)
    targets = np.asarray(targets, dtype=np.int32).reshape(len(x), -1)
    t = x.shape[2]
    pad = (-t) % gen.frame_multiple
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (0, pad), (0, 0)))
    onehot = labels_to_onehot(targets, gen.n_classes)
    out = []
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        for i in range(0, len(x), batch_size):
            y = gen(device.send(x[i:i + batch_size]),
                    device.send(onehot[i:i + batch_size]))
            out.append(chainer.backend.CpuDevice().send(y.array))
    y = np.concatenate(out) if out else np.zeros_like(x)
    return np.ascontiguousarray(y[:, :, :t])


def convert_wave(gen, wave, target, device=None, n_iter=None):
    """16 kHz ``wave`` -> converted 16 kHz wave of the same length.

    The signal is zero-padded at the end to a whole number of STFT frames
    (no centring, so the last partial hop would otherwise be lost),
    converted whole by :func:`convert_unit` and resynthesised by
    Griffin-Lim of ``audio.from_unit`` of the output (on the device's
    array module: CuPy on a GPU), trimmed to the input's length.
    """
    n = len(wave)
    frames = max(1, -(-(n - audio.N_FFT) // audio.HOP) + 1)
    padded = np.zeros(audio.n_samples(frames), dtype=np.float32)
    padded[:n] = wave
    x = audio.to_unit(audio.magnitude(padded))[None, None]
    y = convert_unit(gen, x, np.asarray([target]), device=device)
    out = audio.griffin_lim(audio.from_unit(y[0, 0]),
                            n_iter=n_iter or audio.GL_ITERATIONS,
                            xp=chainer.get_device(device or '@numpy').xp)
    result = np.zeros(n, dtype=np.float32)
    result[:min(n, len(out))] = out[:n]
    return result


# ---------------------------------------------------------------------------
# Targets by name

SEX_ALIASES = {'m': 'M', 'male': 'M', 'f': 'F', 'female': 'F'}


def _list_names(names, limit=30):
    shown = ', '.join(names[:limit])
    if len(names) > limit:
        shown += f', ... ({len(names)} in all; see labels.json)'
    return shown


@dataclasses.dataclass
class SpeakerTable:
    """The corpus's (speaker, birthplace, sex) rows, by name, with counts.

    ``names``: ``LabelSpace.names`` (group -> sorted class names);
    ``rows``: ``[(speaker, birthplace, sex, n_utterances), ...]``.
    """
    names: dict
    rows: list

    FILE = 'speakers.json'

    @classmethod
    def from_data(cls, data):
        """Rows of an ``ExperimentData`` (utterances of both splits)."""
        counts = {}
        for dataset in (data.train, data.validation):
            for features, _, y in dataset.items:
                key = tuple(int(v) for v in y)
                counts.setdefault(key, set()).add(str(features.utterance.path))
        for row in np.asarray(data.combinations).tolist():
            counts.setdefault(tuple(row), set())
        names = data.labels.names
        rows = [tuple(names[g][i] for g, i in zip(GROUPS, key))
                + (len(paths),) for key, paths in sorted(counts.items())]
        return cls(names, rows)

    def save(self, run_dir):
        with open(Path(run_dir) / self.FILE, 'w') as f:
            json.dump([dict(zip(GROUPS + ('utterances',), r))
                       for r in self.rows], f, indent=1)

    @classmethod
    def load(cls, run_dir, names):
        path = Path(run_dir) / cls.FILE
        if not path.exists():
            raise VoxError(f'{run_dir}: no {cls.FILE}; it is written when a '
                           f'StarGAN run starts (give a StarGAN run folder)')
        with open(path) as f:
            rows = [tuple(r[g] for g in GROUPS) + (int(r['utterances']),)
                    for r in json.load(f)]
        return cls(names, rows)

    def index(self, row):
        """(speaker, birthplace, sex) names -> class indices."""
        return tuple(self.names[g].index(v) for g, v in zip(GROUPS, row))

    def name_of(self, group, value):
        """A name given by a user -> the corpus's class name, or VoxError."""
        valid = list(self.names[group])
        if group == 'sex':
            canon = SEX_ALIASES.get(str(value).lower())
            if canon is None:
                raise VoxError(f"--sex {value!r}: give M or F")
            for name in valid:
                if SEX_ALIASES.get(str(name).lower(), name) == canon:
                    return name
            raise VoxError(f"--sex {canon}: this corpus has no such sex; "
                           f"it has: {', '.join(valid)}")
        if value in valid:
            return value
        close = difflib.get_close_matches(str(value), valid, n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ''
        raise VoxError(f"unknown {group} {value!r}{hint}; valid "
                       f"{group}s: {_list_names(valid)}")

    def matching(self, speaker=None, birthplace=None, sex=None):
        given = (speaker, birthplace, sex)
        return [r for r in self.rows
                if all(v is None or r[i] == v for i, v in enumerate(given))]

    @staticmethod
    def most_typical(rows, exclude=()):
        """The row with the most utterances; ties: first in name order."""
        rows = [r for r in rows if r[0] not in exclude]
        if not rows:
            return None
        return sorted(rows, key=lambda r: (-r[3], r[0], r[1], r[2]))[0]

    def resolve(self, speaker=None, birthplace=None, sex=None):
        """The target row ``(speaker, birthplace, sex)`` for a user's names.

        Names are checked (unknown -> VoxError listing the valid ones; sex
        is M or F); attributes not given come from the most typical
        speaker having the given ones.  All three given but not a real
        combination: used as given (the generator accepts any code).
        """
        given = {g: (None if v is None else self.name_of(g, v))
                 for g, v in zip(GROUPS, (speaker, birthplace, sex))}
        if all(v is None for v in given.values()):
            raise VoxError('give a target: at least one of --speaker, '
                           '--birthplace, --sex')
        row = self.most_typical(self.matching(**given))
        if row is None:
            if all(v is not None for v in given.values()):
                return tuple(given[g] for g in GROUPS)
            said = ', '.join(f'{g}={v}' for g, v in given.items()
                             if v is not None)
            raise VoxError(f'no speaker in the corpus has {said}; give '
                           f'other attributes (see speakers.json)')
        return row[:3]
