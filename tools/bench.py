"""make bench: every experiment at its faithful size, on the device given.

For each experiment (e19098ab, bc7db4a2, 54314b33, cfcefd21), in a child
process of its own (so its peak host memory is its own), at the faithful
configuration's minibatch and input length (benchlib/iterations.py):

* the median time of a full training iteration after warm-up: the Trainer
  built by the experiment's recipe (``build_trainer``, every extension of
  a run), run for a few iterations; an iteration is everything between two
  iterations (next batch, converter, forward, backward, optimizer update,
  the per-iteration extensions).  Iterations that end an epoch (validation,
  logs, plots) are left out and the validation is timed on its own.
  StarGAN: critic-only iterations and critic+generator iterations apart,
  and their mean per iteration given ``n_critic``;
* samples (crops) per second; the data pipeline's crops per second through
  the training iterator (SerialIterator + converter, features cached);
* peak host memory (VmHWM of the child, and ru_maxrss as the parent sees
  it); peak GPU memory of CuPy's pool on a GPU;
* FLOPs per iteration from the layer shapes (benchlib/flops.py, counted by
  benchlib/perf.py) and the FLOP/s achieved, beside the device's peak;
* time per epoch and for the blog's schedule, on the generated corpus and
  per 1000 utterances of real data.

Then the VRAM argument of 54314b33 / cfcefd21 (benchlib/vram.py): on a GPU
the pool's peak at minibatch 2 and the largest minibatch within 3017 MiB,
measured; on the CPU an estimate, labelled as one.

Writes ``docs/performance.json`` (a section per device kind) and the
generated part of ``docs/performance.md`` (benchlib/report.py); ``--only``
replaces only the experiments given.  Usage::

    .venv/bin/python tools/bench.py [--device @numpy|@cupy:0] [--only ID]
        [--warmup 2] [--iters 5] [--gen-iters 2] [--no-vram]
"""
import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import perf
from benchlib.iterations import bench_experiment
from benchlib.report import (EXPERIMENTS, load_report, merge, render,
                             write_markdown)
from benchlib.vram import BLOG_VRAM_MIB, VRAM_CASES, vram_experiment
from vox.base.paths import REPO, git_revision


def device_kind(spec):
    spec = (spec or '@numpy').strip()
    if spec.startswith('@cupy') or (spec.isdigit() and int(spec) >= 0):
        return 'gpu'
    return 'cpu'



# ---------------------------------------------------------------------------
# Parent

def child_command(args, *extra):
    cmd = [sys.executable, str(Path(__file__).resolve()),
           '--device', args.device, '--warmup', str(args.warmup),
           '--iters', str(args.iters), '--gen-iters', str(args.gen_iters),
           '--classes', args.classes,
           '--vram-budget-mib', str(args.vram_budget_mib),
           '--vram-max-batch', str(args.vram_max_batch),
           '--vram-batches', *map(str, args.vram_batches)]
    if args.profile:
        cmd += ['--profile', args.profile]
    if args.corpus:
        cmd += ['--corpus', args.corpus]
    return cmd + list(extra)


def run_child(cmd, label):
    """Runs a child; returns (result dict, ru_maxrss bytes, log path)."""
    with tempfile.NamedTemporaryFile('w', suffix='.json', delete=False) as f:
        result_path = f.name
    log_path = result_path[:-5] + '.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(cmd + ['--result', result_path],
                                stdout=log, stderr=subprocess.STDOUT,
                                cwd=REPO)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        with open(log_path) as f:
            tail = f.read()[-3000:]
        print(f'bench: {label} failed (exit {proc.returncode}); log '
              f'{log_path}:\n{tail}', file=sys.stderr)
        return None, None, log_path
    with open(result_path) as f:
        result = json.load(f)
    os.unlink(result_path)
    os.unlink(log_path)
    return result, usage.ru_maxrss * 1024, None


def machine(args):
    import chainer
    import numpy
    cpu = perf.cpu_description()
    peak, peak_how = perf.cpu_peak_flops(cpu)
    desc = {'cpu': cpu, 'cpu_peak_flops': peak, 'cpu_peak_source': peak_how,
            'python': platform.python_version(),
            'platform': platform.platform(),
            'numpy': numpy.__version__, 'chainer': chainer.__version__,
            'blas': perf.blas_description(),
            'blas_threads': perf.blas_threads(),
            'git': git_revision(REPO, short=True)}
    if device_kind(args.device) == 'gpu':
        desc['gpu'] = perf.gpu_description()
    return desc


def main(argv=None):
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    ap = argparse.ArgumentParser(
        description=__doc__.split('\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--device', default='@numpy',
                    help="'@numpy' (default) or '@cupy:0'")
    ap.add_argument('--only', nargs='+', metavar='ID',
                    help='experiments to run (default: '
                    f"{' '.join(EXPERIMENTS)}); the others keep their "
                    'previous figures')
    ap.add_argument('--warmup', type=int, default=2,
                    help='iterations left out first (default 2; StarGAN '
                    'critic+gen iterations: at most 1)')
    ap.add_argument('--iters', type=int, default=5,
                    help='timed iterations (default 5)')
    ap.add_argument('--gen-iters', type=int, default=2,
                    help='timed StarGAN critic+generator iterations '
                    '(default 2)')
    ap.add_argument('--classes', choices=('blog', 'corpus'), default='blog',
                    help="head sizes: the blog's 1421/53/2 (default) or the "
                    "corpus's class counts")
    ap.add_argument('--profile', help='a config profile instead of the '
                    'faithful configuration (for trying the tool)')
    ap.add_argument('--corpus', help='CORPUS= for the crops (default synth)')
    ap.add_argument('--no-vram', action='store_true',
                    help='skip the VRAM argument')
    ap.add_argument('--vram-budget-mib', type=float, default=BLOG_VRAM_MIB)
    ap.add_argument('--vram-batches', type=int, nargs='+', default=[1, 2, 4],
                    help='minibatches measured for the VRAM table (default '
                    '1 2 4; 2 is the blog\'s)')
    ap.add_argument('--vram-max-batch', type=int, default=1024,
                    help='GPU search cap (default 1024)')
    ap.add_argument('--json', help='default docs/performance.json')
    ap.add_argument('--md', help='default docs/performance.md')
    ap.add_argument('--no-write', action='store_true',
                    help='print the tables, write nothing')
    ap.add_argument('--child', help=argparse.SUPPRESS)
    ap.add_argument('--child-vram', help=argparse.SUPPRESS)
    ap.add_argument('--frames', type=int, help=argparse.SUPPRESS)
    ap.add_argument('--result', help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.child or args.child_vram:  # one experiment, in its own process
        if args.child:
            result = bench_experiment(args.child, args)
        else:
            result = vram_experiment(args.child_vram, args.frames, args)
        with open(args.result, 'w') as f:
            json.dump(result, f)
        return 0

    from vox.base.errors import VoxError
    from vox.base.device import get_device
    from vox.config import known_ids
    try:
        get_device(args.device)  # a clear error before any child starts
        unknown = [i for i in args.only or () if i not in known_ids()]
        if unknown:
            raise VoxError(f"--only {' '.join(unknown)}: unknown ID; "
                           f"benchmarked: {' '.join(EXPERIMENTS)}")
    except VoxError as e:
        print(f'bench: error: {e}', file=sys.stderr)
        return 2
    if args.profile and not args.no_write and not (args.json and args.md):
        print('bench: error: --profile measures other models than the '
              'faithful ones; give --no-write, or --json and --md outside '
              'docs/', file=sys.stderr)
        return 2
    args.json = args.json or str(REPO / 'docs' / 'performance.json')
    args.md = args.md or str(REPO / 'docs' / 'performance.md')
    kind = device_kind(args.device)
    ids = [i for i in EXPERIMENTS if not args.only or i in args.only]
    ids += [i for i in args.only or () if i not in ids]
    exe = Path(sys.executable)
    exe = (str(exe.relative_to(REPO)) if exe.is_relative_to(REPO)
           else exe.name)  # e.g. python3 on a GPU machine, no venv
    env = [f'{k}={os.environ[k]}' for k in ('CUPY_TF32',) if k in os.environ]
    command = ' '.join(shlex.quote(a) for a in
                       env + [exe, 'tools/bench.py']
                       + list(argv if argv is not None else sys.argv[1:]))
    section = {'device': args.device, 'machine': machine(args),
               'command': command, 'experiments': {}, 'vram': {}}
    load_before = os.getloadavg()
    failed = False
    for exp_id in ids:
        print(f'bench: {exp_id} on {args.device} ...', flush=True)
        t0 = time.time()
        result, maxrss, _ = run_child(child_command(args, '--child', exp_id),
                                      exp_id)
        if result is None:
            failed = True
            continue
        result['host_memory']['ru_maxrss_bytes'] = maxrss
        result['command'] = command
        result['date'] = datetime.datetime.now().isoformat(timespec='seconds')
        section['experiments'][exp_id] = result
        print(f'bench: {exp_id}: {result["mean_iteration_s"]:.3f} s per '
              f'iteration, {result["samples_per_s"]:.2f} samples/s '
              f'({time.time() - t0:.0f} s)', flush=True)
    if not args.no_vram:
        for exp_id, frames in VRAM_CASES:
            if args.only and exp_id not in args.only:
                continue
            label = f'VRAM {exp_id}' + (f' at {frames} frames' if frames
                                       else '')
            print(f'bench: {label} ...', flush=True)
            extra = ['--child-vram', exp_id]
            if frames:
                extra += ['--frames', str(frames)]
            result, _, _ = run_child(child_command(args, *extra), label)
            if result is None:
                failed = True
                continue
            result['command'] = command
            result['date'] = datetime.datetime.now().isoformat(
                timespec='seconds')
            section['vram'][f'{exp_id}@{result["frames"]}'] = result
    section['load_average'] = {'before': load_before,
                               'after': os.getloadavg()}

    report = load_report(args.json)
    merged = merge(report.get(kind), section)
    report[kind] = merged
    md = render(kind, merged)
    if args.no_write:
        print(md)
    else:
        Path(args.json).write_text(json.dumps(report, indent=1,
                                              default=float) + '\n')
        write_markdown(args.md, kind, md)
        print(f'bench: wrote {args.json} and {args.md}')
    return 1 if failed else 0



if __name__ == '__main__':
    sys.exit(main())
