"""The last step of tools/gpu_check.sh: summary.json and summary.md.

    python tools/gpu_summary.py RESULTS_DIR

Reads what the earlier steps left in RESULTS_DIR (steps.jsonl, the bench's
performance.json, the CUPY_TF32=1 bench's tf32.json; any may be missing
when a run was cut short) and writes the step table, the machine and
versions, per-experiment iteration times with and without TF32 (their
ratio: both measured by the same script on the same GPU, one after the
other) and the measured VRAM table's largest minibatches.
"""
import json
import sys
from pathlib import Path


def _load(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def summarise(results):
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
           tf32.get('machine'), 'experiments': {}, 'vram': {}}
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
    lines.append('Full tables: performance.md (make bench DEVICE=@cupy:0).')
    return '\n'.join(lines) + '\n'


def main(argv):
    results = Path(argv[1] if len(argv) > 1 else 'gpu-results')
    s = summarise(results)
    (results / 'summary.json').write_text(json.dumps(s, indent=1) + '\n')
    (results / 'summary.md').write_text(markdown(s))
    print((results / 'summary.md').read_text())
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
