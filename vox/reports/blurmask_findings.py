"""The blur-mask notes' findings over the nine runs together.

``experiments/blurmask-findings.yaml`` names, per finding, a statistic
of the newest finished run of each of blurmask-1 .. blurmask-9 under one
results root (``summary.json``, and ``final.npz`` for the spread of the
final m), with its comparison and threshold.  A finding whose runs are
missing is "not comparable" and says which to run.  The verdicts have
the shape of vox.reports.findings'.
"""
import json
from pathlib import Path

import numpy as np

from vox.config import load_yaml, EXPERIMENTS_DIR

FILE = EXPERIMENTS_DIR / 'blurmask-findings.yaml'
OPS = {'<': np.less, '<=': np.less_equal, '>': np.greater,
       '>=': np.greater_equal}


def newest_runs(results, profile=None):
    """{run ID: summary dict (with ``run_dir``)}: the newest finished run
    of each blur-mask experiment, of ``profile`` where one is given."""
    found = {}
    for file in sorted(Path(results).glob('blurmask-*/*/summary.json')):
        try:
            with open(file) as f:
                s = json.load(f)
        except (OSError, ValueError):
            continue
        if profile is not None and s.get('profile') != profile:
            continue
        if s.get('interrupted'):
            continue
        s['run_dir'] = str(file.parent)
        old = found.get(s['id'])
        if old is None or file.parent.name > Path(old['run_dir']).name:
            found[s['id']] = s
    return found


def m_spread(summary):
    """std / |mean| of the run's final m (``final.npz``); None without it."""
    if 'm_spread' not in summary:
        try:
            with np.load(Path(summary['run_dir']) / 'final.npz') as z:
                m = np.asarray(z['m'], np.float64)
            mean = abs(float(m.mean()))
            summary['m_spread'] = float(m.std()) / mean if mean > 0 else \
                float('inf') if m.std() > 0 else 0.0
        except (OSError, KeyError, ValueError):
            summary['m_spread'] = None
    return summary['m_spread']


def _spearman(a, b):
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return None
    return float(np.corrcoef(ra, rb)[0, 1])


def total_loss(s):
    return abs(s['final']['fft_total'] / s['input_fft_total'] - 1)


def _pick(runs, ids):
    return [runs[i] for i in ids if i in runs]


def stat_lambda_m_rank_correlation(runs, f):
    used = [s for s in runs.values() if s['lambda_on'] == 'entropy']
    if len({s['lambda'] for s in used}) < f.get('needs_runs', 3):
        return None, None, (f'needs {f.get("needs_runs", 3)} runs with '
                            f'different lambda on the entropy term (1-7); '
                            f'found {len(used)}')
    used.sort(key=lambda s: s['lambda'])
    rho = _spearman([s['lambda'] for s in used],
                    [s['final']['m_mean'] for s in used])
    pairs = ', '.join(f"{s['id'][9:]}: lambda {s['lambda']:g} -> m "
                      f"{s['final']['m_mean']:.3g}" for s in used)
    return rho, f'Spearman {rho if rho is None else round(rho, 3)} over ' \
        f'{len(used)} runs ({pairs})', None


def stat_median_m_spread(runs, f):
    used = [s for s in _pick(runs, f['runs']) if m_spread(s) is not None]
    if len(used) < f.get('needs_runs', 1):
        return None, None, f"none of {', '.join(f['runs'])} finished"
    value = float(np.median([m_spread(s) for s in used]))
    return value, (f'median std/|mean| of final m {value:.3g} over '
                   f'{len(used)} runs (' + ', '.join(
                       f"{s['id'][9:]}: {m_spread(s):.3g}" for s in used)
                   + ')'), None


def stat_total_loss_conserving(runs, f):
    keep = [s for s in runs.values() if s['conserve_total']]
    drop = [s for s in runs.values() if not s['conserve_total']]
    if not keep or not drop:
        return None, None, ('needs a run that conserves the total (7-9) and '
                            'one that does not (1-6)')
    value = max(total_loss(s) for s in keep)
    lost = max(total_loss(s) for s in drop)
    return value, (f'largest relative change of the FFT total {value:.2e} '
                   f'with conservation ({len(keep)} runs), {lost:.2e} '
                   f'without ({len(drop)} runs)'), None


def stat_run_spread(runs, f):
    s = runs.get(f['run'])
    if s is None or m_spread(s) is None:
        return None, None, f"no finished {f['run']} run"
    return m_spread(s), (f"{f['run']}: std/|mean| of final m "
                         f'{m_spread(s):.3g} (mean {s["final"]["m_mean"]:.3g})'
                         ), None


def check_spread_and_negative(runs, f):
    s = runs.get(f['run'])
    others = [m_spread(o) for o in _pick(runs, f['spread_over'])
              if m_spread(o) is not None]
    if s is None or m_spread(s) is None or not others:
        return None, None, (f"needs a finished {f['run']} run and one of "
                            f"{f['spread_over'][0]}..{f['spread_over'][-1]}")
    ref = float(np.median(others))
    neg = s['final']['m_negative']
    ok = m_spread(s) >= f['spread_factor'] * ref and \
        neg >= f['negative_share']
    words = (f"{f['run']}: spread {m_spread(s):.3g} against the median "
             f'{ref:.3g} of {len(others)} runs (x{f["spread_factor"]:g} '
             f'wanted); share of m < 0 {neg:.3f} ({f["negative_share"]:g} '
             f'wanted)')
    return ok, words, None


STATISTICS = {'lambda_m_rank_correlation': stat_lambda_m_rank_correlation,
              'median_m_spread': stat_median_m_spread,
              'total_loss_conserving': stat_total_loss_conserving,
              'run_spread': stat_run_spread}
#: Statistics that decide pass/fail themselves (two conditions at once).
CHECKS = {'run_spread_and_negative': check_spread_and_negative}


def load():
    return (load_yaml(FILE, what='findings file') or {}).get('findings') or []


def check(runs, f):
    out = {'id': f['id'], 'statement': f['statement'], 'blog': None,
           'measured': None, 'value': None, 'baseline': f.get('baseline'),
           'verdict': 'not comparable', 'reason': None}
    if f['statistic'] in CHECKS:
        ok, words, missing = CHECKS[f['statistic']](runs, f)
        out['measured'] = words
        if missing:
            out['reason'] = missing
            return out
        out['verdict'] = 'reproduced' if ok else 'not reproduced'
        return out
    value, words, missing = STATISTICS[f['statistic']](runs, f)
    out['measured'], out['value'] = words, value
    if missing or value is None:
        out['reason'] = missing or 'the statistic is undefined on these runs'
        return out
    ok = bool(OPS[f['compare']](value, f['threshold']))
    out['test'] = f"{value:.3g} {f['compare']} {f['threshold']:g}"
    out['verdict'] = 'reproduced' if ok else 'not reproduced'
    return out


def check_results(results, profile=None):
    """One verdict per finding of the notes over ``results``' runs."""
    runs = newest_runs(results, profile)
    return [check(runs, f) for f in load()]
