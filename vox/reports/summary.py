"""A run's own figures beside the ones the blog reported.

The blog's numbers came from its own corpus (most likely CSJ, 1421
speakers) on a 2019 GPU with 3017 MiB; a rerun on the generated corpus or
on a CPU is not comparable in absolute terms.  The table says so per row.
"""
import json

from vox.reports import findings
from vox.reports.conversion_quality import section_of
from vox.training.curves import VALIDATION, base_key

#: Reference figures that are a setting: where the resolved config has it.
CONFIG_FIGURES = {'epochs': 'train.epochs', 'batch_size': 'train.batch_size',
                  'learning_rate': 'train.lr',
                  'crop_frames': 'data.crop_frames'}


def config_value(config, dotted):
    """``train.lr`` of a typed config or of a plain mapping (config.yaml)."""
    value = config
    for part in dotted.split('.'):
        value = (value.get(part) if isinstance(value, dict)
                 else getattr(value, part, None))
        if value is None:
            return None
    return value


def _setting(name):
    return lambda ctx: config_value(ctx['config'], CONFIG_FIGURES[name])


# reference key -> (how to read this run's figure, note)
READERS = {
    'training_hours': (lambda ctx: ctx['elapsed'] / 3600.0,
                       'wall-clock of this run; different corpus/hardware'),
    'hours_per_1000_epochs': (
        lambda ctx: ctx['elapsed'] / 3600.0 / max(ctx['epoch'], 1e-9) * 1000,
        'this run per epoch x 1000; an epoch is one crop per utterance'),
    'epochs': (lambda ctx: ctx['epoch'], 'epochs this run trained'),
    'batch_size': (_setting('batch_size'), ''),
    'learning_rate': (_setting('learning_rate'), ''),
    'crop_frames': (_setting('crop_frames'), 'frames per training crop'),
    'output': (lambda ctx: 'listen to the samples',
               'the blog\'s impression of its converted voices'),
    'discriminator': (
        lambda ctx: ctx['last'].get('validation/dis/acc_speaker'),
        'validation speaker accuracy of D at the last log entry'),
    'final_mse': (lambda ctx: ctx['last'].get('main/mse'),
                  'training MSE at the last log entry'),
    'final_validation_mse': (
        lambda ctx: ctx['last'].get('validation/main/mse'),
        'validation MSE at the last log entry'),
    'vram_mib': (lambda ctx: ctx.get('peak_gpu_mib'),
                 'peak CuPy memory pool; n/a on CPU'),
}


def summarize(config, log, elapsed, peak_gpu_mib=None):
    last = log[-1] if log else {}
    epoch = last.get('epoch', 0)
    ctx = dict(config=config, last=last, elapsed=elapsed, epoch=epoch,
               peak_gpu_mib=peak_gpu_mib)
    rows = []
    for name, blog in config.reference.items():
        reader, note = READERS.get(name, (lambda ctx: None, ''))
        rows.append({'figure': name, 'blog': blog, 'this_run': reader(ctx),
                     'note': note})
    metrics = {k: v for k, v in last.items()
               if k.startswith(('main/', 'validation/', 'dis/', 'gen/'))}
    return {'experiment': config.id, 'profile': config.profile,
            'elapsed_seconds': elapsed, 'epoch': epoch,
            'iteration': last.get('iteration'), 'reference': rows,
            'final_metrics': metrics}


def metric_rows(final_metrics):
    """``[(key, training value, validation value)]``, one row per key.

    ``main/loss`` and ``validation/main/loss`` share a row; a value the
    run did not log is None.
    """
    rows = {}
    for key, value in final_metrics.items():
        row = rows.setdefault(base_key(key), [None, None])
        row[1 if key.startswith(VALIDATION) else 0] = value
    return [(key, *rows[key]) for key in sorted(rows)]


def format_value(v):
    if v is None:
        return 'n/a'
    if isinstance(v, float):
        return f'{v:.4g}'
    return str(v)


def markdown(summary):
    lines = [f"# {summary['experiment']} ({summary['profile']})", '',
             f"Trained {summary['epoch']} epochs, {summary['iteration']} "
             f"iterations in {summary['elapsed_seconds'] / 60:.1f} min.", '',
             '| figure | blog (2019) | this run | note |',
             '|---|---|---|---|']
    for r in summary['reference']:
        lines.append(f"| {r['figure']} | {format_value(r['blog'])} | "
                     f"{format_value(r['this_run'])} | {r['note']} |")
    lines += ['', '| final metric | training | validation |',
              '|---|---|---|']
    for key, train, val in metric_rows(summary['final_metrics']):
        lines.append(f'| {key} | {format_value(train)} | '
                     f'{format_value(val)} |')
    return '\n'.join(lines) + '\n'


def write_summary(run_dir, config, trainer, elapsed):
    log_report = trainer.get_extension('LogReport')
    log = log_report.log
    elapsed = log[-1].get('elapsed_time', elapsed) if log else elapsed
    peak = None
    if trainer.updater.device.xp.__name__ == 'cupy':
        import cupy  # optional: only when training on a GPU
        peak = cupy.get_default_memory_pool().total_bytes() / 2 ** 20
    summary = summarize(config, log, elapsed, peak)
    with open(run_dir / 'summary.json', 'w') as f:
        json.dump(summary, f, indent=2)
    text = findings.with_section(markdown(summary),
                                 findings.check_run(run_dir))
    old = run_dir / 'summary.md'
    evaluation = section_of(old.read_text(errors='replace')) \
        if old.is_file() else ''
    (run_dir / 'summary.md').write_text(
        text + ('\n' + evaluation if evaluation else ''))
    print(text)
    return summary
