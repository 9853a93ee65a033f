"""The audio front end shared by every experiment (the posts' STFT and bins).

- 16 kHz mono; anything else is mixed down and resampled on load.
- STFT: 1024-sample periodic Hann window, hop 256, no centring, so a crop of
  ``1024 + 256 * (T - 1)`` samples gives exactly T frames (17152 -> 64,
  66304 -> 256).  The blog names no window; Hann is the usual default of the
  2019 tools (scipy, librosa) and keeps Griffin-Lim's overlap-add exact.
  :func:`stft` / :func:`istft` equal ``scipy.signal.ShortTimeFFT`` (unscaled,
  ``phase_shift=None``) to rounding (tests/test_audio.py); they are kept
  because they are that frame arithmetic written out, while ShortTimeFFT
  centres its slices on multiples of the hop and pads both ends, so using
  it would mean slice offsets and zero slices at every call.
- Bins 1..256 of the 513-bin one-sided spectrum ("skip the first bin from
  the left and use 1/4"): DC dropped, 15.6 Hz .. 4 kHz.
- Arrays are ``time x frequency`` (the models add the channel axis).
- Two scales: ``raw`` magnitude in [0, inf) for the AutoEncoder and ``unit``
  in [0, 1] for the classifier and GANs.  ``unit`` is decibels mapped
  linearly from [DB_MIN, DB_MAX] to [0, 1] and clipped: a fixed map, so it
  needs no corpus statistic, is the same for every corpus and is exactly
  invertible inside the range (the blog states the range, not the map).
- Resynthesis: Griffin-Lim from the 256-bin magnitude.  The missing DC bin
  and the 4-8 kHz band are set to zero, so resynthesised audio is band
  limited to 4 kHz: that is what the models see, and the copy-synthesis
  reference written beside every sample lets a listener hear that loss.
"""
import concurrent.futures
import math
import os
from pathlib import Path

import numpy as np
import scipy.fft
import scipy.signal
import soundfile

from vox.base.errors import VoxError
from vox.base.files import not_a_file, printable
from vox.base.memory import check_fits

SAMPLE_RATE = 16000
N_FFT = 1024
HOP = 256
FIRST_BIN = 1
N_BINS = 256
DB_MIN = -50.0
DB_MAX = 50.0
WINDOW = scipy.signal.get_window('hann', N_FFT, fftbins=True).astype(np.float64)

FRONT_END = dict(sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop=HOP,
                 first_bin=FIRST_BIN, n_bins=N_BINS, window='hann')


class AudioError(VoxError):
    """A file that cannot be used; the message names it and what to do."""


SILENT_PEAK = 10 ** (-80 / 20)     # below -80 dBFS everywhere: all silent
CLIP_LEVEL = 0.999
CLIP_FRACTION = 0.001              # >0.1 % of samples at full scale: warn


def _wav_truncation(path, size):
    """For RIFF/WAVE: (declared data bytes, bytes present) when short."""
    try:
        with open(path, 'rb') as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b'RIFF' or head[8:12] != b'WAVE':
                return None
            while True:
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, n = chunk[:4], int.from_bytes(chunk[4:], 'little')
                if cid == b'data':
                    have = size - f.tell()
                    if n != 0xFFFFFFFF and n > have:
                        return n, have
                    return None
                f.seek(n + (n & 1), 1)
    except OSError:
        return None


#: Peak bytes per sample at 16 kHz of reading one file and extracting its
#: features: the float64 resampled wave (8), the STFT's windowed frames
#: (float64, 1024 per 256-sample hop: 32) and one-sided spectrum
#: (complex128, 513 per hop: 32), the magnitude and DIO's buffers (~20).
BYTES_PER_SAMPLE = 100


def check_readable_size(path, sample_rate=SAMPLE_RATE):
    """Refuses, from the header alone, a file that would not fit in memory
    once read and resampled: its length times its sample-rate ratio (a
    2 GB file, or a header claiming 1 Hz that makes every sample 16,000)."""
    try:
        info = soundfile.info(str(path))
    except Exception:  # unreadable: load_checked's read says why
        return
    if info.samplerate <= 0 or info.frames <= 0:
        return
    out = info.frames * sample_rate / info.samplerate
    needed = info.frames * info.channels * 8 + out * BYTES_PER_SAMPLE
    check_fits(needed, f'{printable(path)}: {info.frames} samples at '
                       f'{info.samplerate} Hz ({out / sample_rate:.0f} s at '
                       f'{sample_rate} Hz)',
               'split it into shorter files, or fix its header if the '
               'sample rate is wrong', error=AudioError)


def load_checked(path, sample_rate=SAMPLE_RATE):
    """Read, validate and convert one file: (float32 mono wave, notes).

    The one audio reader: training's feature extraction, ``vox prepare``
    and every command that takes a WAV go through here (or
    :func:`load_wav`), so a bad file gets the same one-line message
    everywhere.  Raises :class:`AudioError` for files that cannot be used:
    missing, unreadable, truncated, empty, all silent, NaN/infinite
    samples.  ``notes`` lists what was changed or looks suspect: mixed down
    from N channels, resampled from R Hz, clipping.  8/16/24/32-bit PCM and
    float files are all read as float32 by soundfile.
    """
    path = Path(path)
    problem = not_a_file(path)  # "no such file" only when there is none
    if problem:
        raise AudioError(f'{printable(path)}: '
                         + ('no such file' if problem == 'does not exist'
                            else problem)
                         + '; fix the path (or the metadata naming it) or '
                           'restore the file')
    size = path.stat().st_size
    if size == 0:
        raise AudioError(f'{path}: zero-length file; re-copy or re-export '
                         f'it, or remove it from the corpus')
    cut = _wav_truncation(path, size)
    if cut is not None:
        raise AudioError(f'{path}: truncated (header declares {cut[0]} bytes '
                         f'of audio, the file holds {cut[1]}); re-copy or '
                         f're-download it')
    check_readable_size(path, sample_rate)
    try:
        data, rate = soundfile.read(str(path), dtype='float32',
                                    always_2d=True)
    except Exception as e:  # soundfile raises several types for bad files
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudioError(f'{path}: unreadable or truncated audio ({msg}); '
                         f'convert it to WAV or FLAC, or re-copy it') from None
    notes = []
    if data.shape[0] == 0:
        raise AudioError(f'{path}: holds no samples; re-export it or remove '
                         f'it')
    if not np.isfinite(data).all():
        raise AudioError(f'{path}: has NaN or infinite samples; re-export it '
                         f'from the source recording')
    peak = float(np.abs(data).max())
    if peak < SILENT_PEAK:
        raise AudioError(f'{path}: all silent (peak below -80 dBFS); check '
                         f'the recording or remove it')
    clipped = float(np.mean(np.abs(data) >= CLIP_LEVEL))
    if clipped > CLIP_FRACTION:
        notes.append(f'clipping: {100 * clipped:.2f} % of samples at full '
                     f'scale (used anyway; re-record or lower the gain if '
                     f'possible)')
    if data.shape[1] > 1:
        notes.append(f'{data.shape[1]} channels mixed down to mono')
        wave = data.mean(axis=1)
    else:
        wave = data[:, 0]
    if rate != sample_rate:
        notes.append(f'resampled from {rate} Hz to {sample_rate} Hz')
    wave = resample(wave, rate, sample_rate)
    return wave, notes


def load_wav(path, sample_rate=SAMPLE_RATE, min_frames=None):
    """:func:`load_checked`'s wave alone, refusing files shorter than
    ``min_frames`` STFT frames (one crop of the model that will read it)."""
    wave, _ = load_checked(path, sample_rate)
    if min_frames is not None and n_frames(len(wave)) < min_frames:
        raise AudioError(
            f'{path}: {len(wave) / sample_rate:.2f} s, shorter than one crop '
            f'({min_frames} frames, {n_samples(min_frames) / SAMPLE_RATE:.2f}'
            f' s); give a longer file')
    return wave


def resample(wave, rate_from, rate_to=SAMPLE_RATE):
    """Polyphase resampling (scipy.signal.resample_poly) by the exact ratio."""
    if rate_from == rate_to:
        return np.asarray(wave, dtype=np.float32)
    g = math.gcd(int(rate_from), int(rate_to))
    out = scipy.signal.resample_poly(wave, rate_to // g, rate_from // g)
    return out.astype(np.float32)


def check_output_format(path, flag='--output'):
    """Refuses, before any work, an output name :func:`save_wav` cannot
    write: the format is the suffix's, and it must take 16-bit PCM
    (.wav, .flac, ...; not .mp3, not a name without a suffix)."""
    fmt = Path(path).suffix[1:].upper()
    if not fmt or not soundfile.check_format(fmt, 'PCM_16'):
        raise AudioError(f'{flag} {printable(path)}: cannot write audio '
                         f'{"without a suffix" if not fmt else "as ." + fmt.lower()}'
                         f'; give a path ending in .wav (or .flac)')


def save_wav(path, wave, sample_rate=SAMPLE_RATE):
    """Writes 16-bit PCM, peak-limited so nothing clips."""
    wave = np.asarray(wave, dtype=np.float64)
    peak = np.max(np.abs(wave)) if wave.size else 0.0
    if peak > 0.99:
        wave = wave * (0.99 / peak)
    soundfile.write(str(path), wave, sample_rate, subtype='PCM_16')


def n_frames(n_samples):
    """Frames the STFT yields for a signal of this many samples (no centring)."""
    return max(0, 1 + (n_samples - N_FFT) // HOP)


def n_samples(frames):
    """Samples needed for exactly ``frames`` frames (17152 for 64)."""
    return N_FFT + HOP * (frames - 1)


def _frames(wave):
    t = n_frames(len(wave))
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(t)[:, None]
    return np.asarray(wave, dtype=np.float64)[idx] * WINDOW


def stft(wave):
    """Complex one-sided STFT, ``(T, 513)``."""
    return np.fft.rfft(_frames(wave), n=N_FFT, axis=1)


def istft(spectrum, length=None):
    """Inverse of :func:`stft` by weighted overlap-add (least squares)."""
    frames = np.fft.irfft(spectrum, n=N_FFT, axis=1) * WINDOW
    t = frames.shape[0]
    total = n_samples(t) if length is None else length
    out = np.zeros(max(total, n_samples(t)))
    norm = np.zeros_like(out)
    for i in range(t):  # T is at most a few thousand; each add is vectorised
        out[i * HOP:i * HOP + N_FFT] += frames[i]
        norm[i * HOP:i * HOP + N_FFT] += WINDOW ** 2
    out /= np.maximum(norm, 1e-8)
    return out[:total]


def magnitude(wave):
    """The models' 256-bin magnitude spectrogram, float32 ``(T, 256)``."""
    spec = stft(wave)[:, FIRST_BIN:FIRST_BIN + N_BINS]
    return np.abs(spec).astype(np.float32)


def to_unit(mag):
    """Raw magnitude -> [0, 1] through the fixed decibel map."""
    db = 20.0 * np.log10(np.maximum(mag, 10.0 ** (DB_MIN / 20.0)))
    return np.clip((db - DB_MIN) / (DB_MAX - DB_MIN), 0.0, 1.0).astype(
        np.float32)


def from_unit(x):
    """Inverse of :func:`to_unit` (0 maps to the floor, not to silence)."""
    db = np.asarray(x, dtype=np.float64) * (DB_MAX - DB_MIN) + DB_MIN
    return (10.0 ** (db / 20.0)).astype(np.float32)


def full_band(mag):
    """256-bin magnitude -> 513 bins with DC and 4-8 kHz set to zero."""
    full = np.zeros((mag.shape[0], N_FFT // 2 + 1))
    full[:, FIRST_BIN:FIRST_BIN + N_BINS] = mag
    return full


def spectral_convergence(mag, wave):
    """||mag - |STFT(wave)||| / ||mag|| on the model's 256 bins."""
    got = magnitude(wave)[:mag.shape[0]]
    return float(np.linalg.norm(mag - got) / max(np.linalg.norm(mag), 1e-12))


#: Griffin-Lim settings of every resynthesis (samples, vox convert,
#: vox reconstruct): the same magnitude always gives the same audio.
GL_ITERATIONS = 60
GL_SEED = 0

#: Silent frames put on each side of a magnitude before Griffin-Lim.
EDGE_FRAMES = (N_FFT - HOP) // HOP  # 3

#: Frames (all magnitudes of one block together) per FFT call of
#: :func:`griffin_lim_batch`: enough that the per-call Python work is small
#: next to the FFTs, few enough that a block's arrays stay in the CPU's
#: cache (one 256-frame crop per block, eight 64-frame ones; measured in
#: docs/performance.md: blocks of 2048 frames were a third slower).
GL_BLOCK_FRAMES = 512

#: Floor of |STFT| before dividing by it (a normal float32, so an exactly
#: zero bin gives phase 0 instead of NaN and no quotient overflows).
_GL_TINY = 1e-30


def griffin_lim(mag, n_iter=GL_ITERATIONS, momentum=0.99, seed=GL_SEED,
                callback=None, xp=None, workers=None, dtype=np.float32):
    """Waveform whose 256-bin STFT magnitude approximates ``mag`` (T, 256).

    Fast Griffin-Lim (Perraudin et al. 2013: plain GL plus a momentum term,
    ``momentum=0`` gives the original algorithm) from a seeded random phase,
    so the same magnitude always resynthesises to the same audio.
    ``callback(i, wave)`` is called after each iteration (tests use it to
    watch the spectral convergence fall).  Returns ``n_samples(T)`` samples.
    One magnitude of :func:`griffin_lim_batch` (same result bit for bit).

    ``EDGE_FRAMES`` zero frames are put on both sides and cut off again.
    Without them the outermost samples lie under the tail of a single Hann
    window, the overlap-add divides by that window's near-zero square, and
    Griffin-Lim's inconsistent phases become clicks hundreds of times
    louder than the speech (seen: peak 68 for speech at 0.17), which
    :func:`save_wav`'s peak limiting then turns into a near-silent file.
    With the padding every kept sample is under four full windows.
    """
    each = None if callback is None else (
        lambda i, waves: callback(i, waves[0]))
    mag = np.asarray(mag, np.float32)
    backend = _fft_backend(xp, workers)
    per_block = _per_block(mag.shape[0])
    return _griffin_lim_block(
        mag[None], n_iter, momentum, seed, backend, dtype,
        per_block if backend.fixed_layout else 1, each)[0]


def _per_block(frames):
    return max(1, GL_BLOCK_FRAMES // (frames + 2 * EDGE_FRAMES))


def griffin_lim_batch(mags, n_iter=GL_ITERATIONS, momentum=0.99, seed=GL_SEED,
                      xp=None, workers=None, dtype=np.float32):
    """:func:`griffin_lim` of many magnitudes ``(T_i, 256)`` at once.

    Magnitudes of one length are stacked into blocks of about
    ``GL_BLOCK_FRAMES`` frames and go through each iteration together:
    one FFT call per block and step (``scipy.fft`` with ``workers``
    threads, all CPUs by default; ``cupy.fft`` when ``xp`` is CuPy, e.g.
    ``device.xp`` of a GPU run), so the per-call Python work is paid once
    per block, not per crop.  Computed in ``dtype`` (float32 / complex64
    by default; the difference to float64 is in docs/performance.md).

    Each magnitude's result is independent of the others in the call:
    its random initial phase is drawn from ``RandomState(seed)`` over its
    own frames (as a call with it alone would), every step is per frame
    or per sample, and the FFTs of a batch are separate transforms (for
    CuPy, whose batched plans are not documented to give the same bits
    for every batch size, blocks are padded with silent magnitudes to
    one fixed size).  So a crop gives the same audio alone, in any batch
    and at any position (tests/test_griffin_lim.py).  Returns a list of
    float32 waves of ``n_samples(T_i)`` samples, in the input's order.
    """
    mags = [np.asarray(m, np.float32) for m in mags]
    by_length = {}
    for i, m in enumerate(mags):
        by_length.setdefault(m.shape[0], []).append(i)
    blocks = []
    for t, items in sorted(by_length.items()):
        per_block = _per_block(t)
        blocks += [(items[s:s + per_block], per_block)
                   for s in range(0, len(items), per_block)]
    threads = min(len(blocks), workers or os.cpu_count() or 1)
    # Blocks are independent: with several, each thread runs whole blocks
    # (the elementwise steps release the GIL too); one block gets the
    # threads inside its FFTs instead.
    backend = _fft_backend(xp, workers if threads <= 1 else 1)

    def run(block):
        chosen, per_block = block
        return chosen, _griffin_lim_block(
            np.stack([mags[i] for i in chosen]), n_iter, momentum, seed,
            backend, dtype, per_block if backend.fixed_layout else 1)

    out = [None] * len(mags)
    if threads > 1 and backend.xp is np:
        with concurrent.futures.ThreadPoolExecutor(threads) as pool:
            done = list(pool.map(run, blocks))
    else:
        done = [run(block) for block in blocks]
    for chosen, waves in done:
        for i, wave in zip(chosen, waves):
            out[i] = wave
    return out


class _FFTBackend:
    """``xp`` and its real FFTs along the last axis (n = N_FFT)."""

    def __init__(self, xp, rfft, irfft, fixed_layout):
        self.xp = xp
        self.rfft = rfft
        self.irfft = irfft
        self.fixed_layout = fixed_layout


def _fft_backend(xp, workers):
    if xp is None or xp is np:
        return _FFTBackend(
            np, lambda a: scipy.fft.rfft(a, N_FFT, workers=workers or -1),
            lambda a: scipy.fft.irfft(a, N_FFT, workers=workers or -1),
            False)
    # Any other array module (CuPy; tests pass a stand-in) through its own
    # numpy-compatible fft, in a fixed batch layout (see griffin_lim_batch).
    return _FFTBackend(xp, lambda a: xp.fft.rfft(a, N_FFT),
                       lambda a: xp.fft.irfft(a, N_FFT), True)


_GL_INIT = {}


def _initial_phase(seed, frames):
    """Unit phases of bins FIRST_BIN.. of a ``frames``-frame magnitude,
    drawn as a single call always drew them: RandomState(seed) over the
    full (frames, 513) spectrum.  Cached: evaluation asks for one length
    hundreds of times."""
    key = (seed, frames)
    found = _GL_INIT.get(key)   # one lookup: blocks run on several threads
    if found is None:
        if len(_GL_INIT) > 64:
            _GL_INIT.clear()
        rng = np.random.RandomState(seed)
        phase = 2 * np.pi * rng.rand(frames, N_FFT // 2 + 1)
        found = _GL_INIT[key] = np.stack(
            [np.cos(phase), np.sin(phase)], axis=-1)[
                :, FIRST_BIN:FIRST_BIN + N_BINS]
    return found


def _ola_norm(frames):
    """1 / sum of squared windows per sample of ``frames`` frames."""
    norm = np.zeros(n_samples(frames))
    for k in range(frames):
        norm[k * HOP:k * HOP + N_FFT] += WINDOW ** 2
    return 1.0 / np.maximum(norm, 1e-8)


def _griffin_lim_block(mag, n_iter, momentum, seed, fft, dtype, layout,
                       callback=None):
    """Griffin-Lim of ``B`` magnitudes of one length, ``mag`` (B, T, 256),
    padded to a multiple of ``layout`` items with silent ones.

    Complex spectra are held as real arrays with a trailing (re, im) axis,
    so every step is an IEEE add, multiply, divide or square root on
    single numbers: correctly rounded, hence the same bits in SIMD and
    scalar loops, wherever an item sits in the block.
    """
    xp = fft.xp
    real = np.dtype(dtype)
    cplx = np.result_type(real, np.complex64)
    b, t = mag.shape[:2]
    rows = -(-b // layout) * layout
    tp = t + 2 * EDGE_FRAMES
    skip = EDGE_FRAMES * HOP
    blocks = tp + N_FFT // HOP - 1          # hop-sized blocks of the wave
    target = np.zeros((rows, tp, N_BINS), real)
    target[:b, EDGE_FRAMES:EDGE_FRAMES + t] = mag
    target = xp.asarray(target)
    norm = _ola_norm(tp)
    window_parts = xp.asarray(WINDOW.astype(real)).reshape(N_FFT // HOP, HOP)
    part = xp.empty((rows, tp, HOP), real)
    synthesis_norm = xp.asarray(norm.astype(real))
    # frame(wave / norm) * window as one factor per frame sample
    idx = np.arange(N_FFT)[None, :] + HOP * np.arange(tp)[:, None]
    analysis = xp.asarray((norm[idx] * WINDOW).astype(real))
    # the full one-sided spectrum (given fewer bins, scipy's irfft copies
    # them into a zero-padded array first: four times slower); DC and
    # 4-8 kHz stay zero, the model's bins are written each iteration
    spec = xp.zeros((rows, tp, N_FFT // 2 + 1), cplx)
    kept = spec[:, :, FIRST_BIN:FIRST_BIN + N_BINS]
    spec.view(real).reshape(rows, tp, N_FFT // 2 + 1, 2)[
        :, :, FIRST_BIN:FIRST_BIN + N_BINS] = target[..., None] * xp.asarray(_initial_phase(seed, tp).astype(real))
    wave = xp.empty((rows, blocks * HOP), real)
    wave_blocks = wave.reshape(rows, blocks, HOP)
    frames_of_wave = xp.lib.stride_tricks.as_strided(
        wave, (rows, tp, N_FFT), (wave.strides[0], HOP * real.itemsize,
                                  real.itemsize))
    accelerated = xp.empty((rows, tp, N_BINS, 2), real)
    accelerated_c = accelerated.view(cplx)[..., 0]
    previous = xp.zeros((rows, tp, N_BINS, 2), real)
    squares = xp.empty((rows, tp, N_BINS, 2), real)
    size = xp.empty((rows, tp, N_BINS), real)
    carry = real.type(momentum / (1 + momentum)) if momentum else None

    def overlap_add():
        frames = fft.irfft(spec).astype(real, copy=False)
        parts = frames.reshape(rows, tp, N_FFT // HOP, HOP)
        xp.multiply(parts[:, :, 0], window_parts[0], out=wave_blocks[:, :tp])
        wave_blocks[:, tp:] = 0
        for k in range(1, N_FFT // HOP):
            xp.multiply(parts[:, :, k], window_parts[k], out=part)
            wave_blocks[:, k:k + tp] += part

    def output():
        cut = wave[:b, skip:skip + n_samples(t)] * synthesis_norm[
            skip:skip + n_samples(t)]
        return [np.asarray(w, np.float32) for w in (
            cut.get() if hasattr(cut, 'get') else cut)]

    overlap_add()
    for i in range(n_iter):
        rebuilt = fft.rfft(frames_of_wave * analysis).astype(cplx, copy=False)
        rebuilt = rebuilt.view(real).reshape(rows, tp, N_FFT // 2 + 1, 2)[
            :, :, FIRST_BIN:FIRST_BIN + N_BINS]
        if carry is not None:
            # previous holds carry * the last iteration's rebuilt spectrum
            xp.subtract(rebuilt, previous, out=accelerated)
            xp.multiply(rebuilt, carry, out=previous)
        else:
            accelerated[...] = rebuilt
        # target / |accelerated|, then times accelerated: the new phases
        xp.multiply(accelerated, accelerated, out=squares)
        xp.add(squares[..., 0], squares[..., 1], out=size)
        xp.sqrt(size, out=size)
        xp.maximum(size, real.type(_GL_TINY), out=size)
        xp.divide(target, size, out=size)
        # complex times real: the real factor's imaginary part is an exact
        # 0, so this is two real products, whichever loop numpy picks
        xp.multiply(accelerated_c, size, out=kept)
        overlap_add()
        if callback is not None:
            callback(i, output())
    return output()


def voiced_frames(wave):
    """Boolean per STFT frame: does pyworld's DIO find F0 there?

    Used to pick crops that are mostly speech rather than pause.  DIO's
    frame period is set to the hop (16 ms) and its frame k (centred at
    k*HOP) is mapped to the STFT frame whose window centre is nearest.
    """
    import pyworld  # imported here: only feature extraction needs it
    x = np.asarray(wave, dtype=np.float64)
    f0, _ = pyworld.dio(x, SAMPLE_RATE, frame_period=1000.0 * HOP / SAMPLE_RATE)
    t = n_frames(len(x))
    centres = (np.arange(t) * HOP + N_FFT // 2) // HOP
    centres = np.minimum(centres, len(f0) - 1)
    return f0[centres] > 0
