"""docs/performance.json and the generated parts of docs/performance.md:
the tables of ``tools/bench.py``'s figures, one section per device kind,
hand-written text around them kept."""
import json
from pathlib import Path

from benchlib.perf import MIB

#: The experiments benchmarked, in the tables' order.
EXPERIMENTS = ('e19098ab', 'bc7db4a2', '54314b33', 'cfcefd21')

MARK = '<!-- bench:{kind}:{edge} (tools/bench.py writes this part) -->'


def load_report(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def merge(old, new):
    """New figures replace old ones per experiment; the rest are kept."""
    if not old:
        return new
    out = dict(new)
    out['experiments'] = {**old.get('experiments', {}),
                          **new['experiments']}
    out['vram'] = {**old.get('vram', {}), **new['vram']}
    return out


# ---------------------------------------------------------------------------
# Markdown

def _mib(b):
    return '—' if b is None else f'{b / MIB:,.0f} MiB'


def _g(flops):
    return f'{flops / 1e9:,.1f}'


def _dur(seconds):
    if seconds < 120:
        return f'{seconds:.1f} s'
    if seconds < 7200:
        return f'{seconds / 60:.1f} min'
    if seconds < 3 * 86400:
        return f'{seconds / 3600:.1f} h'
    return f'{seconds / 86400:.1f} days'


def render(kind, section):
    m = section['machine']
    cpu = m['cpu']
    lines = []
    title = 'GPU' if kind == 'gpu' else 'CPU'
    lines.append(f'## {title}: `{section["device"]}`\n')
    desc = (f"{cpu['model_name']} (vendor {cpu['vendor']}, family "
            f"{cpu['family']} model {cpu['model']}"
            f"{', under a hypervisor' if cpu['hypervisor'] else ''}), "
            f"{cpu['cores']} cores usable, {cpu['mhz']} MHz, "
            f"SIMD {'/'.join(cpu['simd'])}, "
            f"{(cpu['memory_bytes'] or 0) / 2 ** 30:.0f} GiB RAM")
    lines.append(f'- Machine: {desc}')
    if 'gpu' in m:
        g = m['gpu']
        lines.append(f"- GPU: {g['name']}, {g['memory_bytes'] / 2 ** 30:.0f}"
                     f" GiB, CuPy {g['cupy']}, CUDA runtime "
                     f"{g['cuda_runtime']}, cuDNN "
                     f"{'on' if g['cudnn'] else 'off'}")
    lines.append(f"- Software: Python {m['python']} ({m['platform']}), "
                 f"NumPy {m['numpy']}, Chainer {m['chainer']}, BLAS "
                 f"{m['blas']}, {m['blas_threads']}")
    tf32 = None
    if kind == 'gpu':
        peak, how = m['gpu'].get('peak_flops'), m['gpu'].get('peak_source')
        tf32 = m['gpu'].get('tf32_peak_flops')
    else:
        peak, how = m['cpu_peak_flops'], m['cpu_peak_source']
    lines.append(f"- Peak float32 assumed: "
                 f"{'unknown' if peak is None else _g(peak) + ' GFLOP/s'}"
                 f" ({how})")
    if tf32:
        lines.append(f"- Peak TF32 tensor-core assumed: {_g(tf32)} GFLOP/s "
                     f"({m['gpu']['tf32_peak_source']}); CuPy uses it only "
                     f"with CUPY_TF32=1 (this run: "
                     f"{m['gpu'].get('cupy_tf32') or 'unset'})")
    la = section.get('load_average', {})
    if la:
        lines.append(f"- Load average (1/5/15 min) before "
                     f"{'/'.join(f'{v:.2f}' for v in la['before'])}, after "
                     f"{'/'.join(f'{v:.2f}' for v in la['after'])}")
    commands = sorted({e['command'] for e in section['experiments']
                       .values()} | {v['command'] for v in
                                     section['vram'].values()})
    lines.append('- Command' + ('s' if len(commands) > 1 else '') + ': '
                 + ', '.join(f'`{c}`' for c in commands))
    dates = sorted(e['date'] for e in section['experiments'].values())
    if dates:
        lines.append(f'- Measured {dates[0]} .. {dates[-1]}')
    lines.append('')

    exps = [section['experiments'][i] for i in EXPERIMENTS
            if i in section['experiments']]
    exps += [e for i, e in section['experiments'].items()
             if i not in EXPERIMENTS]
    lines.append('### Iteration time, throughput, memory, FLOP/s\n')
    lines.append('| experiment | minibatch x input | iteration, median wall '
                 '(process CPU) | samples/s | peak host RSS | peak GPU pool '
                 '| GFLOP / iteration (3x fwd; executed) | achieved GFLOP/s '
                 '(3x fwd; executed) | of peak |')
    lines.append('|---|---|---|---|---|---|---|---|---|')
    for e in exps:
        its = e['iterations']

        def t(which):
            cpu = its[which].get('median_cpu_s')
            return f"{its[which]['median_s']:.2f} s" + (
                '' if cpu is None or kind == 'gpu' else f' (CPU {cpu:.2f} s)')
        if 'critic' in its:
            it_text = (f"critic {t('critic')}, critic+gen "
                       f"{t('critic+gen')}; mean {e['mean_iteration_s']:.2f}"
                       f" s (n_critic {e['n_critic']})")
        else:
            it_text = t('step')
        gpu_mem = 'n/a (CPU)' if 'gpu_memory' not in e else (
            f"{_mib(e['gpu_memory']['pool_peak_used_bytes'])} used, "
            f"{_mib(e['gpu_memory']['pool_peak_held_bytes'])} held")
        f, a = e['flops_per_iteration'], e['achieved_flops']
        pct = '—' if not peak else \
            f"{100 * a['convention'] / peak:.0f}%; " \
            f"{100 * a['executed'] / peak:.0f}%"
        if tf32:
            pct += f" (TF32: {100 * a['executed'] / tf32:.1f}%)"
        profile = '' if e['profile'] == 'faithful' else f" ({e['profile']})"
        rss = _mib(e['host_memory']['peak_rss_bytes'])
        lines.append(
            f"| {e['id']} {e['kind']}{profile} "
            f"| {e['batch_size']} x 1x{e['crop_frames']}x256 | {it_text} | "
            f"{e['samples_per_s']:.2f} | {rss} | "
            f"{gpu_mem} | {_g(f['convention'])}; {_g(f['executed'])} | "
            f"{_g(a['convention'])}; {_g(a['executed'])} | {pct} |")
    lines.append('')
    lines.append('### Data pipeline and schedule\n')
    lines.append('| experiment | pipeline crops/s | training consumes '
                 'crops/s | validation per epoch | epoch (generated corpus) '
                 '| full schedule (generated corpus) | epoch per 1000 '
                 'utterances | full schedule per 1000 utterances |')
    lines.append('|---|---|---|---|---|---|---|---|')
    for e in exps:
        p = e['projection']
        r = p['per_1000_utterances']
        lines.append(
            f"| {e['id']} | {e['pipeline']['crops_per_s']:,.0f} | "
            f"{e['consumed_crops_per_s']:.2f} | {_dur(e['validation_s'])} "
            f"({e['validation_crops']} crops) | {_dur(p['epoch_s'])} "
            f"({e['train_crops']} crops, {p['iterations_per_epoch']:.1f} "
            f"iterations) | {e['epochs']} epochs: "
            f"{_dur(p['schedule_h'] * 3600)} | "
            f"{_dur(r['epoch_s'])} | {_dur(r['schedule_h'] * 3600)} |")
    lines.append('')
    if section['vram']:
        lines += render_vram(kind, section['vram'])
    return '\n'.join(lines).rstrip() + '\n'


def render_vram(kind, vram):
    lines = ['### VRAM: 54314b33 (256 frames) vs cfcefd21 (64 frames)\n']
    measured = any(v['measured'] for v in vram.values())
    if not measured:
        lines.append('**GPU measurement pending: no GPU in this session.** '
                     'Every figure below is an ESTIMATE made on the CPU, '
                     'not a measurement of GPU memory:\n')
        lines.append('- *estimate* = parameters + their gradients + '
                     "RMSprop's state (3 x 4 bytes per parameter, both "
                     'networks) + BatchNorm statistics + the arrays the '
                     "graph keeps for backward (a walk of the loss's graph "
                     'before backward, the larger of the critic and the '
                     'generator step).  A lower bound: the gradients in '
                     'flight during backward and convolution workspace '
                     '(im2col / cuDNN) are not in it, nor the CUDA context '
                     '(a few hundred MiB on any card).')
        lines.append('- *CPU proxy* = the peak of NumPy allocations '
                     '(tracemalloc) during the same critic and '
                     'critic+generator iterations on the CPU: im2col '
                     'buffers included, as on the CuPy route without '
                     'cuDNN.  Still not GPU memory.')
        lines.append('- largest minibatch: a straight line through the two '
                     'largest minibatches measured, solved for '
                     f"{next(iter(vram.values()))['budget_mib']:.0f} MiB.\n")
    else:
        lines.append("Measured: peak of CuPy's default pool (used = bytes "
                     'in live arrays, held = bytes taken from the device '
                     'including its cache) over one critic and one '
                     'critic+generator iteration; the CUDA context is not '
                     'included.  The largest minibatch is searched '
                     '(doubling, then bisection) with the pool limited to '
                     'the budget (`MemoryPool.set_limit`): it is the largest '
                     'whose two iterations ran without the pool running '
                     'out, measured, not extrapolated.\n')
    head = ('| model | input | params (G + D) | minibatch | '
            + ('estimate | CPU proxy |' if not measured else
               'pool used | pool held | estimate |'))
    lines.append(head)
    lines.append('|' + '---|' * (head.count('|') - 1))
    for key, v in vram.items():
        for r in v['rows']:
            if 'oom' in r:
                lines.append(f"| {v['id']} | 1x{v['frames']}x256 | | "
                             f"{r['batch']} | out of memory | |")
                continue
            params = (f"{v['parameters']['generator'] / 1e6:.1f}M + "
                      f"{v['parameters']['discriminator'] / 1e6:.1f}M")
            if measured:
                tail = (f"{_mib(r['pool_peak_used_bytes'])} | "
                        f"{_mib(r['pool_peak_held_bytes'])} | "
                        f"{_mib(r['estimate_bytes'])} |")
            else:
                tail = (f"{_mib(r['estimate_bytes'])} | "
                        f"{_mib(r['cpu_proxy_bytes'])} |")
            lines.append(f"| {v['id']} | 1x{v['frames']}x256 | {params} | "
                         f"{r['batch']} | {tail}")
    lines.append('')
    budget = next(iter(vram.values()))['budget_mib']
    lines.append(f'Largest minibatch within {budget:.0f} MiB:\n')
    if measured:
        lines.append('| model | input | measured (search) | from the '
                     'estimate |')
        lines.append('|---|---|---|---|')
    else:
        lines.append('| model | input | from the estimate | from the CPU '
                     'proxy | GPU measurement |')
        lines.append('|---|---|---|---|---|')
    for key, v in vram.items():
        def b(fit):
            if not fit:
                return '—'
            return (f"{fit['largest_batch']} ({_mib(fit['fixed_bytes'])} + "
                    f"{_mib(fit['per_sample_bytes'])} per sample)")
        if measured:
            cap = ' (search capped)' if v.get('search_capped') else ''
            lines.append(f"| {v['id']} | 1x{v['frames']}x256 | "
                         f"{v['largest_batch_measured']}{cap} | "
                         f"{b(v['fit_estimate'])} |")
        else:
            lines.append(f"| {v['id']} | 1x{v['frames']}x256 | "
                         f"{b(v['fit_estimate'])} | "
                         f"{b(v.get('fit_cpu_proxy'))} | pending (no GPU) |")
    lines.append('')
    return lines


PLACEHOLDER = {
    'cpu': '## CPU\n\nNot measured yet: `make bench`.\n',
    'gpu': ('## GPU: `@cupy:0`\n\n**GPU measurement pending: no GPU in this '
            'session.**  Run `make bench DEVICE=@cupy:0` on a GPU machine '
            '(on the project\'s: `make gpu-bundle && bash '
            'tools/gpu_check.sh`); it fills this part (iteration times, '
            'pool peaks, and the measured VRAM table).\n'),
}


def write_markdown(path, kind, body):
    """Replaces this device kind's generated part; keeps everything else."""
    path = Path(path)
    text = path.read_text() if path.exists() else (
        '# Performance\n\n' + ''.join(
            f"{MARK.format(kind=k, edge='begin')}\n{PLACEHOLDER[k]}"
            f"{MARK.format(kind=k, edge='end')}\n\n" for k in ('cpu', 'gpu')))
    begin, end = MARK.format(kind=kind, edge='begin'), MARK.format(
        kind=kind, edge='end')
    block = f'{begin}\n{body}{end}'
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        text = head + block + tail
    else:
        text = text.rstrip() + '\n\n' + block + '\n'
    path.write_text(text)

