"""vox reconstruct: a whole utterance through a trained AutoEncoder.

    vox reconstruct --run RUN_DIR --input IN.wav --output OUT.wav
                    [--latent OUT.npz] [--snapshot PATH] [--device @numpy]

Any sample rate in (mixed to mono, resampled to 16 kHz and checked as
training audio is by :func:`vox.data.audio.load_wav`; at least one
training crop long), the reconstructed 16 kHz WAV of the whole utterance
out, exactly as many samples as the resampled input.

How a whole utterance goes through a model trained on 32-frame crops:
the AutoEncoder is convolutional along time (enc1/dec1 k7, enc2/dec2
stride 2, every other block has a time kernel of 1), and in test mode
BatchNormalization uses its running statistics, so each output frame
depends only on nearby input frames.  The utterance is therefore run
whole, not as one crop:

1. the waveform is padded with ``N_FFT - HOP`` (768) zeros on both sides,
   so every input sample lies under four full STFT windows (the front end
   does not centre frames), plus up to one hop at the end so the frames
   cover the last sample;
2. the frame count is padded with silent (zero) frames up to a multiple of
   the model's time stride (2);
3. long inputs are cut into chunks of ``CHUNK`` frames that overlap by
   ``CONTEXT`` frames of context on each side (both multiples of the
   stride); only each chunk's centre is kept, which is exactly what one
   pass over the whole utterance gives (the receptive field is far
   smaller than the context; the tests check the equality), with bounded
   memory;
4. the reconstructed magnitude is resynthesised exactly as the training
   samples are (:func:`vox.extensions.samples.resynthesize`) and trimmed
   back to the input's samples.

``--latent`` writes ``latent`` ``(channels, frames / 2)`` (enc8's output
without its trailing frequency axis of 1) over all ``frames`` STFT frames
of the padded waveform, with ``pad_samples`` (zeros added in front; STFT
frame k starts at input sample ``k * hop - pad_samples``, latent frame i
covers STFT frames 2i and 2i+1), ``hop`` and ``sample_rate``.
"""
import numpy as np

from vox.base.errors import VoxError
from vox.base.files import check_output_file

#: Frames per model call and context frames on each side of a chunk.
CHUNK = 512
CONTEXT = 32


def register(sub):
    p = sub.add_parser('reconstruct', help='run a WAV through a trained '
                       'AutoEncoder (bc7db4a2) run: 16 kHz WAV out')
    p.add_argument('--run', required=True,
                   help='run folder (results/bc7db4a2/<run>)')
    p.add_argument('--input', required=True, help='audio file, any rate')
    p.add_argument('--output', required=True, help='16 kHz WAV to write')
    p.add_argument('--latent', help='also write the latent to this .npz')
    p.add_argument('--snapshot', help='snapshot to load (default: the '
                   "run's newest)")
    p.add_argument('--device', help="'@numpy' (default) or '@cupy:0'")
    p.set_defaults(func=main)


def time_stride(autoencoder):
    """Product of the encoder's strides along time (2 for the blog's AE)."""
    stride = 1
    for _, block in autoencoder.encoder.blocks():
        stride *= block.stride[0]
    return stride


def _run_frames(autoencoder, mag, device):
    """Model on ``mag`` (T, 256), T a multiple of the stride -> (y, z)."""
    from vox import compat  # noqa: F401  (before chainer: Chainer today)
    import chainer
    x = device.send(np.ascontiguousarray(mag[None, None], dtype=np.float32))
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        z = autoencoder.encode(x)
        y = autoencoder.decode(z)
    to_cpu = chainer.backends.cuda.to_cpu
    return to_cpu(y.array)[0, 0], to_cpu(z.array)[0, :, :, 0]


def reconstruct_magnitude(autoencoder, mag, device=None, chunk=CHUNK,
                          context=CONTEXT):
    """(reconstructed magnitude (T, 256), latent (C, T / s)) of a whole
    utterance's magnitude; T must be a multiple of the time stride s."""
    from vox import compat  # noqa: F401  (before chainer: Chainer today)
    import chainer
    device = chainer.get_device(device or '@numpy')
    s = time_stride(autoencoder)
    t = mag.shape[0]
    if t % s or chunk % s or context % s:
        raise ValueError(f'frames {t}, chunk {chunk} and context {context} '
                         f'must be multiples of the time stride {s}')
    if t <= chunk + 2 * context:
        return _run_frames(autoencoder, mag, device)
    ys, zs = [], []
    for start in range(0, t, chunk):
        stop = min(start + chunk, t)
        lo, hi = max(0, start - context), min(t, stop + context)
        y, z = _run_frames(autoencoder, mag[lo:hi], device)
        ys.append(y[start - lo:stop - lo])
        zs.append(z[:, (start - lo) // s:(stop - lo) // s])
    return np.concatenate(ys), np.concatenate(zs, axis=1)


def reconstruct_wave(autoencoder, wave, device=None):
    """16 kHz wave -> (reconstructed 16 kHz wave of the same length, info)."""
    import chainer  # deferred, as everywhere in this command: heavy

    from vox.data import audio
    from vox.extensions.samples import resynthesize
    n = len(wave)
    pad = audio.N_FFT - audio.HOP
    frames = audio.n_frames(n + 2 * pad)
    if audio.n_samples(frames) < n + 2 * pad:
        frames += 1  # cover the last samples too
    s = time_stride(autoencoder)
    frames = -(-frames // s) * s
    padded = np.zeros(audio.n_samples(frames), dtype=np.float32)
    padded[pad:pad + n] = wave
    mag = audio.magnitude(padded)
    y, z = reconstruct_magnitude(autoencoder, mag, device)
    xp = chainer.get_device(device or '@numpy').xp
    out = resynthesize(y, xp=xp)[pad:pad + n]
    info = dict(frames=frames, pad_samples=pad, hop=audio.HOP,
                sample_rate=audio.SAMPLE_RATE)
    return out, z, info


def main(args):
    from pathlib import Path

    from vox import cpu_fast
    from vox.data import audio
    from vox.base.device import get_device
    from vox.training.store import load_models, load_run

    check_output_file(args.output, [args.input, args.snapshot],
                      create=True)
    audio.check_output_format(args.output)
    if args.latent:
        check_output_file(args.latent, [args.input, args.snapshot,
                                        args.output], '--latent', create=True)
    cpu_fast.install_for_run()  # the kernels training used
    device = get_device(args.device)
    run = load_run(args.run)
    if run.config.kind != 'autoencoder':
        raise VoxError(f'{args.run}: a {run.config.kind} run, not an '
                       f'AutoEncoder run (give results/bc7db4a2/<run>)')
    # The input is checked (as training audio is) before the model loads.
    wave = audio.load_wav(args.input, min_frames=run.config.data.crop_frames)
    run, models = load_models(args.run, snapshot=args.snapshot,
                              device=device)
    out, latent, info = reconstruct_wave(models['autoencoder'], wave, device)
    try:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        audio.save_wav(args.output, out)
        if args.latent:
            Path(args.latent).parent.mkdir(parents=True, exist_ok=True)
            np.savez(args.latent, latent=latent, **info)
    except OSError as e:
        raise VoxError(f'cannot write {e.filename}: {e.strerror}') from None
    except (RuntimeError, TypeError, ValueError) as e:  # soundfile's
        raise VoxError(f'cannot write {args.output}: {e}; give a path '
                       f'ending in .wav') from None
    print(f'vox: {args.input} ({len(wave) / audio.SAMPLE_RATE:.2f} s) -> '
          f'{args.output} (16 kHz, {len(out) / audio.SAMPLE_RATE:.2f} s)'
          + (f', latent {latent.shape} -> {args.latent}'
             if args.latent else ''))
