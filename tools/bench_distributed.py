"""Communication of a distributed run: bytes all-reduced and all-reduce time.

Run under MPI, e.g. ``.venv/bin/mpiexec -n 2 .venv/bin/python
tools/bench_distributed.py`` (docs/distributed.md).  For every experiment:

* faithful models (the blog's head sizes, 1421/53/2 classes, as
  ``make bench`` uses): the bytes one optimizer step all-reduces (every
  float32 gradient of the optimizer's link) and the median wall time of
  ChainerMN's ``multi_node_mean_grad`` on them (``--repeat`` times);
* a short 2-rank training of the ``--profile`` (default smoke) through the
  experiment's own Trainer: per iteration, the time inside
  ``multi_node_mean_grad`` against the rest of ``updater.update()``.

Rank 0 prints a JSON object.
"""
import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import vox.compat  # noqa: E402,F401  (before chainer: Chainer today)
import chainer  # noqa: E402
import numpy as np  # noqa: E402

from vox.config import load_config  # noqa: E402
from vox.data.sources import load_data  # noqa: E402
from vox.runs.runner import seed_everything  # noqa: E402
from vox.training import distributed  # noqa: E402
from vox.training.registry import trainer_module  # noqa: E402

IDS = ['e19098ab', 'bc7db4a2', '54314b33', 'cfcefd21']
BLOG_CLASSES = (1421, 53, 2)


def gradient_bytes(link):
    return sum(p.size * p.dtype.itemsize for p in link.params()
               if p.array is not None)


def time_allreduce(parallel, link, repeat):
    for p in link.params():
        p.grad = np.zeros_like(p.array)
    times = []
    for _ in range(repeat):
        parallel.comm.mpi_comm.Barrier()
        t = time.perf_counter()
        parallel.comm.multi_node_mean_grad(link)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def faithful(parallel, exp_id, repeat):
    config = load_config(exp_id)
    module = trainer_module(config.kind)
    np.random.seed(0)
    models = module.build_models(config, BLOG_CLASSES)
    out = {}
    for name, link in models.items():
        out[name] = {'bytes': gradient_bytes(link),
                     'allreduce_s': time_allreduce(parallel, link, repeat)}
    return out


def training_split(parallel, exp_id, profile, iterations):
    """(allreduce seconds, update seconds) per iteration, medians."""
    config = load_config(exp_id, profile)
    if parallel.is_writer:
        data = load_data(config.data, config.seed)  # builds the cache first
    parallel.broadcast(None)
    if not parallel.is_writer:
        data = load_data(config.data, config.seed)
    device = chainer.get_device('@numpy')
    seed_everything(config.seed, device)
    module = trainer_module(config.kind)
    with tempfile.TemporaryDirectory() as out:
        trainer = parallel.apply(
            module.build_trainer(config, data, Path(out), device))
    comm = parallel.comm
    spent = []
    original = comm.multi_node_mean_grad

    def timed(link, zero_fill=False):
        t = time.perf_counter()
        original(link, zero_fill)
        spent.append(time.perf_counter() - t)
    comm.multi_node_mean_grad = timed
    rows = []
    for i in range(iterations):
        spent.clear()
        comm.mpi_comm.Barrier()
        t = time.perf_counter()
        trainer.updater.update()
        total = time.perf_counter() - t
        rows.append((sum(spent), total, len(spent)))
    rows = rows[2:]  # warm-up
    return {'profile': profile, 'iterations_timed': len(rows),
            'allreduce_s': float(np.median([r[0] for r in rows])),
            'update_s': float(np.median([r[1] for r in rows])),
            'allreduces_per_iteration': float(np.mean([r[2] for r in rows]))}


#: Assumed, not measured (no GPU here): sustained float32 FLOP/s of one
#: GPU on these convolutions, and link rates (bytes/s, line rate).
GPU_FLOPS = 20e12
LINKS = {'NVLink (300 GB/s)': 300e9, '100 Gb/s Ethernet': 12.5e9,
         '25 Gb/s Ethernet': 3.125e9}
LATENCY = {'NVLink (300 GB/s)': 5e-6, '100 Gb/s Ethernet': 20e-6,
           '25 Gb/s Ethernet': 20e-6}


def project(perf_json, ranks=range(1, 9)):
    """Markdown: projected seconds per iteration, from make bench's
    executed FLOPs and parameter counts (docs/performance.json).

    T(N) = C / N + A(N),  C = executed FLOPs per iteration / GPU_FLOPS,
    A(N) = 2 (N - 1) / N * S / bandwidth + 2 (N - 1) * latency (ring
    all-reduce), S = float32 gradient bytes all-reduced per iteration
    (StarGAN: the critic every iteration, the generator every n_critic).
    """
    with open(perf_json) as f:
        experiments = json.load(f)['cpu']['experiments']
    lines = ['| experiment | B | S (MB/iter) | C (s, 1 GPU) | link | '
             + ' | '.join(f'N={n}' for n in ranks) + ' |',
             '|---|---|---|---|---|' + '---|' * len(ranks)]
    for exp_id, e in experiments.items():
        params = e['parameters']
        n_critic = e.get('n_critic', 1)
        s = 4 * sum(v / (n_critic if k == 'gen' else 1)
                    for k, v in params.items())
        c = e['flops_per_iteration']['executed'] / GPU_FLOPS
        for link, bw in LINKS.items():
            cells = []
            for n in ranks:
                if e['batch_size'] % n:
                    cells.append('-')
                    continue
                a = 2 * (n - 1) / n * s / bw + 2 * (n - 1) * LATENCY[link]
                cells.append(f'{c / n + a:.3f}')
            lines.append(f'| {exp_id} | {e["batch_size"]} | {s / 1e6:.0f} '
                         f'| {c:.3f} | {link} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def main():
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--project', metavar='PERFORMANCE_JSON',
                   help='print the projection table (no MPI needed)')
    p.add_argument('--only', nargs='*', default=IDS)
    p.add_argument('--repeat', type=int, default=5)
    p.add_argument('--profile', default='smoke')
    p.add_argument('--iterations', type=int, default=12)
    args = p.parse_args()
    if args.project:
        print(project(args.project))
        return
    parallel, _, name = distributed.start('@numpy')
    result = {'ranks': parallel.size, 'communicator': name,
              'command': ' '.join(sys.argv), 'experiments': {}}
    for exp_id in args.only:
        result['experiments'][exp_id] = {
            'faithful': faithful(parallel, exp_id, args.repeat),
            'training': training_split(parallel, exp_id, args.profile,
                                       args.iterations)}
        if parallel.is_writer:
            print(exp_id, json.dumps(result['experiments'][exp_id]),
                  file=sys.stderr, flush=True)
    if parallel.is_writer:
        print(json.dumps(result, indent=1))


if __name__ == '__main__':
    main()
