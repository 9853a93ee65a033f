"""``vox compare RUN [RUN ...]``: runs side by side.

Writes into one folder:

- ``curves_<group>.png``: one PNG per PlotReport figure of the runs'
  trainers (``critic``, ``accuracy_speaker`` ...; keys no PlotReport draws
  are grouped by owner and name, ``main_loss``), one panel per key, the
  runs' LogReport curves overlaid, one colour per run, validation dashed
  in the run's colour, log scale where a term spans decades (the rules of
  ``vox.training.curves``), epoch (or iteration) on x;
- ``plots_<name>.png``: every PlotReport PNG the runs share, side by side,
  with the difference image against the first run;
- ``compare.md``: each metric's final and best value per run, every
  setting that differs between the runs (config, profile, corpus, device,
  code revision, command), the metrics skipped because not every run has
  them and, with ``--blog``, the blog's reference figures as a column.
"""
import dataclasses
import datetime
import importlib
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vox.base.errors import VoxError  # noqa: E402
from vox.base.files import claim_folder  # noqa: E402
from vox.config import load_yaml  # noqa: E402
from vox.reports import findings  # noqa: E402
from vox.training import curves  # noqa: E402

NOT_METRICS = {'epoch', 'iteration', 'elapsed_time'}
#: Reference figures (config ``reference:``) that are a logged metric.
BLOG_METRICS = {'final_mse': 'main/mse',
                'final_validation_mse': 'validation/main/mse'}
#: Settings listed first in the differences table.
FIRST = ('id', 'profile', 'train.lr', 'train.batch_size', 'train.epochs',
         'data.corpus.source', 'corpus.manifest', 'corpus.n_classes',
         'environment.device', 'environment.git_revision', 'command')


@dataclasses.dataclass
class RunInfo:
    path: Path
    label: str
    exp_id: str
    config: dict
    environment: dict
    command: str
    log: list
    summary: dict

    def series(self, key, x_key):
        xs, ys = [], []
        for entry in self.log:
            if key in entry and x_key in entry and entry[key] is not None:
                xs.append(entry[x_key])
                ys.append(entry[key])
        return np.asarray(xs, float), np.asarray(ys, float)

    @property
    def metrics(self):
        keys = set()
        for entry in self.log:
            keys.update(k for k, v in entry.items()
                        if k not in NOT_METRICS and isinstance(v, (int, float))
                        and not isinstance(v, bool))
        return keys


def load(path):
    path = Path(path)
    if not (path / 'log').exists():
        raise VoxError(f'{path}: no Chainer log in it; give run folders '
                       f'(results/<ID>/<run>) that trained at least one '
                       f'log interval')
    try:
        log = json.loads((path / 'log').read_text())
    except ValueError as e:
        raise VoxError(f'{path / "log"}: not JSON ({e})') from None

    def read(name, reader, default):
        try:
            return reader((path / name).read_text()) or default
        except (OSError, ValueError):
            return default
    try:
        config = load_yaml(path / 'config.yaml') or {}
    except VoxError:
        config = {}
    if not isinstance(config, dict):
        config = {}
    return RunInfo(path, path.name, config.get('id', path.parent.name),
                   config, read('environment.json', json.loads, {}),
                   read('command.txt', str.strip, ''), log,
                   read('summary.json', json.loads, {}))


def label_runs(runs):
    names = [r.path.name for r in runs]
    ids = {r.exp_id for r in runs}
    for r in runs:
        if len(set(names)) < len(names) or len(ids) > 1:
            r.label = f'{r.exp_id}/{r.path.name}'
        else:
            r.label = r.path.name
    labels = [r.label for r in runs]
    for i, r in enumerate(runs):  # the same folder twice
        if labels.count(r.label) > 1:
            r.label = f'{r.label} [{i + 1}]'


def group_of(key):
    """``validation/main/loss_speaker`` -> ``main_loss``."""
    parts = key.split('/')
    if parts[0] == 'validation':
        parts = parts[1:]
    owner = parts[0] if len(parts) > 1 else 'main'
    name = parts[-1].split('_')[0]
    return re.sub(r'[^A-Za-z0-9_]+', '-', f'{owner}_{name}')


def is_accuracy(key):
    return 'acc' in key.split('/')[-1]


def final_and_best(run, key, x_key):
    _, ys = run.series(key, x_key)
    if not len(ys):
        return None, None
    best = ys.max() if is_accuracy(key) else ys.min()
    return float(ys[-1]), float(best)


def flatten(data, prefix=''):
    out = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f'{prefix}{k}.'))
    else:
        out[prefix[:-1]] = data
    return out


def settings(run):
    config = {k: v for k, v in run.config.items() if k != 'reference'}
    flat = flatten(config)
    env = dict(run.environment)
    env.pop('cpu_count', None)
    flat.update(flatten(env, 'environment.'))
    flat['command'] = run.command
    return flat


def differences(runs):
    flats = [settings(r) for r in runs]
    keys = set().union(*flats)
    diff = [k for k in keys if len({json.dumps(f.get(k), sort_keys=True,
                                               default=str)
                                    for f in flats}) > 1]
    order = {k: i for i, k in enumerate(FIRST)}
    diff.sort(key=lambda k: (order.get(k, len(FIRST)), k))
    return [(k, [f.get(k, '(absent)') for f in flats]) for k in diff]


def x_axis(runs, wanted=None):
    if wanted:
        return wanted
    if all('epoch' in e for r in runs for e in r.log):
        return 'epoch'
    return 'iteration'


def trainer_plots(kind):
    """``{PNG name: keys}`` of the trainer of ``kind``, or {} (unknown)."""
    try:  # vox.training.<kind> is the trainer of every kind vox runs
        module = importlib.import_module(f'vox.training.{kind}')
    except ImportError:
        return {}
    return getattr(module, 'PLOTS', {})


def curve_groups(runs, keys):
    """``{group: [base key, ...]}``: the runs' PlotReport figures.

    A key (with its ``validation/`` twin) goes to the first PlotReport
    figure of the runs' trainers that draws it, so a comparison shows what
    each run's own PNGs show; keys no PlotReport draws are grouped by
    ``group_of``.
    """
    bases = []
    for key in sorted(keys):
        if curves.base_key(key) not in bases:
            bases.append(curves.base_key(key))
    owner = {}
    for run in runs:
        for png, members in trainer_plots(run.config.get('kind')).items():
            for key in members:
                owner.setdefault(curves.base_key(key), Path(png).stem)
    groups = {}
    for base in bases:
        groups.setdefault(owner.get(base) or group_of(base), []).append(base)
    return groups


def plot_curves(runs, keys, x_key, out):
    """One PNG per curve group; returns the paths written."""
    keys = set(keys)
    colour = {r.label: curves.PALETTE[i % len(curves.PALETTE)]
              for i, r in enumerate(runs)}
    written = []
    for group, members in sorted(curve_groups(runs, keys).items()):
        n = len(members)
        cols = min(3, n)
        rows = (n + cols - 1) // cols
        fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows),
                                 squeeze=False, constrained_layout=True)
        for ax, base in zip(axes.flat, members):
            ys_all = []
            for key in (base, curves.VALIDATION + base):
                if key not in keys:
                    continue
                for run in runs:
                    xs, ys = run.series(key, x_key)
                    if len(xs):
                        ax.plot(xs, ys, color=colour[run.label],
                                linestyle='--' if curves.is_validation(key)
                                else '-',
                                marker='.' if len(xs) < 30 else None,
                                label=(f'{run.label} (validation)'
                                       if curves.is_validation(key)
                                       else run.label))
                        ys_all.extend(ys)
            if curves.spans_decades(ys_all):
                ax.set_yscale('log')
            ax.set_title(base + (' (dashed: validation)'
                                 if curves.VALIDATION + base in keys
                                 else ''), fontsize=10)
            ax.set_xlabel(x_key)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=8)
        for ax in list(axes.flat)[n:]:
            ax.axis('off')
        path = out / f'curves_{group}.png'
        fig.savefig(path, dpi=80)
        plt.close(fig)
        written.append(path)
    return written


def _rgb(path):
    image = plt.imread(str(path))
    if image.dtype != np.float32 and image.dtype != np.float64:
        image = image.astype(np.float32) / 255.0
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return image[..., :3]


def _pad(image, shape):
    out = np.ones(shape + (3,), np.float32)
    out[:image.shape[0], :image.shape[1]] = image
    return out


def plot_pngs(runs, out):
    """Same-named PlotReport PNGs side by side with difference images."""
    names = {}
    for run in runs:
        for p in sorted(run.path.glob('*.png')):
            names.setdefault(p.name, []).append(run)
    written, single = [], []
    for name, have in sorted(names.items()):
        if len(have) < 2:
            single.append(name)
            continue
        images = [_rgb(r.path / name) for r in have]
        shape = (max(i.shape[0] for i in images),
                 max(i.shape[1] for i in images))
        images = [_pad(i, shape) for i in images]
        panels = [(r.label, i) for r, i in zip(have, images)]
        for r, i in zip(have[1:], images[1:]):
            diff = np.abs(i - images[0]).mean(axis=-1)
            changed = float((diff > 1e-3).mean()) * 100
            panels.append((f'|{r.label} - {have[0].label}| '
                           f'({changed:.1f}% of pixels differ)', diff))
        h, w = shape
        scale = 4.0 / max(h, w) * 1.6
        fig, axes = plt.subplots(1, len(panels), squeeze=False,
                                 figsize=(w * scale * len(panels) / 1.6 + 1,
                                          h * scale / 1.6 + 0.8),
                                 constrained_layout=True)
        for ax, (title, image) in zip(axes[0], panels):
            if image.ndim == 2:
                ax.imshow(image, cmap='magma', vmin=0,
                          vmax=max(float(image.max()), 1e-6))
            else:
                ax.imshow(image)
            ax.set_title(title, fontsize=8)
            ax.axis('off')
        path = out / f'plots_{Path(name).stem}.png'
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)
    return written, single


def _fmt(v):
    if v is None:
        return 'n/a'
    if isinstance(v, float):
        return f'{v:.4g}'
    if isinstance(v, (list, dict)):
        return json.dumps(v, default=str)
    text = str(v).replace('|', '\\|').replace('\n', ' ')
    return text if len(text) <= 80 else text[:77] + '...'


def _row(cells):
    return '| ' + ' | '.join(cells) + ' |'


def blog_reference(runs):
    """figure -> ({experiment: blog value}, [this run's value per run])."""
    ref = {}
    for i, run in enumerate(runs):
        for name, value in (run.config.get('reference') or {}).items():
            ref.setdefault(name, [{}, [None] * len(runs)])
            ref[name][0][run.exp_id] = value
        for row in run.summary.get('reference', []):
            if row.get('figure') in ref:
                ref[row['figure']][1][i] = row.get('this_run')
    return ref


def _blog_text(values):
    """One experiment's figure, or each experiment's when they differ."""
    if len(values) == 1:
        return _fmt(next(iter(values.values())))
    return '; '.join(f'{k}: {_fmt(v)}' for k, v in values.items())


#: What :data:`vox.base.files.MARKER` says in a comparison's folder.
MAKER = 'vox compare'


def compare(run_paths, out=None, blog=False, x_key=None):
    """Compares run folders; returns ``(out_dir, markdown)``."""
    if len(run_paths) < 1:
        raise VoxError('give at least one run folder')
    runs = [load(p) for p in run_paths]
    label_runs(runs)
    if out is None:
        stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
        out = Path(run_paths[0]).resolve().parent.parent / 'compare' / stamp
    out = claim_folder(out, MAKER, '--out')  # never a run's or a user's
    x_key = x_axis(runs, x_key)
    every = [r.metrics for r in runs]
    shared = set.intersection(*every)
    skipped = sorted(set.union(*every) - shared)
    curves = plot_curves(runs, shared, x_key, out)
    pngs, single = plot_pngs(runs, out)

    lines = [f"# Comparing {len(runs)} run{'s' * (len(runs) != 1)}", '',
             _row(['run', 'experiment', 'profile', 'folder']),
             _row(['---'] * 4)]
    for r in runs:
        lines.append(_row([r.label, r.exp_id,
                           str(r.config.get('profile', 'n/a')), str(r.path)]))
    ref = blog_reference(runs) if blog else {}
    metric_blog = {BLOG_METRICS[k]: _blog_text(v[0]) for k, v in ref.items()
                   if k in BLOG_METRICS}
    header = ['metric']
    for r in runs:
        header += [f'{r.label} final', f'{r.label} best']
    if blog:
        header.append('blog')
    lines += ['', f'## Metrics (x: {x_key}; best = '
              f'max for accuracies, min otherwise)', '', _row(header),
              _row(['---'] * len(header))]
    for key in sorted(shared):
        cells = [key]
        for r in runs:
            final, best = final_and_best(r, key, x_key)
            cells += [_fmt(final), _fmt(best)]
        if blog:
            cells.append(metric_blog.get(key, 'n/a'))
        lines.append(_row(cells))
    if not shared:
        lines.append('(no metric is logged by every run)')
    if blog:
        lines += ['', '## The blog\'s reference figures', '',
                  _row(['figure', 'blog'] + [r.label for r in runs]),
                  _row(['---'] * (2 + len(runs)))]
        for name, (value, mine) in ref.items():
            lines.append(_row([name, _blog_text(value)]
                              + [_fmt(v) for v in mine]))
        if not ref:
            lines.append('(no reference figures in these runs\' configs)')
        for r in runs:
            verdicts = findings.check_run(r.path)
            lines += ['', f'### Findings of {r.label} ({r.exp_id})', '']
            lines += findings.markdown(verdicts).splitlines()[2:]
    lines += ['', '## Settings that differ', '']
    diffs = differences(runs)
    if diffs:
        lines += [_row(['setting'] + [r.label for r in runs]),
                  _row(['---'] * (1 + len(runs)))]
        for key, values in diffs:
            lines.append(_row([key] + [_fmt(v) for v in values]))
    else:
        lines.append('None: the runs share every setting.')
    lines += ['', '## Skipped metrics', '']
    if skipped:
        lines.append('Not logged by every run, so not compared:')
        lines.append('')
        for key in skipped:
            have = [r.label for r in runs if key in r.metrics]
            lines.append(f'- `{key}`: only in {", ".join(have)}')
    else:
        lines.append('None: every run logs the same metrics.')
    lines += ['', '## Figures', '']
    lines += [f'- [{p.name}]({p.name})' for p in curves + pngs]
    if single:
        lines.append('- PlotReport PNGs in only one run (not compared): '
                     + ', '.join(single))
    text = '\n'.join(lines) + '\n'
    (out / 'compare.md').write_text(text)
    return out, text
