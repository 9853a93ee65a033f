"""The figures of the blur-mask notes, one PNG each, from ``log.json`` data.

Every run writes (``PLOT_FILES``):

* ``loss_terms.png``: MSE, H and the loss ``a MSE - b H`` over iterations
  (the notes' "loss in two parts, blue - lambda orange");
* ``grad_terms.png``: mean and variance over points of dMSE/dm and dH/dm
  (unweighted; the weights are in the title) over iterations;
* ``m_evolution.png``: mean m with its min..max band over iterations;
* ``m_final.png``: the final m as a time x frequency map;
* ``histograms.png``: final m, a dMSE/dm, -b dH/dm and the total gradient;
* ``output_distribution.png``: the target's output per dimension (channel,
  or the last axis where there is one channel) for the original and the
  blurred input, and all values' histogram;
* ``fft_total.png``: the blurred matrix's total over iterations beside the
  input's (flat with ``conserve_total``);
* ``kept_points.png``: the input with only the points of smallest m kept
  (``keep_fractions``), the rest zeroed.

Checkpoints (``checkpoints/blurred_iter_NNNNN.png``) show the input and the
blurred input side by side with the m map.
"""
import matplotlib

matplotlib.use('Agg')
import matplotlib.ticker  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from vox.data import audio  # noqa: E402
from vox.data.plotting import save_spectrograms, to_db  # noqa: E402

PLOT_FILES = ('loss_terms.png', 'grad_terms.png', 'm_evolution.png',
              'm_final.png', 'histograms.png', 'output_distribution.png',
              'fft_total.png', 'kept_points.png')


def pct(frac):
    return f'{100 * frac:g}pct'


def _series(log, key):
    return (np.array([r['iteration'] for r in log]),
            np.array([r[key] for r in log], dtype=np.float64))


def _logy_if_positive(ax, values):
    values = np.asarray(values)
    if values.size and np.all(values > 0) and values.max() > 10 * values.min():
        ax.set_yscale('log')


def _save(fig, path):
    fig.savefig(path, dpi=80)
    plt.close(fig)


def _run_title(cfg):
    a, b = cfg.weights
    return (f'{cfg.id} ({cfg.profile}): m0={cfg.m_init:g}, lambda='
            f'{cfg.lambda_:g} on {cfg.lambda_on} (a={a:g}, b={b:g}), '
            f'conserve={cfg.conserve_total}, ReLU={cfg.relu_on_m}')


def _extent(T):
    hz = audio.SAMPLE_RATE / audio.N_FFT
    return (0, T * audio.HOP / audio.SAMPLE_RATE, hz * audio.FIRST_BIN,
            hz * (audio.FIRST_BIN + audio.N_BINS))


def loss_terms(path, cfg, log):
    a, b = cfg.weights
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), constrained_layout=True)
    for ax, key, label in zip(
            axes, ('mse', 'entropy', 'loss'),
            ('MSE(f(blur(x, m)), f(x))', f'H(m) ({cfg.entropy_reduce} of '
             f'log|m|)', f'loss = {a:g} MSE - {b:g} H')):
        it, v = _series(log, key)
        ax.plot(it, v, color={'mse': 'C0', 'entropy': 'C1'}.get(key, 'k'))
        ax.set_title(label)
        ax.set_xlabel('iteration')
        if key == 'mse':
            _logy_if_positive(ax, v)
    fig.suptitle(_run_title(cfg))
    _save(fig, path)


def grad_terms(path, cfg, log):
    a, b = cfg.weights
    fig, axes = plt.subplots(2, 2, figsize=(12, 6.5), constrained_layout=True)
    for col, (term, color, label) in enumerate(
            (('grad_mse', 'C0', f'dMSE/dm (weighted by a={a:g})'),
             ('grad_entropy', 'C1', f'dH/dm (weighted by -b={-b:g})'))):
        for row, stat in enumerate(('mean', 'var')):
            ax = axes[row, col]
            it, v = _series(log, f'{term}_{stat}')
            ax.plot(it, v, color=color)
            if stat == 'var':
                _logy_if_positive(ax, v)
            ax.set_title(f'{label}: {"mean" if stat == "mean" else "variance"}'
                         f' over points')
            ax.set_xlabel('iteration')
    fig.suptitle(_run_title(cfg))
    _save(fig, path)


def m_evolution(path, cfg, log):
    it, mean = _series(log, 'm_mean')
    _, lo = _series(log, 'm_min')
    _, hi = _series(log, 'm_max')
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    ax.fill_between(it, lo, hi, color='C2', alpha=0.25, label='min..max')
    ax.plot(it, mean, color='C2', label='mean m')
    ax.axhline(1.0, color='grey', lw=0.8, ls=':', label='m = 1 (no blur below)')
    ax.set_xlabel('iteration')
    ax.set_ylabel('m')
    ax.legend(loc='best', fontsize=8)
    ax.set_title(_run_title(cfg), fontsize=8)
    _save(fig, path)


def _m_image(ax, m, fig):
    image = ax.imshow(np.asarray(m).T, origin='lower', aspect='auto',
                      cmap='viridis', extent=_extent(m.shape[0]))
    ax.set_xlabel('time [s]')
    ax.set_ylabel('frequency [Hz]')
    fig.colorbar(image, ax=ax, label='m')


def m_final(path, cfg, m):
    fig, ax = plt.subplots(figsize=(7, 4), constrained_layout=True)
    _m_image(ax, m, fig)
    ax.set_title(f'final m (mean {m.mean():.4g}, min {m.min():.4g}, '
                 f'max {m.max():.4g})\n{_run_title(cfg)}', fontsize=8)
    _save(fig, path)


def histograms(path, cfg, final):
    a, b = cfg.weights
    panels = (('final m', final['m']),
              (f'a dMSE/dm (a={a:g})', a * final['grad_mse']),
              (f'-b dH/dm (b={b:g})', -b * final['grad_entropy']),
              ('gradient (total)', final['grad']))
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.6), constrained_layout=True)
    for ax, (label, v) in zip(axes, panels):
        v = np.asarray(v, np.float64).ravel()
        ax.hist(v, bins=60, color='C4')
        ax.set_yscale('log')
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(4))
        ax.tick_params(axis='x', labelrotation=20)
        ax.set_title(f'{label}\nmean {v.mean():.3g}, std {v.std():.3g}',
                     fontsize=9)
    fig.suptitle(_run_title(cfg))
    _save(fig, path)


def per_dimension(y):
    """(D, N): the output's dimensions (axis 1 of a ``(1, C, ...)`` output
    with C > 1, else its last axis) by the values each takes."""
    y = np.asarray(y, np.float64)
    if y.ndim >= 3 and y.shape[1] > 1:
        return y[0].reshape(y.shape[1], -1)
    if y.ndim == 2:
        return y[0][:, None]
    flat = y.reshape(-1, y.shape[-1])
    return flat.T


def output_distribution(path, cfg, original, blurred, what):
    o, bl = per_dimension(original), per_dimension(blurred)
    dims = np.arange(o.shape[0])
    fig, axes = plt.subplots(1, 2, figsize=(14, 3.8), constrained_layout=True,
                             gridspec_kw={'width_ratios': [3, 1]})
    ax = axes[0]
    for v, color, label in ((o, 'C0', 'original'), (bl, 'C3', 'blurred')):
        if v.shape[1] > 1:
            lo, hi = np.percentile(v, [10, 90], axis=1)
            ax.fill_between(dims, lo, hi, color=color, alpha=0.2,
                            label=f'{label}: 10..90 %')
            ax.plot(dims, v.mean(axis=1), color=color, lw=0.8,
                    label=f'{label}: mean')
        else:
            ax.plot(dims, v[:, 0], color=color, lw=0.8, marker='.', ms=3,
                    label=label)
    ax.set_xlabel(f'output dimension ({o.shape[0]})')
    ax.set_ylabel('value')
    ax.legend(fontsize=8)
    ax.set_title(f'target {what}, per dimension '
                 f'({o.shape[1]} value(s) each)', fontsize=9)
    ax = axes[1]
    bins = np.histogram_bin_edges(np.concatenate([o.ravel(), bl.ravel()]), 50)
    ax.hist(o.ravel(), bins=bins, alpha=0.5, color='C0', label='original')
    ax.hist(bl.ravel(), bins=bins, alpha=0.5, color='C3', label='blurred')
    ax.set_yscale('log')
    ax.legend(fontsize=8)
    ax.set_title('all values', fontsize=9)
    fig.suptitle(_run_title(cfg))
    _save(fig, path)


def fft_total(path, cfg, log, input_total):
    it, v = _series(log, 'fft_total')
    fig, ax = plt.subplots(figsize=(7, 3.8), constrained_layout=True)
    ax.plot(it, v, color='C5', label='blurred matrix total')
    ax.axhline(input_total, color='grey', ls='--', lw=0.8,
               label=f'input total {input_total:.4g}')
    # from 0, so float32 rounding of a conserved total does not look like
    # a change; the spread is in the legend
    ax.set_ylim(0, 1.05 * max(float(v.max()), input_total))
    ax.plot([], [], ' ', label=f'range over iterations {v.min():.6g} .. '
            f'{v.max():.6g}')
    ax.set_xlabel('iteration')
    ax.set_ylabel(f'sum over T x K ({cfg.blur_scale} scale)')
    ax.legend(fontsize=8)
    ax.set_title(_run_title(cfg), fontsize=8)
    _save(fig, path)


def keep_smallest(x_raw, m, frac):
    """``x_raw`` with only the ``frac`` of points with the smallest m kept.

    Exactly ``round(frac * size)`` points (at least one); ties in m are
    broken by position (a stable sort), which the plot title reports.
    """
    m = np.asarray(m)
    n = max(1, int(round(frac * m.size)))
    order = np.argsort(m, axis=None, kind='stable')
    mask = np.zeros(m.size, dtype=bool)
    mask[order[:n]] = True
    return np.where(mask.reshape(m.shape), x_raw, 0).astype(np.float32)


def kept_points(path, cfg, x_raw, m):
    m = np.asarray(m)
    panels = [('input', x_raw)]
    flat = np.sort(m, axis=None)
    for frac in cfg.keep_fractions:
        n = max(1, int(round(frac * m.size)))
        threshold = flat[n - 1]
        ties = int((m == threshold).sum())
        note = f', {ties} at the threshold' if ties > 1 else ''
        panels.append((f'{pct(frac)} of smallest m kept\n'
                       f'(m <= {threshold:.4g}{note})',
                       keep_smallest(x_raw, m, frac)))
    top = float(to_db(x_raw).max())
    save_spectrograms(path, panels, title=_run_title(cfg),
                      db_range=(top - 80.0, top))


def save_checkpoint_png(path, x_raw, blurred_raw, it, m):
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), constrained_layout=True)
    dbs = [to_db(x_raw), to_db(blurred_raw)]
    top = max(float(d.max()) for d in dbs)
    for ax, db, label in zip(axes, dbs, ('input', f'blurred, iteration {it}')):
        image = ax.imshow(db.T, origin='lower', aspect='auto', cmap='magma',
                          vmin=top - 80, vmax=top,
                          extent=_extent(db.shape[0]))
        ax.set_title(label)
        ax.set_xlabel('time [s]')
        ax.set_ylabel('frequency [Hz]')
    fig.colorbar(image, ax=axes[:2].tolist(), label='dB')
    _m_image(axes[2], m, fig)
    axes[2].set_title(f'm at iteration {it} (mean {np.mean(m):.3g})')
    _save(fig, path)


def save_all(run_dir, cfg, log, final, input_total):
    loss_terms(run_dir / 'loss_terms.png', cfg, log)
    grad_terms(run_dir / 'grad_terms.png', cfg, log)
    m_evolution(run_dir / 'm_evolution.png', cfg, log)
    m_final(run_dir / 'm_final.png', cfg, final['m'])
    histograms(run_dir / 'histograms.png', cfg, final)
    output_distribution(run_dir / 'output_distribution.png', cfg,
                        final['output_original'], final['output_blurred'],
                        cfg.target_output)
    fft_total(run_dir / 'fft_total.png', cfg, log, input_total)
    kept_points(run_dir / 'kept_points.png', cfg, final['x_raw'], final['m'])
