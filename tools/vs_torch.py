"""vox against PyTorch: one training step of each experiment, same device.

What it compares: vox's own Links (Chainer 7.8.1; on a GPU CuPy's im2col +
cuBLAS, no cuDNN) against layer-for-layer PyTorch twins
(tools/vs_torch_twins.py; on a GPU with cuDNN), one training step each
(forward, loss, backward, RMSprop update) at the experiment's faithful
minibatch and input (experiments/<ID>/config.yaml), the blog's head sizes
(1421/53/2) and width 1.0 unless told otherwise:

    e19098ab classifier, bc7db4a2 AutoEncoder, and the critic (WGAN-GP)
    and generator steps of 54314b33 and cfcefd21.

Run (torch is not a vox dependency):

    # a GPU machine with PyTorch (tools/gpu_check.sh runs this):
    python tools/vs_torch.py --device @cupy:0 --json vs_torch.json --md vs_torch.md
    # a CPU, torch in a venv of its own with vox's requirements:
    PYTHONPATH=. <venv>/bin/python tools/vs_torch.py --device @numpy [--threads 1] [--stock]

The sides.  ``@cupy:N``: vox with TF32 off and on (CuPy's float32 compute
type, switched between steps: ``set_compute_type``, what ``CUPY_TF32=1``
sets at start), and PyTorch on ``cuda:N`` with ``cudnn.benchmark`` off
and on, each with TF32 off and on (``fp32_precision`` 'ieee' / 'tf32' for
cuBLAS matmuls and cuDNN convolutions; PyTorch's own default is TF32 for
convolutions only).  ``@numpy``: vox (vox.cpu_fast installed), PyTorch on
the CPU, and with ``--stock`` Chainer with vox.cpu_fast uninstalled.

Before timing, per model pair: parameter names, shapes and total count
compared (a mismatch stops the run), Chainer's weights copied into the
twin, a no-grad forward on 2 samples compared (max |difference| /
max |chainer|), and the first training step's loss compared (vox and
PyTorch, both TF32 off, same weights, inputs and gradient-penalty eps;
a relative difference over 1e-3 is reported and makes the exit status 1).
Timing: ``--warmup`` steps per side, then ``--steps`` rounds, each one step
of every side, the order rotated each round; every step starts and ends
with both devices synchronised (``cupy.cuda.Device.synchronize``,
``torch.cuda.synchronize``) and ``gc.collect()`` untimed before it.
Median wall time (perf_counter) per side; the process CPU time beside it
on the CPU.
"""
import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

import numpy

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

# The StarGANs first: a run cut short by tools/gpu_check.sh's limit keeps
# the rows it finished (written after each experiment).
EXPERIMENTS = ('cfcefd21', '54314b33', 'e19098ab', 'bc7db4a2')
#: First-step losses further apart than this (relative) are reported.
LOSS_TOLERANCE = 1e-3


def side_name(framework, tf32, benchmark=False):
    return (f"{framework} {'tf32' if tf32 else 'fp32'}"
            + (' cudnn.benchmark' if benchmark else ''))


def sides_for(gpu, stock=False):
    """``[(name, framework, tf32, benchmark)]`` of one device."""
    if gpu:
        out = [(side_name('vox', t), 'vox', t, False) for t in (False, True)]
        out += [(side_name('torch', t, b), 'torch', t, b)
                for t in (False, True) for b in (False, True)]
        return out
    out = [(side_name('vox', False), 'vox', False, False)]
    if stock:
        out.append((side_name('stock', False), 'stock', False, False))
    return out + [(side_name('torch', False), 'torch', False, False)]


# ------------------------------------------------------------ the table

def _ms(v):
    if v is None:
        return '—'
    return f'{v:.1f} ms' if v < 1000 else f'{v / 1000:.2f} s'


def markdown(data):
    """The table of a run's JSON (also used by tools/gpu_summary.py): one
    line per step and precision, vox's median against each PyTorch
    setting's, and their ratio (above 1: vox is slower)."""
    m = data.get('machine') or {}
    lines = [f"vox against PyTorch on `{data.get('device')}` "
             f"({m.get('device_name', '?')}; Chainer {m.get('chainer')}, "
             f"CuPy {m.get('cupy', '—')}, PyTorch {m.get('torch')}, cuDNN "
             f"{m.get('cudnn', '—')}); median of {data.get('steps')} "
             f"interleaved steps after {data.get('warmup')} of warm-up, "
             f"width {data.get('width')}.", '',
             '| step (minibatch x input) | precision | vox | PyTorch | '
             'PyTorch, cudnn.benchmark | vox / PyTorch | '
             'vox / PyTorch, cudnn.benchmark | first-step loss, rel. diff |',
             '|---|---|---|---|---|---|---|---|']
    for row in data.get('rows', []):
        med = {k: v['median_ms'] for k, v in row['sides'].items()}
        loss = row.get('first_loss') or {}
        for tf32 in (False, True):
            vox = med.get(side_name('vox', tf32))
            if vox is None:
                continue
            plain = med.get(side_name('torch', tf32))
            bench = med.get(side_name('torch', tf32, True))
            ratio = [('—' if t is None else f'{vox / t:.2f}')
                     for t in (plain, bench)]
            rel = loss.get('rel_diff')
            lines.append(
                f"| {row['label']} ({row['batch']} x {row['input']}) | "
                f"{'TF32' if tf32 else 'FP32'} | {_ms(vox)} | {_ms(plain)} | "
                f"{_ms(bench)} | {ratio[0]} | {ratio[1]} | "
                + ('—' if tf32 or rel is None else f'{rel:.1e}'
                   + ('' if loss.get('ok') else ' MISMATCH')) + ' |')
        stock = med.get(side_name('stock', False))
        if stock is not None:
            plain = med.get(side_name('torch', False))
            lines.append(f"| {row['label']} ({row['batch']} x {row['input']})"
                         f" | FP32, stock Chainer | {_ms(stock)} | "
                         f"{_ms(plain)} | — | {stock / plain:.2f} | — | — |")
    return '\n'.join(lines) + '\n'


# ------------------------------------------------------------ measuring

class Bench:
    """The device, the switches of every side, and the timing loop."""

    def __init__(self, device_spec, torch_threads=None):
        # Deferred: torch is optional (only this measurement needs it), and
        # markdown() above must load without it for tools/gpu_summary.py.
        from vox import compat  # noqa: F401  (before chainer: Chainer today)
        import chainer
        import torch
        from vox import cpu_fast
        from vox.base.device import get_device
        self.chainer, self.torch, self.cpu_fast = chainer, torch, cpu_fast
        self.device = get_device(device_spec)
        self.gpu = self.device.xp is not numpy
        if self.gpu:
            self.device.use()
            self.tdev = torch.device(f'cuda:{self.device.device.id}')
            torch.cuda.set_device(self.tdev)
        else:
            self.tdev = torch.device('cpu')
            if torch_threads:
                torch.set_num_threads(torch_threads)
                try:  # vox's BLAS too, so both sides use as many threads
                    import threadpoolctl  # optional, as torch is
                    self.blas_limit = threadpoolctl.threadpool_limits(
                        torch_threads, user_api='blas')
                except ImportError:
                    print('vs_torch: no threadpoolctl: OpenBLAS keeps its '
                          'own thread count', file=sys.stderr)
        cpu_fast.install_for_run()  # as a vox run does
        self.fast_default = cpu_fast.installed()

    # -- switches
    def set_vox_tf32(self, on):
        """CuPy's float32 matmul compute type (cuBLAS
        CUBLAS_COMPUTE_32F_FAST_TF32 or CUBLAS_COMPUTE_32F), which Chainer's
        im2col convolutions and linear layers reach through
        cupy.tensordot; returns the type CuPy reports back.

        CuPy keeps the COMPUTE_TYPE_* constants at C level; 7 and 1 are the
        numbers its ``compute_type_to_str`` names COMPUTE_TYPE_TF32 and
        COMPUTE_TYPE_DEFAULT (checked with cupy-cuda13x 14.2.0).
        """
        from cupy._core import _routines_linalg as linalg
        want = 'COMPUTE_TYPE_TF32' if on else 'COMPUTE_TYPE_DEFAULT'
        code = 7 if on else 1
        if linalg.compute_type_to_str(code) != want:
            raise RuntimeError(f'this CuPy names compute type {code} '
                               f'{linalg.compute_type_to_str(code)}, not '
                               f'{want}')
        linalg.set_compute_type(numpy.float32, code)
        got = linalg.compute_type_to_str(
            linalg.get_compute_type(numpy.float32))
        if got != want:
            raise RuntimeError(f'CuPy kept {got} for float32, not {want}')
        return got

    def set_torch(self, tf32, benchmark):
        """TF32 for cuBLAS matmuls and cuDNN convolutions through the
        ``fp32_precision`` API where it exists (PyTorch >= 2.9: mixing it
        with the older ``allow_tf32`` flags raises), else ``allow_tf32``."""
        b = self.torch.backends
        if hasattr(getattr(b.cudnn, 'conv', None), 'fp32_precision'):
            b.cuda.matmul.fp32_precision = 'tf32' if tf32 else 'ieee'
            b.cudnn.conv.fp32_precision = 'tf32' if tf32 else 'ieee'
            state = (f'matmul {b.cuda.matmul.fp32_precision}, conv '
                     f'{b.cudnn.conv.fp32_precision}')
        else:
            b.cuda.matmul.allow_tf32 = tf32
            b.cudnn.allow_tf32 = tf32
            state = (f'matmul allow_tf32 {b.cuda.matmul.allow_tf32}, cudnn '
                     f'allow_tf32 {b.cudnn.allow_tf32}')
        b.cudnn.benchmark = benchmark
        return f'{state}, cudnn.benchmark {b.cudnn.benchmark}'

    def apply(self, framework, tf32, benchmark):
        if framework == 'torch':
            return self.set_torch(tf32, benchmark)
        if self.gpu:
            return 'compute type ' + self.set_vox_tf32(tf32)
        (self.cpu_fast.install if framework == 'vox'
         else self.cpu_fast.uninstall)()
        return f'cpu_fast installed {self.cpu_fast.installed()}'

    def restore(self):
        if self.gpu:
            self.set_vox_tf32(False)
            self.set_torch(False, False)
        (self.cpu_fast.install if self.fast_default
         else self.cpu_fast.uninstall)()

    def sync(self):
        if self.gpu:
            self.device.device.synchronize()
            self.torch.cuda.synchronize(self.tdev)

    # -- data
    def send(self, a):
        return self.device.send(a)

    def tensor(self, a):
        return self.torch.from_numpy(a).to(self.tdev)

    # -- timing
    def time_sides(self, sides, fns, warmup, steps):
        """First losses, the settings each side ran with, and the wall and
        CPU seconds of every timed step."""
        def run(side):
            name, framework, tf32, benchmark = side
            state = self.apply(framework, tf32, benchmark)
            gc.collect()
            self.sync()
            w0, c0 = time.perf_counter(), time.process_time()
            loss = fns[framework]()
            self.sync()
            w1, c1 = time.perf_counter(), time.process_time()
            return loss, w1 - w0, c1 - c0, state

        first, states = {}, {}
        for _ in range(max(warmup, 1)):
            for side in sides:
                loss, _, _, state = run(side)
                first.setdefault(side[0], loss)
                states[side[0]] = state
        times = {side[0]: ([], []) for side in sides}
        for i in range(steps):
            k = i % len(sides)
            for side in sides[k:] + sides[:k]:
                _, w, c, _ = run(side)
                times[side[0]][0].append(w)
                times[side[0]][1].append(c)
        self.restore()
        return first, states, times


def _inputs(rng, n_classes, b, t, raw=False):
    import numpy as np
    if raw:  # bc7db4a2: raw magnitude in [0, inf)
        x = np.abs(rng.randn(b, 1, t, 256)).astype(np.float32)
    else:
        x = rng.rand(b, 1, t, 256).astype(np.float32)
    labels = np.stack([rng.randint(n, size=b) for n in n_classes],
                      1).astype(np.int32)
    return x, labels


def _onehot(labels, n_classes):
    import numpy as np
    out = np.zeros((len(labels), sum(n_classes)), np.float32)
    off = np.concatenate([[0], np.cumsum(n_classes)[:-1]]).astype(int)
    out[np.arange(len(labels))[:, None], labels + off] = 1
    return out


def pairs_of(exp_id, n_classes, width):
    """``[(label, chainer link, torch twin)]`` of one experiment."""
    import vs_torch_twins as T  # deferred: it needs torch
    from vox.links.autoencoder import AutoEncoder
    from vox.links.classifier import Classifier
    from vox.links.discriminators import ConvBNDiscriminator, ConvDiscriminator
    from vox.links.generators import ResNetGenerator, SkipGenerator
    if exp_id == 'e19098ab':
        return [('Classifier', Classifier(n_classes, width),
                 T.TClassifier(n_classes, width))]
    if exp_id == 'bc7db4a2':
        return [('AutoEncoder', AutoEncoder(width), T.TAutoEncoder(width))]
    if exp_id == 'cfcefd21':
        return [('G ResNetGenerator', ResNetGenerator(n_classes, width),
                 T.TResNetGenerator(n_classes, width)),
                ('D ConvDiscriminator', ConvDiscriminator(n_classes, width),
                 T.TConvDiscriminator(n_classes, width))]
    if exp_id == '54314b33':
        return [('G SkipGenerator', SkipGenerator(n_classes, width),
                 T.TSkipGenerator(n_classes, width)),
                ('D ConvBNDiscriminator',
                 ConvBNDiscriminator(n_classes, width),
                 T.TConvBNDiscriminator(n_classes, width))]
    raise SystemExit(f'vs_torch: unknown experiment {exp_id!r}; give some of '
                     f'{", ".join(EXPERIMENTS)}')


def measure_experiment(bench, exp_id, args, n_classes, rng, log):
    """The rows (one per training step) of one experiment."""
    import numpy as np
    import chainer
    import torch
    from vox.config import load_config
    import vs_torch_twins as T  # deferred: it needs torch
    cfg = load_config(exp_id)
    b = args.batch or cfg.train.batch_size
    frames = cfg.data.crop_frames
    models = pairs_of(exp_id, n_classes, args.width)
    matched = []
    for label, cm, tm in models:
        cp, tp, line = T.match_params(cm, tm, label)
        log('  ' + line)
        matched.append((cp, tp))
        cm.to_device(bench.device)
        tm.to(bench.tdev)
    T.copy_weights(matched)
    if bench.gpu:  # outputs and first losses compared without TF32
        bench.set_vox_tf32(False)
        bench.set_torch(False, False)

    def opt(cm, tm):
        co = chainer.optimizers.RMSprop(lr=cfg.train.lr, alpha=cfg.train.alpha,
                                        eps=cfg.train.eps)
        co.setup(cm)
        to = torch.optim.RMSprop(tm.parameters(), lr=cfg.train.lr,
                                 alpha=cfg.train.alpha, eps=cfg.train.eps)
        return co, to

    def cols(labels):
        c = [np.ascontiguousarray(labels[:, k]) for k in range(labels.shape[1])]
        return ([bench.send(a) for a in c],
                [bench.tensor(a.astype(np.int64)) for a in c])

    x, labels = _inputs(rng, n_classes, b, frames, raw=exp_id == 'bc7db4a2')
    cx, tx = bench.send(x), bench.tensor(x)
    steps = []  # (step name, {framework: fn})
    outputs = {}
    with chainer.no_backprop_mode(), torch.no_grad():
        if len(models) == 1:
            _, cm, tm = models[0]
            outputs[models[0][0]] = T.output_difference(
                models[0][0], cm(cx[:2]), tm(tx[:2]))
        else:
            (_, cG, tG), (_, cD, tD) = models
            c2 = _onehot(labels[:2], n_classes)
            outputs['G'] = T.output_difference(
                'G', cG(cx[:2], bench.send(c2)), tG(tx[:2], bench.tensor(c2)))
            outputs['D'] = T.output_difference('D', cD(cx[:2]), tD(tx[:2]))
    for k, v in outputs.items():
        log(f'  outputs {k} (2 samples, no grad): max |chainer - torch| / '
            f'max |chainer| = {v:.1e}')
    T.copy_weights(matched)
    if exp_id == 'e19098ab':
        _, cm, tm = models[0]
        co, to = opt(cm, tm)
        ct, tt = cols(labels)
        steps.append(('classifier', {
            'vox': lambda: T.chainer_classifier_step(cm, co, cx, ct),
            'torch': lambda: T.torch_classifier_step(tm, to, tx, tt)}))
    elif exp_id == 'bc7db4a2':
        _, cm, tm = models[0]
        co, to = opt(cm, tm)
        steps.append(('autoencoder', {
            'vox': lambda: T.chainer_ae_step(cm, co, cx),
            'torch': lambda: T.torch_ae_step(tm, to, tx)}))
    else:
        (_, cG, tG), (_, cD, tD) = models
        lam = cfg.losses
        l_trg = np.stack([rng.randint(n, size=b) for n in n_classes],
                         1).astype(np.int32)
        eps = rng.uniform(0, 1, size=b).astype(np.float32)
        c_org, c_trg = _onehot(labels, n_classes), _onehot(l_trg, n_classes)
        cc_org, cc_trg, ceps = map(bench.send, (c_org, c_trg, eps))
        tc_org, tc_trg, teps = map(bench.tensor, (c_org, c_trg, eps))
        c_org_cols, t_org_cols = cols(labels)
        c_trg_cols, t_trg_cols = cols(l_trg)
        cgo, tgo = opt(cG, tG)
        cdo, tdo = opt(cD, tD)
        steps.append(('critic step, WGAN-GP', {
            'vox': lambda: T.chainer_critic_step(cG, cD, cdo, cx, c_org_cols,
                                                 cc_trg, ceps, lam),
            'torch': lambda: T.torch_critic_step(tG, tD, tdo, tx, t_org_cols,
                                                 tc_trg, teps, lam)}))
        steps.append(('generator step', {
            'vox': lambda: T.chainer_gen_step(cG, cD, cgo, cx, c_trg_cols,
                                              cc_org, cc_trg, lam),
            'torch': lambda: T.torch_gen_step(tG, tD, tgo, tx, t_trg_cols,
                                              tc_org, tc_trg, lam)}))
    rows = []
    sides = sides_for(bench.gpu, args.stock)
    for step, fns in steps:
        T.copy_weights(matched)  # each step starts from equal weights
        fns = dict(fns, stock=fns['vox'])
        label = f'{exp_id} {step}'
        log(f'== {label}, minibatch {b} x 1x{frames}x256', flush=True)
        first, states, times = bench.time_sides(sides, fns, args.warmup,
                                                args.steps)
        v, t = first[side_name('vox', False)], first[side_name('torch', False)]
        rel = abs(v - t) / max(abs(v), 1e-12)
        ok = rel <= LOSS_TOLERANCE
        log(f'  loss, first step (same weights and inputs): vox {v:.6g}, '
            f'torch {t:.6g}, rel. diff {rel:.1e}' + ('' if ok else
                                                     '  MISMATCH'))
        row = {'label': label, 'experiment': exp_id, 'step': step,
               'batch': b, 'input': f'1x{frames}x256',
               'outputs_rel_diff': outputs,
               'first_loss': {'vox': v, 'torch': t, 'rel_diff': rel,
                              'ok': ok},
               'sides': {}}
        for name, (w, c) in times.items():
            row['sides'][name] = {
                'median_ms': statistics.median(w) * 1e3,
                'cpu_median_ms': statistics.median(c) * 1e3,
                'steps_ms': [round(s * 1e3, 3) for s in w],
                'settings': states[name]}
            log(f'    {name:32s} median {statistics.median(w) * 1e3:9.2f} ms'
                f'  ({states[name]})', flush=True)
        rows.append(row)
    del models, matched, steps  # free the device's memory for the next one
    gc.collect()
    if bench.gpu:
        torch.cuda.empty_cache()
        bench.device.xp.get_default_memory_pool().free_all_blocks()
    return rows


def machine(bench):
    import numpy
    import chainer
    import platform
    t = bench.torch
    m = {'python': platform.python_version(), 'numpy': numpy.__version__,
         'chainer': chainer.__version__, 'torch': t.__version__,
         'cudnn': t.backends.cudnn.version() if bench.gpu else None,
         'torch_cuda': t.version.cuda}
    if bench.gpu:
        import cupy
        m['cupy'] = cupy.__version__
        m['device_name'] = t.cuda.get_device_name(bench.tdev)
    else:
        m['device_name'] = platform.processor() or platform.machine()
        m['torch_threads'] = t.get_num_threads()
        m['cpu_fast_installed'] = bench.fast_default
    return m


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--device', default='@numpy',
                    help='@numpy (PyTorch on the CPU) or @cupy:N (PyTorch on '
                         'cuda:N)')
    ap.add_argument('--only', nargs='+', metavar='ID', default=None,
                    help=f'some of {" ".join(EXPERIMENTS)} (default all)')
    ap.add_argument('--steps', type=int, default=None,
                    help='timed rounds (default 10 on a GPU, 5 on the CPU)')
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--width', type=float, default=1.0,
                    help='channel width of both sides (1.0: the blog\'s)')
    ap.add_argument('--n-classes', type=int, nargs=3, default=None,
                    metavar=('SPEAKERS', 'BIRTHPLACES', 'SEXES'),
                    help='head sizes (default the blog\'s 1421 53 2)')
    ap.add_argument('--batch', type=int, default=None,
                    help='one minibatch for every experiment instead of the '
                         'faithful ones (tests only)')
    ap.add_argument('--stock', action='store_true',
                    help='CPU only: also Chainer with vox.cpu_fast uninstalled')
    ap.add_argument('--threads', type=int, default=None,
                    help='CPU only: torch.set_num_threads(K) and OpenBLAS '
                         'limited to K (threadpoolctl)')
    ap.add_argument('--json', help='write the results here')
    ap.add_argument('--md', help='write the table here')
    args = ap.parse_args(argv)
    if args.steps is not None and args.steps < 1:
        ap.error('--steps must be at least 1')
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import numpy as np
    from vox.base.labels import BLOG_N_CLASSES
    n_classes = tuple(args.n_classes or BLOG_N_CLASSES)
    bench = Bench(args.device, args.threads)
    if args.steps is None:
        args.steps = 10 if bench.gpu else 5
    bench.chainer.global_config.train = True
    bench.torch.manual_seed(0)
    rng = np.random.RandomState(0)

    def log(s, flush=False):
        print(s, flush=True)

    data = {'device': args.device, 'machine': machine(bench),
            'steps': args.steps, 'warmup': args.warmup, 'width': args.width,
            'n_classes': list(n_classes),
            'command': 'python tools/vs_torch.py ' + ' '.join(
                sys.argv[1:] if argv is None else argv),
            'started': time.strftime('%Y-%m-%dT%H:%M:%S'), 'rows': []}
    log(f"vs_torch: {data['machine']}")

    def write():
        if args.json:
            Path(args.json).write_text(json.dumps(data, indent=1) + '\n')
        if args.md:
            Path(args.md).write_text(markdown(data))

    import vs_torch_twins  # deferred: it needs torch
    for exp_id in args.only or EXPERIMENTS:
        log(f'\n== {exp_id}', flush=True)
        try:
            data['rows'] += measure_experiment(bench, exp_id, args,
                                               n_classes, rng, log)
        except vs_torch_twins.TwinMismatch as e:
            print(f'vs_torch: {exp_id}: the PyTorch twin does not match: {e}',
                  file=sys.stderr)
            return 1
        write()  # a run cut short keeps what it measured
    data['ended'] = time.strftime('%Y-%m-%dT%H:%M:%S')
    write()
    print('\n' + markdown(data))
    bad = [r['label'] for r in data['rows'] if not r['first_loss']['ok']]
    if bad:
        print(f'vs_torch: first-step losses differ beyond {LOSS_TOLERANCE}: '
              f'{", ".join(bad)}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
