"""Griffin-Lim per crop, side by side: vox's batched float32 Griffin-Lim,
the per-crop float64 one it replaced (kept below as the reference),
librosa.griffinlim, and the FFT-only lower bound; optionally `vox evaluate`
before and after.

Run from the project's root (numbers in docs/performance.md):

    # once: librosa in a venv of its own, so the project's .venv keeps its pins
    python3.11 -m venv .venv-librosa
    .venv-librosa/bin/pip install librosa
    nice -n 10 .venv/bin/python tools/bench_griffinlim.py \\
        [--crops 24] [--rounds 3] [--librosa-python .venv-librosa/bin/python]
        [--evaluate RUN --classifier CLS_RUN --before-tree DIR]

Magnitudes: ``--crops`` 256-frame crops of the generated corpus (the
newest ``cache/corpus/*/manifest.tsv``, or ``--corpus``), the first crop
of each of its files.  Every side gets the same magnitudes, 60 iterations,
momentum 0.99, the periodic Hann window of 1024 samples, hop 256, no
centring, and the same three silent frames on each side:

* ``reference``: the per-crop complex128 implementation (below), one call
  per crop;
* ``batched``: vox.data.audio.griffin_lim_batch (float32, all crops in
  one call, ``--workers`` threads);
* ``per call``: vox.data.audio.griffin_lim, one call per crop;
* ``librosa``: librosa.griffinlim on the full-band magnitude (513 bins,
  DC and 4-8 kHz zero, as vox's) in float32, one call per crop and one
  call on the stacked crops, in a child process of ``--librosa-python``
  that times itself (the same magnitudes, passed as a .npy file);
* ``FFT only``: the FFTs Griffin-Lim needs and nothing else: per crop and
  iteration one rfft and one irfft of (262, 1024) float32 through
  scipy.fft (plus the first irfft), in the batched code's blocks.

Each round runs every side once, in a rotated order; the median of the
rounds is reported (wall and process CPU time per crop).  Quality:
spectral convergence of each output against its magnitude, and the
waveform SNR of the float32 output against the float64 reference.

``--evaluate``: `vox evaluate RUN --classifier CLS_RUN --out TMP` with this
checkout and with ``--before-tree`` (a copy of the code before, e.g.
``git archive main | tar -x -C DIR``) on PYTHONPATH, alternately,
``--rounds`` times each; prints wall times and the largest difference
between the two evaluation.json files' figures.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from vox.data import audio  # noqa: E402  (after the path is set)

ITERATIONS = 60
MOMENTUM = 0.99


# ---------------------------------------------------------------------------
# The reference: the per-crop complex128 Griffin-Lim vox used to run.

def _ref_frames(wave):
    t = audio.n_frames(len(wave))
    idx = np.arange(audio.N_FFT)[None, :] + audio.HOP * np.arange(t)[:, None]
    return np.asarray(wave, dtype=np.float64)[idx] * audio.WINDOW


def _ref_stft(wave):
    return np.fft.rfft(_ref_frames(wave), n=audio.N_FFT, axis=1)


def _ref_istft(spectrum):
    frames = np.fft.irfft(spectrum, n=audio.N_FFT, axis=1) * audio.WINDOW
    t = frames.shape[0]
    out = np.zeros(audio.n_samples(t))
    norm = np.zeros_like(out)
    for i in range(t):
        out[i * audio.HOP:i * audio.HOP + audio.N_FFT] += frames[i]
        norm[i * audio.HOP:i * audio.HOP + audio.N_FFT] += audio.WINDOW ** 2
    return out / np.maximum(norm, 1e-8)


def reference_griffin_lim(mag, n_iter=ITERATIONS, momentum=MOMENTUM,
                          seed=audio.GL_SEED):
    """One crop, complex128, numpy.fft: the implementation measured against."""
    t = np.asarray(mag).shape[0]
    e = audio.EDGE_FRAMES
    padded = np.pad(np.asarray(mag, dtype=np.float64), ((e, e), (0, 0)))
    target = audio.full_band(padded)
    rng = np.random.RandomState(seed)
    angles = np.exp(2j * np.pi * rng.rand(*target.shape))
    previous = np.zeros_like(target, dtype=np.complex128)
    wave = _ref_istft(target * angles)
    for _ in range(n_iter):
        rebuilt = _ref_stft(wave)
        accelerated = rebuilt - (momentum / (1 + momentum)) * previous \
            if momentum else rebuilt
        previous = rebuilt
        angles = np.exp(1j * np.angle(accelerated))
        wave = _ref_istft(target * angles)
    skip = e * audio.HOP
    return wave[skip:skip + audio.n_samples(t)].astype(np.float32)


# ---------------------------------------------------------------------------
# librosa, in its own venv: this file is also the child's script.

LIBROSA_CHILD = r'''
import json, sys, time
import numpy as np
import librosa
mags = np.load(sys.argv[1])            # (N, 513, T) float32, full band
hop, n_fft, e, keep = (int(v) for v in sys.argv[2:6])
out = {'version': librosa.__version__}
def one(m):
    w = librosa.griffinlim(m, n_iter=60, hop_length=hop, win_length=n_fft,
                           n_fft=n_fft, window='hann', center=False,
                           momentum=0.99, init='random', random_state=0)
    return w[..., e * hop:e * hop + keep]
for line in sys.stdin:
    kind = line.strip()
    c0, w0 = time.process_time(), time.perf_counter()
    if kind == 'each':
        waves = [one(m) for m in mags]
    else:
        waves = list(one(mags))
    out = {'wall': time.perf_counter() - w0, 'cpu': time.process_time() - c0}
    np.save(sys.argv[1] + '.out.npy', np.stack(waves))
    print(json.dumps(out), flush=True)
'''


class Librosa:
    def __init__(self, python, mags):
        self.dir = tempfile.TemporaryDirectory()
        self.path = os.path.join(self.dir.name, 'mags.npy')
        e = audio.EDGE_FRAMES
        full = np.stack([audio.full_band(np.pad(m, ((e, e), (0, 0))))
                         for m in mags]).astype(np.float32)
        np.save(self.path, np.ascontiguousarray(full.transpose(0, 2, 1)))
        keep = audio.n_samples(mags[0].shape[0])
        self.proc = subprocess.Popen(
            [python, '-c', LIBROSA_CHILD, self.path, str(audio.HOP),
             str(audio.N_FFT), str(e), str(keep)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, text=True)

    def run(self, kind):
        self.proc.stdin.write(kind + '\n')
        self.proc.stdin.flush()
        times = json.loads(self.proc.stdout.readline())
        return times, list(np.load(self.path + '.out.npy'))

    def close(self):
        self.proc.stdin.close()
        self.proc.wait()
        self.dir.cleanup()


# ---------------------------------------------------------------------------

def corpus_magnitudes(corpus, count, frames=256):
    if corpus is None:
        found = sorted((REPO / 'cache' / 'corpus').glob('*/manifest.tsv'),
                       key=lambda p: p.stat().st_mtime)
        if not found:
            sys.exit('no generated corpus under cache/corpus; run '
                     '`vox run e19098ab --profile smoke` once, or give --corpus')
        corpus = found[-1]
    corpus = Path(corpus)
    lines = corpus.read_text().splitlines()
    head = lines[0].split('\t')
    col = head.index('path') if 'path' in head else 0
    mags = []
    for line in lines[1:]:
        rel = line.split('\t')[col]
        path = Path(rel) if Path(rel).is_absolute() else corpus.parent / rel
        wave = audio.load_wav(path)
        if len(wave) >= audio.n_samples(frames):
            mags.append(audio.magnitude(wave[:audio.n_samples(frames)]))
        if len(mags) == count:
            break
    return corpus, mags


def fft_only(mags, workers):
    """The FFTs of griffin_lim_batch's blocks, nothing else."""
    import scipy.fft
    tp = mags[0].shape[0] + 2 * audio.EDGE_FRAMES
    per_block = audio._per_block(mags[0].shape[0])
    for start in range(0, len(mags), per_block):
        n = len(mags[start:start + per_block])
        spec = np.zeros((n, tp, audio.N_FFT // 2 + 1), np.complex64)
        frames = scipy.fft.irfft(spec, audio.N_FFT, workers=workers)
        for _ in range(ITERATIONS):
            spec = scipy.fft.rfft(frames, workers=workers)
            frames = scipy.fft.irfft(spec, audio.N_FFT, workers=workers)
    return None


def timed(fn):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    return {'wall': time.perf_counter() - w0,
            'cpu': time.process_time() - c0}, out


def snr_db(ref, got):
    ref = np.asarray(ref, np.float64)
    err = np.sum((ref - np.asarray(got, np.float64)) ** 2)
    return float(10 * np.log10(np.sum(ref ** 2) / max(err, 1e-300)))


def bench_gl(args):
    corpus, mags = corpus_magnitudes(args.corpus, args.crops)
    n = len(mags)
    print(f'{n} crops of {mags[0].shape[0]} frames from {corpus}; '
          f'{ITERATIONS} iterations, momentum {MOMENTUM}; '
          f'{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}')
    ref_n = min(n, args.reference_crops)
    sides = {
        'reference (per crop, float64)': (
            ref_n, lambda: [reference_griffin_lim(m) for m in mags[:ref_n]]),
        'vox batched (float32)': (n, lambda: audio.griffin_lim_batch(
            mags, workers=args.workers)),
        'vox per call (float32)': (n, lambda: [audio.griffin_lim(
            m, workers=args.workers) for m in mags]),
        'FFT only (float32, scipy.fft)': (
            n, lambda: fft_only(mags, args.workers)),
    }
    lib = Librosa(args.librosa_python, mags) if args.librosa_python else None
    if lib:
        sides['librosa per call (float32)'] = (n, lambda: lib.run('each'))
        sides['librosa stacked (float32)'] = (n, lambda: lib.run('stacked'))
    times = {k: [] for k in sides}
    outputs = {}
    names = list(sides)
    for r in range(args.rounds):
        for k in names[r % len(names):] + names[:r % len(names)]:
            count, fn = sides[k]
            t, out = timed(fn)
            if k.startswith('librosa'):
                t, out = out          # the child's own timing
            times[k].append({m: v / count for m, v in t.items()})
            outputs[k] = out
    if lib:
        lib.close()
    fft = statistics.median(t['cpu'] for t in times[names[3]])
    print(f'{"side":32s} {"wall s/crop":>11s} {"cpu s/crop":>10s} '
          f'{"cpu / FFT-only":>14s} {"spectral conv.":>14s}')
    print(f'(spectral convergence: mean over the first {ref_n} crops, '
          f'the ones the reference runs)')
    for k in names:
        wall = statistics.median(t['wall'] for t in times[k])
        cpu = statistics.median(t['cpu'] for t in times[k])
        out = outputs[k]
        sc = '' if out is None else f'{np.mean([audio.spectral_convergence(m, w) for m, w in zip(mags[:ref_n], out[:ref_n])]):14.4f}'
        print(f'{k:32s} {wall:11.3f} {cpu:10.3f} {cpu / fft:14.2f} {sc}')
    ref = outputs[names[0]]
    new = outputs[names[1]]
    single = outputs[names[2]]
    print(f'float32 batched vs float64 reference, first {ref_n} crops: '
          f'waveform SNR median {np.median([snr_db(a, b) for a, b in zip(ref, new)]):.1f} dB '
          f'(min {min(snr_db(a, b) for a, b in zip(ref, new)):.1f}), '
          f'spectral convergence difference max '
          f'{max(abs(audio.spectral_convergence(m, a) - audio.spectral_convergence(m, b)) for m, a, b in zip(mags, ref, new)):.2e}')
    print('batched == per call, bit for bit:',
          all(np.array_equal(a, b) for a, b in zip(new, single)))


def _figures(d, prefix=''):
    """Flattened numeric leaves of an evaluation.json."""
    out = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_figures(v, f'{prefix}{k}.'))
    elif isinstance(d, (int, float)) and not isinstance(d, bool):
        out[prefix[:-1]] = float(d)
    return out


def bench_evaluate(args):
    # -P: no current folder on sys.path, so PYTHONPATH picks the code
    vox = [sys.executable, '-P', '-c', 'import sys, vox; '
           'print("vox from", vox.__file__, file=sys.stderr); '
           'from vox.cli import main; sys.exit(main())', 'evaluate',
           str(Path(args.evaluate).resolve()), '--classifier',
           str(Path(args.classifier).resolve())]
    trees = {'before': args.before_tree, 'after': str(REPO)}
    walls = {k: [] for k in trees}
    results = {}
    for r in range(args.rounds):
        for k, tree in (list(trees.items()) if r % 2 == 0
                        else list(trees.items())[::-1]):
            with tempfile.TemporaryDirectory() as out:
                env = dict(os.environ, PYTHONPATH=tree)
                w0 = time.perf_counter()
                subprocess.run(vox + ['--out', out], env=env, check=True,
                               stdout=subprocess.DEVNULL)
                walls[k].append(time.perf_counter() - w0)
                results[k] = json.loads(
                    (Path(out) / 'evaluation.json').read_text())
            print(f'  round {r + 1} {k}: {walls[k][-1]:.1f} s', flush=True)
    before, after = (statistics.median(walls[k]) for k in trees)
    print(f'vox evaluate: before {before:.1f} s, after {after:.1f} s, '
          f'{before / after:.2f}x')
    a, b = _figures(results['before']), _figures(results['after'])
    diffs = sorted(((abs(a[k] - b[k]), k) for k in a if k in b), reverse=True)
    print('largest differences in evaluation.json figures:')
    for d, k in diffs[:8]:
        print(f'  {k}: {a[k]:.6g} -> {b[k]:.6g} (|diff| {d:.3g})')
    from vox.reports import conversion_quality
    for name in ('verdict', 'headline'):
        said = [getattr(conversion_quality, name)(results[k]) for k in trees]
        print(f'{name} same: {said[0] == said[1]}: {said[1]}')
    judge = [k for k in a if not k.startswith('content.')]
    print('judge figures identical:', all(a[k] == b.get(k) for k in judge))
    if args.keep:
        for k in trees:
            Path(args.keep, f'evaluation-{k}.json').write_text(
                json.dumps(results[k], indent=1))


def main():
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--crops', type=int, default=24)
    p.add_argument('--reference-crops', type=int, default=8,
                   help='crops the slow reference runs (default 8)')
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--workers', type=int, default=None)
    p.add_argument('--corpus', help='a manifest.tsv (default: the newest '
                   'generated one under cache/corpus)')
    p.add_argument('--librosa-python', help="a python with librosa "
                   "(default: none, librosa's rows are left out)")
    p.add_argument('--evaluate', help='a StarGAN run: time vox evaluate')
    p.add_argument('--classifier', help='its judge (with --evaluate)')
    p.add_argument('--before-tree', help='the code before (with --evaluate)')
    p.add_argument('--keep', help='write both evaluation.json files here')
    p.add_argument('--skip-gl', action='store_true')
    args = p.parse_args()
    if not args.skip_gl:
        bench_gl(args)
    if args.evaluate:
        bench_evaluate(args)


if __name__ == '__main__':
    main()
