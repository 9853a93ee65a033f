"""Does the content of a source crop survive in its conversion?

Pure measures between two 16 kHz waveforms, ``reference`` (the source
crop's original audio) and ``output`` (a resynthesised spectrogram: the
conversion, the copy-synthesis reference, or another utterance), from what
vox already depends on (pyworld, NumPy, SciPy):

* ``vuv_agreement``: the fraction of frames where DIO (refined by
  StoneMask) finds voicing in both or in neither;
* ``log_f0_correlation``: Pearson correlation of log F0 over the frames
  voiced in both.  A correlation is blind to each signal's mean and
  spread, so it is the correlation of speaker-normalised log F0 (z-scored
  per crop): a conversion to a higher voice with the same intonation
  scores as high as the input itself;
* ``energy_correlation``: Pearson correlation of the frame-energy envelope
  (dB) on the models' 256 bins, i.e. where the syllables and pauses are;
* ``mcd_db``: mel-cepstral distance (dB, the usual ``10/ln 10 *
  sqrt(2 * sum d_k^2)``) between pyworld's CheapTrick envelopes coded by
  ``code_spectral_envelope`` (SPTK-free), coefficient 0 (level) dropped,
  each crop's own mean removed first so the speaker's average timbre
  (what a conversion is meant to change) does not count, only the
  envelope's movement (the formant tracks that carry the words), over the
  reference's speech frames (within ``SPEECH_DB`` of its loudest frame);
  DTW-aligned when the two lengths differ.

F0 is DIO's, refined by StoneMask, not Harvest's: Harvest voices more
reliably but is nearly a hundred times slower (one 4 s crop: about 3 s
against 0.04 s on a shared 2-core machine), and a few hundred crops per
evaluation would take an hour; DIO's voicing errors fall on the ceiling
and floor rows alike.

Both signals are first resampled to 8 kHz: the models see 15.6 Hz - 4 kHz
(vox.data.audio), so the original audio's upper band would only add the
same constant to every comparison.  Frames are ``HOP`` samples (16 ms) as
in the models' spectrogram.

None of these numbers means much alone; :func:`position` places one
between a floor and a ceiling computed the same way (vox.evaluation
.procedure: the copy-synthesis reference and a random other utterance).
"""
import dataclasses

import numpy as np

from vox.data import audio

#: pyworld's analysis rate: the models' band ends at 4 kHz.
ANALYSIS_RATE = 8000
#: ms; one frame per STFT hop of the models' spectrogram.
FRAME_PERIOD_MS = 1000.0 * audio.HOP / audio.SAMPLE_RATE
#: Coded envelope dimensions (coefficient 0, the level, is not compared).
N_CEPSTRA = 20
#: Frames within this many dB of the reference's loudest count as speech
#: for ``mcd_db`` (pauses hold no content, and a silent frame's envelope
#: is noise whatever the model did).
SPEECH_DB = 40.0
#: Fewer frames voiced in both than this: no F0 correlation for the pair.
MIN_VOICED_FRAMES = 8

#: name -> (what it is, True if higher means more content kept, the
#: least ceiling-minus-floor gap that makes a position between them
#: meaningful: below it the measure does not tell speech from chance on
#: this data, e.g. the F0 correlation of steady tones)
MEASURES = {
    'vuv_agreement': ('voiced/unvoiced agreement', True, 0.05),
    'log_f0_correlation': ('speaker-normalised log-F0 correlation', True,
                           0.1),
    'energy_correlation': ('frame-energy envelope correlation', True, 0.1),
    'mcd_db': ('mean-removed mel-cepstral distance (dB)', False, 1.0),
}

_MCD_SCALE = 10.0 / np.log(10.0) * np.sqrt(2.0)


@dataclasses.dataclass
class Analysis:
    """What the measures need from one waveform."""
    f0: np.ndarray          # (frames,) Hz, 0 where unvoiced
    cepstra: np.ndarray     # (frames, N_CEPSTRA) coded spectral envelope
    energy_db: np.ndarray   # (STFT frames,) dB on the models' 256 bins


def analyse(wave, sample_rate=audio.SAMPLE_RATE):
    """:class:`Analysis` of a mono waveform."""
    import pyworld  # imported here: only the content measures need it
    wave = np.asarray(wave, dtype=np.float64)
    x = audio.resample(wave, sample_rate, ANALYSIS_RATE).astype(np.float64)
    f0, t = pyworld.dio(x, ANALYSIS_RATE, frame_period=FRAME_PERIOD_MS)
    f0 = pyworld.stonemask(x, f0, t, ANALYSIS_RATE)
    envelope = pyworld.cheaptrick(x, f0, t, ANALYSIS_RATE)
    cepstra = pyworld.code_spectral_envelope(envelope, ANALYSIS_RATE,
                                             N_CEPSTRA)
    full = audio.resample(wave, sample_rate, audio.SAMPLE_RATE)
    power = (audio.magnitude(full).astype(np.float64) ** 2).sum(axis=1)
    energy_db = 10.0 * np.log10(power + 1e-10)
    return Analysis(f0, cepstra, energy_db)


def dtw_path(cost):
    """Monotonic alignment (i, j) index arrays minimising the summed
    ``cost`` (n, m) with steps (1, 0), (0, 1), (1, 1) from (0, 0) to the
    end."""
    n, m = cost.shape
    acc = np.full((n + 1, m + 1), np.inf)
    acc[0, 0] = 0.0
    for i in range(1, n + 1):
        diag = acc[i - 1, :-1]
        up = acc[i - 1, 1:]
        row = acc[i]
        c = cost[i - 1]
        best = np.minimum(diag, up) + c
        for j in range(1, m + 1):   # the (0, 1) step runs along the row
            row[j] = min(best[j - 1], row[j - 1] + c[j - 1])
    i, j, path = n, m, []
    while i > 0 and j > 0:
        path.append((i - 1, j - 1))
        k = int(np.argmin((acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])))
        i, j = (i - 1, j - 1) if k == 0 else (i - 1, j) if k == 1 else \
            (i, j - 1)
    path.reverse()
    return tuple(np.asarray(v, dtype=np.int64) for v in zip(*path))


def _pearson(a, b):
    a = np.asarray(a, np.float64) - np.mean(a)
    b = np.asarray(b, np.float64) - np.mean(b)
    den = np.sqrt((a ** 2).sum() * (b ** 2).sum())
    return float((a * b).sum() / den) if den > 0 else float('nan')


def _trim(a, b):
    n = min(len(a), len(b))
    return a[:n], b[:n]


def compare(ref, out):
    """The :data:`MEASURES` of ``out`` against ``ref`` (two
    :class:`Analysis`); NaN where a measure is undefined (no common voiced
    frames, a constant envelope)."""
    speech = ref.energy_db >= ref.energy_db.max() - SPEECH_DB
    c_ref = ref.cepstra[:, 1:] - ref.cepstra[:, 1:].mean(axis=0)
    c_out = out.cepstra[:, 1:] - out.cepstra[:, 1:].mean(axis=0)
    # the envelope frames are centred at k * HOP, the STFT frames at
    # k * HOP + N_FFT / 2: STFT frame k covers envelope frame k + 2
    shift = audio.N_FFT // 2 // audio.HOP
    keep = np.zeros(len(c_ref), bool)
    keep[shift:shift + len(speech)] = speech[:max(0, len(c_ref) - shift)]
    if len(c_ref) == len(c_out):
        i = j = np.flatnonzero(keep)
        f0_ref, f0_out = ref.f0, out.f0
        e_ref, e_out = _trim(ref.energy_db, out.energy_db)
    else:
        cost = np.sqrt(((c_ref[:, None] - c_out[None]) ** 2).sum(axis=2))
        i, j = dtw_path(cost)
        f0_ref, f0_out = ref.f0[i], out.f0[j]
        on = (i >= shift) & (j >= shift) & (i - shift < len(ref.energy_db)) \
            & (j - shift < len(out.energy_db))
        e_ref = ref.energy_db[i[on] - shift]
        e_out = out.energy_db[j[on] - shift]
        i, j = i[keep[i]], j[keep[i]]
    mcd = float(_MCD_SCALE * np.sqrt(((c_ref[i] - c_out[j]) ** 2).sum(
        axis=1)).mean()) if len(i) else float('nan')
    v_ref, v_out = f0_ref > 0, f0_out > 0
    both = v_ref & v_out
    f0_corr = _pearson(np.log(f0_ref[both]), np.log(f0_out[both])) \
        if both.sum() >= MIN_VOICED_FRAMES else float('nan')
    return {'vuv_agreement': float((v_ref == v_out).mean()),
            'log_f0_correlation': f0_corr,
            'energy_correlation': _pearson(e_ref, e_out),
            'mcd_db': mcd}


def mean_measures(rows):
    """Per measure: the mean over pairs (NaN pairs left out) and how many
    pairs it is over."""
    out = {}
    for name in MEASURES:
        values = np.asarray([r[name] for r in rows], dtype=np.float64)
        ok = np.isfinite(values)
        out[name] = {'mean': float(values[ok].mean()) if ok.any() else None,
                     'n': int(ok.sum())}
    return out


def position(value, floor, ceiling, min_separation=1e-12):
    """Where ``value`` lies from ``floor`` (0) to ``ceiling`` (1); None
    when undefined, i.e. when the ceiling is not at least
    ``min_separation`` better than the floor (in either direction: the same
    formula serves distances, floor > ceiling, and similarities)."""
    if value is None or floor is None or ceiling is None or \
            abs(ceiling - floor) < min_separation:
        return None
    return float((value - floor) / (ceiling - floor))


def measure_position(name, value, floor, ceiling):
    """:func:`position` with the ceiling on the measure's better side by at
    least its :data:`MEASURES` separation."""
    _, higher, gap = MEASURES[name]
    if None in (value, floor, ceiling) or \
            (ceiling - floor if higher else floor - ceiling) < gap:
        return None
    return position(value, floor, ceiling)
