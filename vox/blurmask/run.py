"""Runs one blur-mask experiment: ``vox run blurmask-N`` / ``make exp-blurmask-N``.

Writes ``<results>/<ID>/<run>/``:

* ``config.yaml`` (resolved config plus what was resolved at run time: the
  utterance and crop, the target run and snapshot), ``command.txt``,
  ``environment.json``;
* ``log.json``: one entry per iteration 0..N (entry i describes the m used
  after i updates: both loss terms, both gradient terms' mean and variance
  over points, mean/min/max m, the blurred matrix's total, ...);
* ``summary.json`` / ``summary.md``: final m statistics, lambda, timings;
* ``final.npz``: input, final m, blurred input, gradients, target outputs;
* the plots of :mod:`vox.blurmask.plots` and ``checkpoints/`` (blurred
  spectrogram PNG, Griffin-Lim WAV and m every ``checkpoints_every``
  iterations and at the end).
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

import chainer
import chainer.functions as F

from vox import cpu_fast
from vox.base.device import get_device
from vox.base.errors import VoxError
from vox.base.paths import REPO
from vox.base.progress import progress
from vox.blurmask import plots
from vox.blurmask.objective import Objective, as_numpy, project, step
from vox.config import CorpusConfig
from vox.config.blurmask import (TARGET_EXPERIMENTS, BlurMaskConfig,
                                 load_blurmask_config, to_dict)
from vox.data import audio
from vox.data.features import load_features
from vox.data.sources import cache_dir, read_utterances, resolve_corpus
from vox.reports import findings
from vox.runs import folders
from vox.training.store import load_models, newest_snapshot, snapshots

#: The dtype of ``m``, the input and the blur in the loop (see :func:`run`).
LOOP_DTYPE = np.float64


# ---------------------------------------------------------------- the input

def most_voiced_start(voiced, frames):
    counts = np.convolve(np.asarray(voiced, np.float64), np.ones(frames),
                         mode='valid')
    return int(np.argmax(counts))


def crop(mag, voiced, frames, start, what):
    t = mag.shape[0]
    if t < frames:
        raise VoxError(f'{what}: {t} frames, shorter than input.frames = '
                       f'{frames} ({audio.n_samples(frames) / 16000:.2f} s '
                       f'needed); give a longer file or fewer frames')
    if start is None:
        start = most_voiced_start(voiced, frames)
    if not 0 <= start <= t - frames:
        raise VoxError(f'{what}: input.start {start} out of range 0..'
                       f'{t - frames} for {frames} frames')
    return mag[start:start + frames], start


def load_input(cfg, corpus=None):
    """(raw magnitude crop (T, 256) float32, facts about where it came from)."""
    inp = cfg.input
    if inp.source == 'wav':
        wave = audio.load_wav(inp.path, min_frames=inp.frames)
        mag, start = crop(audio.magnitude(wave), audio.voiced_frames(wave),
                          inp.frames, inp.start, inp.path)
        return mag, {'source': 'wav', 'path': str(Path(inp.path).resolve()),
                     'start_frame': start, 'frames': inp.frames}
    # The built-in corpus exactly as e19098ab's faithful config makes it.
    manifest = resolve_corpus(corpus or inp.corpus, CorpusConfig(), seed=0)
    utterances = read_utterances(manifest)
    if inp.speaker is not None:
        utterances = [u for u in utterances if str(u.speaker) == inp.speaker]
        if not utterances:
            raise VoxError(f'{manifest}: no utterance of speaker '
                           f'{inp.speaker!r} (input.speaker)')
    utterances = sorted(utterances, key=lambda u: str(u.path))
    if inp.utterance >= len(utterances):
        raise VoxError(f'input.utterance {inp.utterance}: only '
                       f'{len(utterances)} utterances to choose from')
    utt = utterances[inp.utterance]
    feats, = load_features([utt], cache_dir())
    mag, start = crop(feats.magnitude, feats.voiced, inp.frames, inp.start,
                      str(utt.path))
    return mag, {'source': 'corpus', 'manifest': str(manifest),
                 'path': str(utt.path), 'speaker': str(utt.speaker),
                 'utterance': inp.utterance, 'start_frame': start,
                 'frames': inp.frames}


# ---------------------------------------------------------------- the target

def _snapshot_time(run_dir):
    found = snapshots(run_dir)
    return found[-1].stat().st_mtime if found else None


def find_target_run(cfg, results=None):
    """The target's run folder: ``target.run`` or the newest one."""
    t = cfg.target
    experiment = t.experiment or TARGET_EXPERIMENTS[t.kind]
    if t.run != 'newest':
        path = Path(t.run).expanduser()
        if not path.is_absolute() and not path.exists():
            path = REPO / path
        if not path.exists():
            raise VoxError(f'target.run {t.run}: no such run folder; give '
                           f'results/{experiment}/<run> or newest')
        return path
    root = folders.results_root(results) / experiment
    runs = [(_snapshot_time(p), p) for p in root.glob('*')
            if (p / 'config.yaml').exists()] if root.is_dir() else []
    runs = [(when, p) for when, p in runs if when is not None]
    if not runs:
        raise VoxError(
            f'target.run newest: no trained {experiment} run (with a '
            f'snapshot) under {root}; train one first, e.g. '
            f'make exp-{experiment} PROFILE=smoke'
            f'{" RESULTS=" + str(results) if results else ""}, or set '
            f'target.run to a run folder, or use a config whose '
            f'target.kind is identity')
    return max(runs)[1]


def in_dtype(net, dtype):
    """``net`` fed its parameters' dtype: the loop keeps ``m`` and the
    input in float64 (see :func:`run`), the trained network is float32;
    ``F.cast`` passes the gradient back in float64."""
    def f(v):
        return net(v if v.dtype == dtype else F.cast(v, dtype))
    return f


def load_target(cfg, device, results=None):
    """(f: Variable -> Variable, the scale f takes, facts)."""
    t = cfg.target
    output = cfg.target_output
    if t.kind == 'identity':
        return (lambda v: v), t.scale or 'unit', {'kind': 'identity',
                                                  'output': output}
    run_dir = find_target_run(cfg, results)
    snapshot = newest_snapshot(run_dir)
    run, models = load_models(run_dir, device=device, choose_older=(
        'set target.run to a run whose newest snapshot loads'))
    if run.config.kind != t.kind:
        raise VoxError(f'target.run {run_dir}: a {run.config.kind} run, '
                       f'but target.kind is {t.kind}')
    link = models[t.kind]
    if t.kind == 'classifier':
        net = link.features if output == 'features' else \
            (lambda v: F.concat(link(v), axis=1))
    else:
        net = link.encode if output == 'latent' else link
    f = in_dtype(net, next(link.params()).dtype)
    facts = {'kind': t.kind, 'output': output, 'run': str(run_dir),
             'snapshot': str(snapshot), 'experiment': run.config.id,
             'profile': run.config.profile,
             'trained_frames': run.config.data.crop_frames}
    return f, run.config.data.scale, facts


# ---------------------------------------------------------------- run folder

def make_run_dir(results, exp_id, run_name, profile):
    """A new ``<results>/<ID>/<run>`` folder (a blur-mask run never resumes),
    by the rule every run folder follows (vox/runs/folders.py)."""
    return folders.make_run_dir(folders.run_folder(results, exp_id, run_name,
                                                   profile))


def write_run_info(run_dir, cfg, facts, device, argv):
    resolved = to_dict(cfg)
    resolved['resolved'] = facts
    folders.write_provenance(run_dir, resolved, device, argv)


def to_raw(spec, scale):
    return spec if scale == 'raw' else audio.from_unit(spec)


def griffin_lim_wav(path, mag, cfg):
    wave = audio.griffin_lim(mag, n_iter=cfg.griffin_lim_iterations,
                             seed=cfg.seed)
    audio.save_wav(path, wave)


def checkpoint(run_dir, it, cfg, x_raw, m, blurred):
    out = run_dir / 'checkpoints'
    out.mkdir(exist_ok=True)
    raw = to_raw(blurred, cfg.blur_scale)
    stem = out / f'blurred_iter_{it:05d}'
    plots.save_checkpoint_png(f'{stem}.png', x_raw, raw, it, m)
    griffin_lim_wav(f'{stem}.wav', raw, cfg)
    np.save(out / f'm_iter_{it:05d}.npy', m)


def summary_of(cfg, log, facts, seconds, iterations_done):
    last = log[-1]
    a, b = cfg.weights
    return {
        'id': cfg.id, 'profile': cfg.profile, 'title': cfg.title,
        'm_init': cfg.m_init, 'lambda': cfg.lambda_,
        'lambda_on': cfg.lambda_on, 'a': a, 'b': b,
        'iterations': cfg.iterations, 'iterations_done': iterations_done,
        'conserve_total': cfg.conserve_total, 'relu_on_m': cfg.relu_on_m,
        'entropy_reduce': cfg.entropy_reduce, 'target': facts['target'],
        'final': {k: last[k] for k in (
            'm_mean', 'm_min', 'm_max', 'm_negative', 'm_at_most_1', 'mse',
            'entropy', 'entropy_mean', 'loss', 'fft_total',
            'grad_mse_mean', 'grad_entropy_mean')},
        'input_fft_total': log[0]['fft_total_input'],
        'seconds': seconds,
    }


def write_summary(run_dir, summary):
    with open(run_dir / 'summary.json', 'w') as f:
        json.dump(summary, f, indent=2)
    fin = summary['final']
    lines = [f"# {summary['id']} ({summary['profile']}): {summary['title']}",
             '',
             f"m init {summary['m_init']}, lambda {summary['lambda']:g} on "
             f"the {summary['lambda_on']} term, "
             f"{summary['iterations_done']}/{summary['iterations']} "
             f"iterations, conserve_total {summary['conserve_total']}, "
             f"ReLU {summary['relu_on_m']}, H = {summary['entropy_reduce']} "
             f"of log m; target {summary['target'].get('kind')} "
             f"{summary['target'].get('output')}",
             '', '| quantity | final |', '|---|---|']
    lines += [f'| {k} | {v:.6g} |' for k, v in fin.items()]
    lines += [f"| input fft_total | {summary['input_fft_total']:.6g} |",
              '', f"Loop wall time {summary['seconds']['loop']:.1f} s, "
              f"total {summary['seconds']['total']:.1f} s."]
    text = findings.with_section('\n'.join(lines) + '\n',
                                 findings.check_run(run_dir))
    (run_dir / 'summary.md').write_text(text)


# ---------------------------------------------------------------- the loop

def run(exp_id, profile=None, device=None, corpus=None, run_name=None,
        results=None, argv=None, input_wav=None):
    """Runs blur-mask experiment ``exp_id`` (an ID, a config.yaml or a
    loaded BlurMaskConfig); returns the run folder."""
    start_time = time.time()
    cfg = exp_id if isinstance(exp_id, BlurMaskConfig) else \
        load_blurmask_config(exp_id, profile)
    if input_wav:
        cfg.input.source, cfg.input.path = 'wav', str(input_wav)
    # vox's CPU kernels for Chainer's (VOX_CHAINER_CPU_FAST=0: Chainer's);
    # environment.json records which.
    cpu_fast.install_for_run()
    device = get_device(device)
    device.use()
    x_raw, input_facts = load_input(cfg, corpus)
    f, target_scale, target_facts = load_target(cfg, device, results)
    run_dir = make_run_dir(results, cfg.id, run_name, cfg.profile)
    # Held to the end: a second run given the same RUN= is refused, not
    # interleaved into this folder.
    with folders.lock_run_dir(run_dir):
        return _optimise(cfg, device, run_dir, x_raw, input_facts, f,
                         target_scale, target_facts, start_time, argv)


def _optimise(cfg, device, run_dir, x_raw, input_facts, f, target_scale,
              target_facts, start_time, argv):
    """The loop and what it writes, in the locked ``run_dir``."""
    facts = {'input': input_facts, 'target': target_facts,
             'target_scale': target_scale}
    write_run_info(run_dir, cfg, facts, device, argv or sys.argv)
    print(f'vox: {cfg.id} ({cfg.profile}) -> {run_dir}')
    print(f'vox: input {input_facts["path"]} frames '
          f'{input_facts["start_frame"]}..'
          f'{input_facts["start_frame"] + cfg.input.frames}; target '
          f'{target_facts["kind"]} {target_facts["output"]}'
          f'{" from " + target_facts["run"] if "run" in target_facts else ""}'
          f'; device {device}')

    x_scaled = x_raw if cfg.blur_scale == 'raw' else audio.to_unit(x_raw)
    # m and the input in float64: at m ~ 141 one float32 step is 1.5e-5,
    # coarser than the MSE term's gradients (1e-5 .. 1e-7), which float32
    # would round away; the target network casts to its own dtype.
    x = device.send(np.ascontiguousarray(x_scaled, dtype=LOOP_DTYPE))
    a, b = cfg.weights
    try:
        objective = Objective(
            x, f, a=a, b=b, conserve_total=cfg.conserve_total,
            entropy_reduce=cfg.entropy_reduce, log_floor=cfg.log_floor,
            blur_scale=cfg.blur_scale, target_scale=target_scale)
    except (chainer.utils.type_check.InvalidType, ValueError) as e:
        raise VoxError(
            f'target {target_facts["kind"]} {target_facts["output"]} does '
            f'not accept a 1 x {cfg.input.frames} x 256 input '
            f'({str(e).splitlines()[0]}); choose input.frames (the target '
            f'was trained on {target_facts.get("trained_frames")}) or '
            f'another target.output') from None
    audio.save_wav(run_dir / 'input_griffin_lim.wav', audio.griffin_lim(
        x_raw, n_iter=cfg.griffin_lim_iterations, seed=cfg.seed))
    input_total = float(np.asarray(x_scaled, np.float64).sum())

    m = device.xp.full(x.shape, cfg.m_init, dtype=LOOP_DTYPE)
    log = []
    loop_start = time.time()
    done = 0
    interrupted = False
    steps = range(cfg.iterations + 1)
    if cfg.progress_bar:
        steps = progress(steps, total=cfg.iterations + 1,
                         label=f'vox: {cfg.id}')
    try:
        for it in steps:
            if it < cfg.iterations:
                m_used, s, m = step(objective, m, cfg.lr, cfg.relu_on_m)
            else:  # the state after the last update, not updated again
                m_used = project(m, cfg.relu_on_m)
                s = objective.evaluate(m_used)
            record = {'iteration': it, **s.record(m_used, a, b)}
            if it == 0:
                record['fft_total_input'] = input_total
            log.append(record)
            if not np.isfinite(record['loss']):
                raise VoxError(f'{cfg.id}: the loss became {record["loss"]} '
                               f'at iteration {it}; see {run_dir}/log.json')
            if it % cfg.checkpoints_every == 0 or it == cfg.iterations:
                checkpoint(run_dir, it, cfg, x_raw, as_numpy(m_used),
                           as_numpy(s.blurred))
            done = it
    except KeyboardInterrupt:
        interrupted = True
        print(f'\nvox: interrupted at iteration {done}; writing what there '
              f'is to {run_dir}', file=sys.stderr)
    loop_seconds = time.time() - loop_start
    if not log:
        raise KeyboardInterrupt

    with open(run_dir / 'log.json', 'w') as fh:
        json.dump(log, fh)
    final_m = as_numpy(m_used)
    with chainer.no_backprop_mode():
        out_blurred = as_numpy(objective.output(s.blurred).array)
    final = {'x_raw': x_raw, 'x': as_numpy(x), 'm': final_m,
             'blurred': as_numpy(s.blurred),
             'grad_mse': as_numpy(s.grad_mse),
             'grad_entropy': as_numpy(s.grad_entropy),
             'grad': as_numpy(s.grad),
             'output_original': as_numpy(objective.reference),
             'output_blurred': out_blurred}
    np.savez_compressed(run_dir / 'final.npz', **final)
    plots.save_all(run_dir, cfg, log, final, input_total)
    for frac in cfg.keep_fractions:
        kept = plots.keep_smallest(x_raw, final_m, frac)
        audio.save_wav(run_dir / f'kept_{plots.pct(frac)}.wav',
                       audio.griffin_lim(kept, cfg.griffin_lim_iterations,
                                         seed=cfg.seed))
    seconds = {'loop': loop_seconds, 'total': time.time() - start_time,
               'per_iteration': loop_seconds / max(len(log), 1)}
    summary = summary_of(cfg, log, facts, seconds, done)
    summary['interrupted'] = interrupted
    write_summary(run_dir, summary)
    fin = summary['final']
    print(f'vox: {cfg.id}: final m mean {fin["m_mean"]:.4g} min '
          f'{fin["m_min"]:.4g} max {fin["m_max"]:.4g}; loop '
          f'{loop_seconds:.1f} s ({1000 * seconds["per_iteration"]:.1f} ms '
          f'per iteration) -> {run_dir}')
    if interrupted:
        raise KeyboardInterrupt
    return run_dir
