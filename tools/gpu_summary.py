"""The last step of tools/gpu_check.sh: summary.json and summary.md.

    python tools/gpu_summary.py RESULTS_DIR [--nccl NAIVE_RUN PURE_NCCL_RUN]

Reads what the earlier steps left in RESULTS_DIR (steps.jsonl, the bench's
performance.json, the CUPY_TF32=1 bench's tf32.json, tools/vs_torch.py's
vs_torch.json; any may be missing when a run was cut short) and writes the
step table, the machine and versions, per-experiment iteration times with
and without TF32 (their ratio: both measured by the same script on the same
GPU, one after the other), the measured VRAM table's largest minibatches,
the vox / PyTorch table, and, with --nccl, how the training log of the
1-rank `pure_nccl` run differs from the `naive` one's (ChainerMN's `log`
of each run folder).
"""
import argparse
import json
import sys
from pathlib import Path

import vs_torch  # tools/ beside this file; its table needs no torch

#: Log keys that differ between two runs by nature, not by the training.
UNCOMPARED = ('elapsed_time',)


def _load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def compare_logs(naive_run, pure_run):
    """How two runs' ChainerMN/LogReport logs differ: entries, keys, the
    largest relative difference |a - b| / max(|a|, |b|) and where.  A run
    folder without a log gives ``{'missing': [...]}``."""
    logs, missing = [], []
    for run in (naive_run, pure_run):
        log = _load(Path(run) / 'log')
        if log is None:
            missing.append(str(run))
        logs.append(log)
    if missing:
        return {'missing': missing}
    a, b = logs
    out = {'entries': [len(a), len(b)], 'max_rel_diff': 0.0, 'worst': None,
           'keys_differ': []}
    for i, (x, y) in enumerate(zip(a, b)):
        for key in sorted(set(x) | set(y)):
            if key in UNCOMPARED:
                continue
            if key not in x or key not in y:
                if key not in out['keys_differ']:
                    out['keys_differ'].append(key)
                continue
            u, v = x[key], y[key]
            if not all(isinstance(t, (int, float)) for t in (u, v)):
                continue
            rel = abs(u - v) / max(abs(u), abs(v), 1e-30)
            if rel > out['max_rel_diff']:
                out['max_rel_diff'] = rel
                out['worst'] = {'entry': i, 'key': key, 'naive': u,
                                'pure_nccl': v}
    out['identical'] = (out['max_rel_diff'] == 0 and not out['keys_differ']
                        and len(a) == len(b))
    return out


def summarise(results, nccl=None):
    results = Path(results)
    steps = []
    try:
        for line in (results / 'steps.jsonl').read_text().splitlines():
            if line.strip():
                steps.append(json.loads(line))
    except OSError:
        pass
    bench = (_load(results / 'performance.json') or {}).get('gpu') or {}
    tf32 = (_load(results / 'tf32.json') or {}).get('gpu') or {}
    out = {'steps': steps, 'machine': bench.get('machine') or
           tf32.get('machine'), 'experiments': {}, 'vram': {},
           'vs_torch': _load(results / 'vs_torch.json'),
           'nccl': compare_logs(*nccl) if nccl else None}
    for exp_id, e in (bench.get('experiments') or {}).items():
        row = {'mean_iteration_s': e['mean_iteration_s'],
               'samples_per_s': e['samples_per_s'],
               'achieved_flops_executed': e['achieved_flops']['executed'],
               'pool_peak_held_bytes': (e.get('gpu_memory') or {}).get(
                   'pool_peak_held_bytes')}
        on = (tf32.get('experiments') or {}).get(exp_id)
        if on:
            row['tf32_mean_iteration_s'] = on['mean_iteration_s']
            row['tf32_speedup'] = (e['mean_iteration_s']
                                   / on['mean_iteration_s'])
        out['experiments'][exp_id] = row
    for key, v in (bench.get('vram') or {}).items():
        out['vram'][key] = {
            'rows': [{'batch': r['batch'],
                      'pool_peak_held_bytes': r.get('pool_peak_held_bytes'),
                      'oom': 'oom' in r} for r in v['rows']],
            'largest_batch_measured': v.get('largest_batch_measured'),
            'pool_limit_bytes': v.get('pool_limit_bytes')}
    return out


def markdown(s):
    mib = 2 ** 20
    lines = ['# GPU check (tools/gpu_check.sh)\n']
    m = s.get('machine') or {}
    g = m.get('gpu') or {}
    if m:
        lines.append(f"- {g.get('name', '?')}, CuPy {g.get('cupy', '?')}, "
                     f"CUDA runtime {g.get('cuda_runtime', '?')}, cuDNN "
                     f"{'on' if g.get('cudnn') else 'off'}; Python "
                     f"{m.get('python')}, NumPy {m.get('numpy')}, Chainer "
                     f"{m.get('chainer')}; vox {m.get('git')}\n")
    lines += ['| step | status | seconds |', '|---|---|---|']
    lines += [f"| {st['step']} | {st['status']} | {st['seconds']} |"
              for st in s['steps']]
    lines.append('')
    if s['experiments']:
        lines += ['| experiment | iteration | samples/s | executed GFLOP/s '
                  '| pool held | with CUPY_TF32=1 | TF32 speed-up |',
                  '|---|---|---|---|---|---|---|']
        for exp_id, e in s['experiments'].items():
            held = e['pool_peak_held_bytes']
            on = e.get('tf32_mean_iteration_s')
            speedup = e.get('tf32_speedup')
            lines.append(
                f"| {exp_id} | {e['mean_iteration_s'] * 1e3:.1f} ms | "
                f"{e['samples_per_s']:.1f} | "
                f"{e['achieved_flops_executed'] / 1e9:,.0f} | "
                f"{'—' if held is None else f'{held / mib:,.0f} MiB'} | "
                f"{'—' if on is None else f'{on * 1e3:.1f} ms'} | "
                f"{'—' if speedup is None else f'{speedup:.2f}x'} |")
        lines.append('')
    if s['vram']:
        lines += ['| model@frames | minibatch: pool held | largest '
                  'minibatch under the pool limit |', '|---|---|---|']
        for key, v in s['vram'].items():
            rows = ', '.join(
                f"{r['batch']}: " + ('OOM' if r['oom'] else
                                     f"{r['pool_peak_held_bytes'] / mib:,.0f}"
                                     f" MiB") for r in v['rows'])
            limit = v.get('pool_limit_bytes')
            lines.append(f"| {key} | {rows} | "
                         f"{v.get('largest_batch_measured')} "
                         f"({'' if limit is None else f'{limit / mib:.0f} MiB'})"
                         f" |")
        lines.append('')
    if s.get('vs_torch') and s['vs_torch'].get('rows'):
        lines += ['## vox / PyTorch (tools/vs_torch.py)', '',
                  vs_torch.markdown(s['vs_torch'])]
    n = s.get('nccl')
    if n:
        lines.append('## ChainerMN, 1 rank: pure_nccl against naive '
                     '(cfcefd21 test profile)\n')
        if 'missing' in n:
            lines.append(f"No log in {', '.join(n['missing'])} (see the "
                         f"mn-* steps in progress.log).")
        elif n['identical']:
            lines.append(f"Logs identical ({n['entries'][0]} entries; "
                         f"{', '.join(UNCOMPARED)} not compared).")
        else:
            w = n['worst'] or {}
            lines.append(
                f"Logs differ: {n['entries'][0]} / {n['entries'][1]} entries"
                + (f", keys in one only: {', '.join(n['keys_differ'])}"
                   if n['keys_differ'] else '')
                + (f"; largest relative difference {n['max_rel_diff']:.1e} "
                   f"({w['key']} at entry {w['entry']}: naive {w['naive']}, "
                   f"pure_nccl {w['pure_nccl']})" if w else '') + '.')
        lines.append('')
    lines.append('Full tables: performance.md (make bench DEVICE=@cupy:0).')
    return '\n'.join(lines) + '\n'


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('results', nargs='?', default='gpu-results')
    ap.add_argument('--nccl', nargs=2, metavar=('NAIVE_RUN', 'PURE_NCCL_RUN'))
    args = ap.parse_args(argv[1:])
    results = Path(args.results)
    s = summarise(results, args.nccl)
    (results / 'summary.json').write_text(json.dumps(s, indent=1) + '\n')
    (results / 'summary.md').write_text(markdown(s))
    print((results / 'summary.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
