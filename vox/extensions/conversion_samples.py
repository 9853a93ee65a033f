"""StarGAN conversion samples written during training (54314b33, cfcefd21).

Every ``report.samples_every`` and at the end of training, a fixed set of
validation crops (:func:`vox.extensions.samples.sample_crops`: evenly
spread over the validation set, which is ordered by speaker) is converted
to fixed targets chosen once from the corpus's real speakers
(:class:`vox.inference.conversion.SpeakerTable`):

* ``other sex``: the most typical speaker of the other sex with the
  source's birthplace (any birthplace when there is none);
* ``other speaker``: the most typical other speaker of the source's sex.

Written into ``<run>/samples/epoch_NNNN/`` through
:func:`vox.extensions.samples.write_sample`, for a source crop
``val00`` of speaker ``spk03`` (sex M) converted to ``spk11`` (F)::

    val00_spk03-M_input.wav             the original audio of the crop
    val00_spk03-M_input_copysynth.wav   its magnitude (as the model sees it,
                                        i.e. the [0, 1] map undone) through
                                        the same Griffin-Lim: the reference
    val00_spk03-M_to-spk11-F_converted.wav / .png   the conversion
    val00_spk03-M_input.png, val00_spk03-M.png (all panels side by side)

plus ``targets.tsv``: one line per converted file with the full source and
target labels.
"""
import hashlib
import re
from pathlib import Path

import chainer
import numpy as np
from chainer.training import extension

from vox.base.labels import GROUPS
from vox.data import audio
from vox.extensions import samples as _samples
from vox.extensions.samples import sample_crops, write_sample
from vox.inference.conversion import convert_unit

#: How many validation crops are converted at each sample point.
N_SOURCES = 4


#: Longest class name kept whole in a file name (several go into one,
#: and a file name has at most 255 bytes); targets.tsv has the full ones.
NAME_CHARS = 32


def _safe(name):
    """``name`` as part of a file name: unusual characters replaced, a long
    one cut and told apart from others with the same start by a hash."""
    safe = re.sub(r'[^A-Za-z0-9._-]+', '_', str(name))
    if len(safe) <= NAME_CHARS:
        return safe
    digest = hashlib.sha1(str(name).encode('utf-8', 'surrogateescape'))
    return f'{safe[:NAME_CHARS - 9]}~{digest.hexdigest()[:8]}'


def _tag(row):
    """'spk03-M' for a (speaker, birthplace, sex) row of names."""
    return f'{_safe(row[0])}-{_safe(row[2])}'


def fixed_targets(table, source):
    """``[(kind, target row)]`` for a source row of names (see module)."""
    speaker, birthplace, sex = source
    targets = []
    for other in (s for s in table.names['sex'] if s != sex):
        row = (table.most_typical(table.matching(birthplace=birthplace,
                                                 sex=other))
               or table.most_typical(table.matching(sex=other)))
        if row is not None:
            targets.append(('other sex', row[:3]))
            break
    row = (table.most_typical(table.matching(sex=sex), exclude={speaker})
           or table.most_typical(table.rows, exclude={speaker}))
    if row is not None and row[:3] not in [t for _, t in targets]:
        targets.append(('other speaker', row[:3]))
    return targets


class ConversionSamples(extension.Extension):
    """Writes conversions of fixed crops under ``<out>/samples/epoch_NNNN/``.

    Use :meth:`from_dataset`; register with
    :func:`vox.training.common.every_or_end` so the last epoch is written.
    """

    priority = extension.PRIORITY_WRITER
    name = 'conversion_samples'

    def __init__(self, gen, crops, targets, table, device=None,
                 n_iter=None):
        self.gen = gen
        self.crops = list(crops)
        self.targets = targets            # per crop: [(kind, row), ...]
        self.table = table
        self.device = device
        self.n_iter = n_iter or _samples.GL_ITERATIONS

    @classmethod
    def from_dataset(cls, gen, dataset, table, count=None, **kw):
        crops = sample_crops(dataset, count or N_SOURCES)
        targets = []
        for crop in crops:
            source = tuple(table.names[g][i] for g, i in
                           zip(GROUPS, crop.labels))
            targets.append(fixed_targets(table, source))
        return cls(gen, crops, targets, table, **kw)

    def __call__(self, trainer):
        self.write(Path(trainer.out), trainer.updater.epoch)

    def write(self, out, epoch):
        """Converts and writes every crop; returns the paths written."""
        folder = Path(out) / 'samples' / f'epoch_{epoch:04d}'
        folder.mkdir(parents=True, exist_ok=True)
        xs, ts, where = [], [], []
        for k, (crop, targets) in enumerate(zip(self.crops, self.targets)):
            for j, (_, row) in enumerate(targets):
                xs.append(crop.x)
                ts.append(self.table.index(row))
                where.append((k, j))
        converted = convert_unit(self.gen, np.stack(xs), np.asarray(ts),
                                 device=self.device) if xs else []
        outputs = [{} for _ in self.crops]
        # Griffin-Lim where the generator ran (CuPy on a GPU run)
        xp = chainer.get_device(self.device or '@numpy').xp
        lines = ['file\tkind\tsource_speaker\tsource_birthplace\tsource_sex'
                 '\ttarget_speaker\ttarget_birthplace\ttarget_sex']
        written = []
        for (k, j), y in zip(where, converted):
            kind, row = self.targets[k][j]
            outputs[k][f'to-{_tag(row)}_converted'] = audio.from_unit(y[0])
        for k, crop in enumerate(self.crops):
            source = tuple(self.table.names[g][i] for g, i in
                           zip(GROUPS, crop.labels))
            name = f'{crop.name}_{_tag(source)}'
            written += write_sample(
                folder, name, audio.from_unit(crop.x[0]), outputs[k],
                input_wave=crop.wave, title=f'epoch {epoch}',
                n_iter=self.n_iter, xp=xp)
            for kind, row in self.targets[k]:
                lines.append('\t'.join(
                    [f'{name}_to-{_tag(row)}_converted.wav', kind,
                     *map(str, source), *map(str, row)]))
        (folder / 'targets.tsv').write_text('\n'.join(lines) + '\n')
        return written
