"""The built-in generated speech corpus: deterministic, multi-speaker,
labelled.

The blog's corpus (most likely the Corpus of Spontaneous Japanese) is not
public, so vox ships a generator that makes a small speech-like corpus with
the same three labels: speaker, birthplace (accent) and sex.  It is a
formant synthesiser driven through WORLD (``pyworld.synthesize``):

* utterances are phrases of CV syllables (5 vowels a i u e o; stops with a
  closure and a burst, fricatives as shaped noise, nasals with a low F1,
  an anti-resonance and less energy, glides, a tap) separated by pauses;
  formant targets are smoothed so segments glide into each other;
* sex: F0 range (male about 90-140 Hz, female about 180-260 Hz) and vocal
  tract length (female formants x1.17 on average);
* birthplace: systematic per-vowel formant shifts (10-22 %) and a phrase
  intonation pattern (accent-peak position, final rise / fall / level,
  declination);
* speaker: formant-scale jitter and per-formant offsets, F0 offset and pitch
  range, spectral tilt, formant bandwidths, speaking rate, breathiness and
  level.

Everything random comes from ``numpy.random.default_rng`` seeded with the
spec's seed and the speaker / utterance indices, so the same spec gives
byte-identical WAV files.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import multiprocessing
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import List, Optional

import numpy as np
import pyworld
from scipy.io import wavfile
from scipy.ndimage import gaussian_filter1d

from vox.base.leftovers import remove_abandoned
from vox.data import audio
from vox.data.corpus.manifest import Utterance, write_manifest

#: Bump when the generator's output changes: it is part of the cache key.
GENERATOR_VERSION = 1

#: The longest crop any experiment takes: 256 STFT frames (1024 window,
#: hop 256) at 16 kHz.  Every generated utterance is at least this long.
MIN_SAMPLES = audio.n_samples(256)  # 66304

FRAME_PERIOD = 5.0  # ms, WORLD frame period

BIRTHPLACES = ('north', 'south', 'west', 'east', 'central', 'coast')
SEXES = ('M', 'F')
VOWELS = 'aiueo'

# Adult male formant targets F1..F5 (Hz) of the 5 vowels.
_VOWEL_F = {
    'a': (750, 1200, 2550, 3500, 4500),
    'i': (290, 2250, 3000, 3650, 4600),
    'u': (340, 1350, 2350, 3400, 4500),
    'e': (470, 1900, 2550, 3550, 4500),
    'o': (500, 850, 2500, 3450, 4500),
}
_BANDWIDTH = np.array([70.0, 90.0, 140.0, 200.0, 300.0])

# Accents: per-vowel (F1, F2, F3) multipliers and an intonation pattern:
# peak = accent-peak position in the phrase (0..1), final = phrase-final
# movement in semitones (+ rise, - fall), decl = declination (semitones over
# the phrase); cons = consonant-frequency multipliers; vlen = vowel length
# multiplier; final_len = phrase-final lengthening (default 1.45).
_ACCENTS = {
    'north': dict(shift={'u': (0.95, 1.22, 1.0), 'o': (1.0, 1.10, 1.0)},
                  peak=0.2, final=+5.0, decl=2.5, cons={'sh': 2.5, 'z': 2.0}),
    'south': dict(shift={'e': (1.20, 0.90, 1.0), 'a': (1.06, 0.93, 1.0)},
                  peak=0.5, final=-4.5, decl=5.0, cons={'r': 2.5, 'h': 2.0},
                  vlen=1.12),
    'west': dict(shift={'i': (1.15, 0.90, 0.96), 'o': (0.86, 1.0, 1.0)},
                 peak=0.8, final=+1.0, decl=1.0, cons={'n': 1.8, 'm': 1.8},
                 final_len=1.9),
    'east': dict(shift={'o': (1.0, 1.15, 1.0), 'e': (0.92, 1.08, 1.0)},
                 peak=0.35, final=+2.5, decl=3.0, cons={'k': 1.8, 't': 1.5}),
    'central': dict(shift={'i': (1.0, 1.10, 1.04), 'a': (0.90, 1.0, 1.0)},
                    peak=0.6, final=-2.0, decl=3.5, cons={'s': 2.0, 'd': 1.8},
                    vlen=0.92),
    'coast': dict(shift={'u': (1.10, 0.85, 1.0), 'a': (1.0, 1.10, 1.0)},
                  peak=0.12, final=-1.0, decl=4.0,
                  cons={'b': 2.5, 'g': 2.0, 'w': 2.0}, final_len=1.2),
}

# Stops: voiced?, F2 locus (Hz, male; None = velar, follows the vowel's F2),
# burst centre frequency (Hz; None = velar, from the vowel's F2), burst
# bandwidth (Hz).
_STOPS = {'p': (False, 900, 1000.0, 2500.0),
          't': (False, 1700, 4500.0, 2000.0),
          'k': (False, None, None, 900.0), 'b': (True, 900, 1000.0, 2500.0),
          'd': (True, 1700, 4500.0, 2000.0), 'g': (True, None, None, 900.0)}
_CONSONANTS = 'k s sh t n h m y r w g z d b p'.split()
_CONS_WEIGHTS = np.array([10, 8, 4, 8, 8, 5, 6, 3, 6, 3, 4, 3, 4, 3, 2],
                         dtype=float)


@dataclass(frozen=True)
class CorpusSpec:
    """What to generate.  The cache folder of ``ensure_corpus`` hashes it."""
    seed: int = 0
    birthplaces: int = 3
    speakers_per_cell: int = 3          # cell = birthplace x sex
    utterances_per_speaker: int = 10
    min_duration: float = 4.5           # seconds
    max_duration: float = 6.0
    sample_rate: int = audio.SAMPLE_RATE

    def __post_init__(self):
        if not 1 <= self.birthplaces <= len(BIRTHPLACES):
            raise ValueError(f'birthplaces must be 1..{len(BIRTHPLACES)}, '
                             f'not {self.birthplaces}')
        if self.speakers_per_cell < 1 or self.utterances_per_speaker < 1:
            raise ValueError('speakers_per_cell and utterances_per_speaker '
                             'must be at least 1')
        if self.min_duration * audio.SAMPLE_RATE < MIN_SAMPLES:
            raise ValueError(f'min_duration must be at least '
                             f'{MIN_SAMPLES / audio.SAMPLE_RATE:.3f} s '
                             f'(256 frames)')
        if self.max_duration < self.min_duration:
            raise ValueError('max_duration must be >= min_duration')
        if self.sample_rate < 8000:
            raise ValueError('sample_rate must be at least 8000')

    @property
    def n_speakers(self) -> int:
        return self.birthplaces * len(SEXES) * self.speakers_per_cell


@dataclass(frozen=True)
class _Speaker:
    index: int
    name: str
    birthplace: str
    sex: str
    formants: dict        # vowel -> F1..F5 (Hz), accent and identity applied
    scale: np.ndarray     # per-formant scale for consonant loci (5,)
    bw_scale: float
    f0: float             # Hz, speaker's base F0
    f0_range: float       # pitch-excursion multiplier
    tilt: float           # dB / octave
    rate: float           # >1 is faster
    breath: float         # aperiodicity floor (dB)
    peak_db: float        # normalisation target (dBFS)


def _speakers(spec: CorpusSpec) -> List[_Speaker]:
    out = []
    width = max(2, len(str(spec.n_speakers)))
    i = 0
    for b in BIRTHPLACES[:spec.birthplaces]:
        acc = _ACCENTS[b]
        for sex in SEXES:
            for _ in range(spec.speakers_per_cell):
                rng = np.random.default_rng([spec.seed, 1, i])
                vt = (rng.uniform(1.14, 1.21) if sex == 'F' else 1.0)
                vt *= rng.uniform(0.96, 1.04)
                scale = vt * (1.0 + rng.normal(0.0, 0.025, 5))
                formants = {}
                for v in VOWELS:
                    mult = np.ones(5)
                    mult[:3] = acc['shift'].get(v, (1.0, 1.0, 1.0))
                    formants[v] = np.array(_VOWEL_F[v]) * mult * scale
                if sex == 'F':
                    f0 = rng.uniform(192.0, 240.0)
                    breath = rng.uniform(-32.0, -14.0)
                else:
                    f0 = rng.uniform(98.0, 130.0)
                    breath = rng.uniform(-38.0, -18.0)
                i += 1
                out.append(_Speaker(
                    index=i - 1, name=f'spk{i:0{width}d}', birthplace=b,
                    sex=sex, formants=formants, scale=scale,
                    bw_scale=rng.uniform(0.8, 1.35) * (1.1 if sex == 'F'
                                                       else 1.0),
                    f0=f0, f0_range=rng.uniform(0.7, 1.3),
                    tilt=rng.uniform(-7.0, -2.0), rate=rng.uniform(0.87, 1.15),
                    breath=breath, peak_db=rng.uniform(-4.0, -2.0)))
    return out


# --------------------------------------------------------------------------
# Segments.  A segment is a dict of targets held over its duration:
#   F: F1..F5 (Hz); bw: bandwidth multiplier; amp: dB of the formant
#   (cascade) source; fric: dB of the frication source; fric_f, fric_b:
#   frication resonance (Hz); voiced: bool; zero: anti-resonance (Hz, 0 none);
#   kind: label for the intonation code.

def _seg(dur, F, *, amp=-80.0, fric=-80.0, fric_f=4000.0, fric_b=2000.0,
         voiced=False, bw=1.0, zero=0.0, kind='c'):
    return dict(dur=dur, F=np.asarray(F, dtype=float), amp=amp, fric=fric,
                fric_f=fric_f, fric_b=fric_b, voiced=voiced, bw=bw,
                zero=zero, kind=kind)


def _consonant(c, vF, spk, rng, rate):
    """Segments of consonant ``c`` before a vowel with formants ``vF``."""
    s = spk.scale
    d = lambda ms: ms / 1000.0 / rate * rng.uniform(0.85, 1.15)  # noqa: E731

    def locus(f2, f3=None):
        F = vF.copy()
        F[0] = 250.0 * s[0]
        if f2 is not None:
            F[1] = f2 * s[1]
        if f3 is not None:
            F[2] = f3 * s[2]
        return F

    if c in _STOPS:
        voiced, f2, burst_f, burst_b = _STOPS[c]
        if burst_f is None:                       # velar: burst near F2
            burst_f = float(np.clip(vF[1] * 1.1, 1200 * s[1], 3000 * s[1]))
        F = locus(f2)
        closure = _seg(d(55 if not voiced else 45), F,
                       amp=-30.0 if voiced else -80.0, voiced=voiced,
                       bw=1.5)
        if voiced:
            closure['F'][0] = 200.0 * s[0]
        burst = _seg(d(10), F, fric=-12.0 if c in 'tkdg' else -16.0,
                     fric_f=burst_f if c in 'kg' else burst_f * s[2],
                     fric_b=burst_b, voiced=voiced,
                     amp=-30.0 if voiced else -80.0)
        segs = [closure, burst]
        if not voiced:
            segs.append(_seg(d(20), vF, amp=-18.0, bw=1.6))   # aspiration
        return segs
    if c == 's':
        return [_seg(d(95), locus(1700), fric=-24.0, fric_f=5600 * s[3],
                     fric_b=2200.0)]
    if c == 'sh':
        return [_seg(d(105), locus(2000, 2600), fric=-24.0,
                     fric_f=3000 * s[2], fric_b=1400.0)]
    if c == 'z':
        return [_seg(d(75), locus(1700), amp=-24.0, fric=-30.0,
                     fric_f=5200 * s[3], fric_b=2200.0, voiced=True)]
    if c == 'h':
        return [_seg(d(65), vF, amp=-14.0, bw=1.8)]
    if c == 'm':
        return [_seg(d(65), np.array([280, 1100, 2200, 3300, 4400]) * s,
                     amp=-9.0, voiced=True, bw=1.6, zero=800 * s[1])]
    if c == 'n':
        return [_seg(d(60), np.array([280, 1600, 2600, 3400, 4400]) * s,
                     amp=-9.0, voiced=True, bw=1.6, zero=1800 * s[1])]
    if c == 'y':
        return [_seg(d(50), np.array([300, 2250, 3000, 3650, 4600]) * s,
                     amp=-3.0, voiced=True)]
    if c == 'w':
        return [_seg(d(50), np.array([340, 750, 2300, 3300, 4400]) * s,
                     amp=-4.0, voiced=True)]
    if c == 'r':
        return [_seg(d(28), np.array([350, 1400, 1900, 3200, 4400]) * s,
                     amp=-11.0, voiced=True)]
    raise ValueError(c)


def _syllable(spk, rng, rate, final=False):
    v = VOWELS[rng.integers(5)]
    c = None
    acc = _ACCENTS[spk.birthplace]
    if rng.random() > 0.18:
        p = _CONS_WEIGHTS * [acc['cons'].get(x, 1.0) for x in _CONSONANTS]
        c = _CONSONANTS[rng.choice(len(_CONSONANTS), p=p / p.sum())]
        if c == 'y' and v in 'ie':
            v = 'a'
        if c == 'w' and v != 'a':
            c = 'k'
    vF = spk.formants[v] * (1.0 + rng.normal(0.0, 0.02, 5))   # token jitter
    segs = _consonant(c, vF, spk, rng, rate) if c else []
    dur = rng.uniform(0.08, 0.115) / rate * acc.get('vlen', 1.0)
    if rng.random() < 0.1:
        dur *= 1.8                                          # long vowel
    if final:
        dur *= acc.get('final_len', 1.45)
    segs.append(_seg(dur, vF, amp=0.0 if v in 'aeo' else -2.0, voiced=True,
                     kind='v'))
    return segs


def _phrase(spk, rng, n_syll, rate):
    syl = [_syllable(spk, rng, rate, final=(k == n_syll - 1))
           for k in range(n_syll)]
    return syl


def _dur(segs):
    return sum(s['dur'] for s in segs)


def _plan(spk, rng, target):
    """Segments of one utterance, with phrase spans, lasting ``target`` s."""
    rate = spk.rate * rng.uniform(0.95, 1.05)
    pause_F = spk.formants['a']
    segs = [_seg(rng.uniform(0.1, 0.25), pause_F, kind='p')]
    phrases = []                                   # (start, end) seconds
    trail = rng.uniform(0.15, 0.3)
    while True:
        t = _dur(segs)
        gap = 0.0 if not phrases else rng.uniform(0.15, 0.35)
        want = int(rng.integers(4, 10))
        fitted = None
        for n in range(want, 2, -1):
            syl = _phrase(spk, rng, n, rate)
            flat = [s for x in syl for s in x]
            if t + gap + _dur(flat) + trail <= target:
                fitted = flat
                break
        if fitted is None:
            break
        if gap:
            segs.append(_seg(gap, pause_F, kind='p'))
        start = _dur(segs)
        segs.extend(fitted)
        phrases.append((start, start + _dur(fitted)))
    segs.append(_seg(max(target - _dur(segs), 0.05), pause_F, kind='p'))
    return segs, phrases


# --------------------------------------------------------------------------
# Envelopes.

def _resonance(F, B, cw, sw, fs):
    """Power response of 2-pole resonators with DC gain 1.

    F, B: (n,) Hz; cw, sw: cos / sin of the bins' angular frequency (1, bins).
    """
    r = np.exp(-np.pi * B / fs)[:, None].astype(np.float32)
    th = (2 * np.pi * F / fs)[:, None].astype(np.float32)
    ct, st = np.cos(th), np.sin(th)
    a, b = 1 + r * r, 2 * r
    cc = cw * (b * ct)
    ss = sw * (b * st)
    lo = a - cc
    hi = lo + ss
    lo -= ss
    lo *= hi                                  # |1 - r e^{+-j th} e^{-jw}|^2
    np.divide((a - b * ct) ** 2, lo, out=lo)
    return lo


def _frames(segs, n, fp_s):
    t = np.arange(n) * fp_s
    edges = np.cumsum([s['dur'] for s in segs])
    idx = np.minimum(np.searchsorted(edges, t, side='right'), len(segs) - 1)
    return idx


def _render(spk, segs, phrases, rng, n_samples, fs):
    n = int(np.ceil(n_samples / fs / (FRAME_PERIOD / 1000.0))) + 2
    f0, sp, ap = _world_params(spk, segs, phrases, rng, n, fs)
    return pyworld.synthesize(f0, sp, ap, fs, FRAME_PERIOD)[:n_samples]


def _world_params(spk, segs, phrases, rng, n, fs):
    """WORLD parameters (f0, spectral envelope, aperiodicity) of n frames."""
    fp_s = FRAME_PERIOD / 1000.0
    idx = _frames(segs, n, fp_s)

    def get(key):
        return np.array([s[key] for s in segs], dtype=float)[idx]
    F = np.stack([s['F'] for s in segs])[idx]                  # (n, 5)
    F = gaussian_filter1d(F, 3.0, axis=0, mode='nearest')
    bw = gaussian_filter1d(get('bw'), 2.0, mode='nearest')
    amp = gaussian_filter1d(get('amp'), 1.2, mode='nearest')
    fric = gaussian_filter1d(get('fric'), 0.8, mode='nearest')
    fric_f = get('fric_f')
    fric_b = get('fric_b')
    zero = get('zero')
    zero_w = gaussian_filter1d((zero > 0).astype(float), 1.5, mode='nearest')
    voiced = get('voiced') > 0.5

    fft = pyworld.get_cheaptrick_fft_size(fs)
    nb = fft // 2 + 1
    freqs = np.arange(nb) * fs / fft
    w = 2 * np.pi * freqs / fs
    cw = np.cos(w)[None, :].astype(np.float32)
    sw = np.sin(w)[None, :].astype(np.float32)
    # Vocal tract: cascade of 5 formants with bandwidths growing with F.
    power = np.ones((n, nb), dtype=np.float32)
    for k in range(5):
        B = _BANDWIDTH[k] * spk.bw_scale * bw * (1 + F[:, k] / 6000.0)
        power *= _resonance(np.minimum(F[:, k], 0.45 * fs), B, cw, sw, fs)
    # Higher poles (fixed, per speaker): keep 4-8 kHz from collapsing.
    for f, b in ((5500.0, 600.0), (6800.0, 900.0)):
        f = np.full(n, min(f * spk.scale[4], 0.47 * fs))
        power *= _resonance(f, np.full(n, b), cw, sw, fs)
    # Nasal anti-resonance (only where a nasal is near).
    near = zero_w > 0.01
    if near.any():
        zf = np.where(zero[near] > 0, zero[near], 1000.0)
        notch = 1.0 / _resonance(zf, np.full(zf.shape, 150.0), cw, sw, fs)
        power[near] *= notch ** zero_w[near, None]
    # Source + radiation tilt (dB/octave above 100 Hz), per speaker, and the
    # segment's level.
    oct_ = np.log2(np.maximum(freqs, 100.0) / 100.0)
    power *= (10 ** (spk.tilt * oct_ / 10)).astype(np.float32)
    power *= (10 ** (amp / 10)).astype(np.float32)[:, None]
    # Frication: one broad resonance normalised to its peak, high-passed.
    loud = fric > -60.0
    if loud.any():
        fr = _resonance(fric_f[loud], fric_b[loud], cw, sw, fs)
        fr /= fr.max(axis=1, keepdims=True)
        fr *= ((freqs / (freqs + 1500.0)) ** 4).astype(np.float32)
        fr *= (10 ** ((fric[loud] + 12.0) / 10)).astype(np.float32)[:, None]
        power[loud] += fr
    sp = power.astype(np.float64)
    sp *= 1e-4
    sp += 1e-13

    # Aperiodicity: breathy floor rising with frequency in voiced frames;
    # frication-dominated voiced frames (z, voiced bursts) are mixed;
    # unvoiced frames are all noise.
    ap_db = spk.breath + 30.0 * (freqs / (fs / 2)) ** 1.5
    rows = np.stack([np.clip(10 ** (ap_db / 20), 0.001, 0.999),
                     np.clip(10 ** (np.maximum(ap_db, -6.0) / 20), 0.001,
                             0.999),
                     np.full(nb, 0.999)])
    which = np.where(~voiced, 2, np.where(fric > amp - 6.0, 1, 0))
    ap = rows[which]

    f0 = _intonation(spk, phrases, n, fp_s, rng) * voiced
    return np.ascontiguousarray(f0), sp, ap


def _intonation(spk, phrases, n, fp_s, rng):
    """F0 contour (Hz) over all frames; zeroed by the caller where unvoiced."""
    acc = _ACCENTS[spk.birthplace]
    t = np.arange(n) * fp_s
    st = np.zeros(n)
    rg = spk.f0_range
    for start, end in phrases:
        length = max(end - start, 1e-3)
        u = np.clip((t - start) / length, 0.0, 1.0)
        inside = (t >= start - 0.05) & (t <= end + 0.05)
        c = acc['decl'] * rg * (0.5 - u)                       # declination
        c -= 2.0 * rg * np.exp(-(t - start) / 0.06) * (t >= start)  # onset
        peak = acc['peak'] + rng.normal(0.0, 0.05)
        c += 3.5 * rg * np.exp(-0.5 * ((u - peak) * length / 0.13) ** 2)
        tail = np.clip((t - (end - 0.22)) / 0.22, 0.0, 1.0)
        c += acc['final'] * rg * tail ** 1.5
        st[inside] = c[inside]
    st += gaussian_filter1d(rng.normal(0.0, 1.0, n), 10.0) * 2.0   # drift
    st += rng.normal(0.0, 0.06, n)                                  # jitter
    st += 0.15 * np.sin(2 * np.pi * rng.uniform(4.5, 6.0) * t
                        + rng.uniform(0, 2 * np.pi))                # tremor
    return spk.f0 * 2.0 ** (st / 12.0)


def _utterance(spec, spk, k):
    rng = np.random.default_rng([spec.seed, 2, spk.index, k])
    fs = spec.sample_rate
    target = rng.uniform(spec.min_duration, spec.max_duration)
    n_samples = max(int(round(target * fs)),
                    int(np.ceil(MIN_SAMPLES * fs / audio.SAMPLE_RATE)))
    segs, phrases = _plan(spk, rng, n_samples / fs)
    y = _render(spk, segs, phrases, rng, n_samples, fs)
    y = y / (np.max(np.abs(y)) + 1e-12)
    y *= 10 ** ((spk.peak_db + rng.uniform(-0.3, 0.3)) / 20)
    y += rng.normal(0.0, 10 ** (-75 / 20), y.shape)   # noise floor ~ -75 dBFS
    pcm = np.clip(np.round(y * 32767), -32767, 32767).astype(np.int16)
    return pcm


def _write(job):
    spec, spk, k, path = job
    wavfile.write(path, spec.sample_rate, _utterance(spec, spk, k))


def _default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


def generate_corpus(out_dir, spec: CorpusSpec = CorpusSpec(),
                    workers: Optional[int] = None) -> Path:
    """Write the corpus under ``out_dir``; return the manifest's path.

    ``out_dir/wav/<speaker>/<speaker>_<nn>.wav`` (16-bit PCM mono) and
    ``out_dir/manifest.tsv``.  Same spec, byte-identical files, whatever
    ``workers`` (processes; default: the usable CPUs, at most 4) is.
    """
    out_dir = Path(out_dir)
    width = max(2, len(str(spec.utterances_per_speaker)))
    rows, jobs = [], []
    for spk in _speakers(spec):
        folder = out_dir / 'wav' / spk.name
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(spec.utterances_per_speaker):
            path = folder / f'{spk.name}_{k + 1:0{width}d}.wav'
            jobs.append((spec, spk, k, path))
            rows.append(Utterance(path, spk.name, spk.birthplace, spk.sex))
    workers = _default_workers() if workers is None else max(1, int(workers))
    workers = min(workers, len(jobs))
    if workers == 1:
        for job in jobs:
            _write(job)
    else:
        # fork on Linux: no re-import of the caller's __main__; the children
        # only use numpy / pyworld.
        method = 'fork' if sys.platform.startswith('linux') else 'spawn'
        ctx = multiprocessing.get_context(method)
        with ctx.Pool(workers) as pool:
            for _ in pool.imap_unordered(_write, jobs, chunksize=2):
                pass
    return write_manifest(out_dir / 'manifest.tsv', rows)


def spec_hash(spec: CorpusSpec) -> str:
    key = json.dumps({'spec': asdict(spec), 'version': GENERATOR_VERSION},
                     sort_keys=True)
    return hashlib.sha256(key.encode()).hexdigest()[:10]


def ensure_corpus(cache_dir, spec: CorpusSpec = CorpusSpec(),
                  workers: Optional[int] = None) -> Path:
    """Return the manifest of the corpus for ``spec``, generating it once.

    The corpus lives in ``cache_dir/synth-<hash>/``; it is generated in a
    temporary folder beside it and renamed into place when complete, so an
    interrupted run never leaves a folder that looks complete, and the temp
    folder of a killed one is removed on the next start.
    """
    cache_dir = Path(cache_dir)
    final = cache_dir / f'synth-{spec_hash(spec)}'
    manifest = final / 'manifest.tsv'
    remove_stale_generations(cache_dir)  # on every start: nothing left over
    if manifest.is_file():
        return manifest
    cache_dir.mkdir(parents=True, exist_ok=True)
    n_utt = spec.n_speakers * spec.utterances_per_speaker
    print(f'vox: generating built-in corpus ({spec.n_speakers} speakers, '
          f'{n_utt} utterances) into {final}', file=sys.stderr, flush=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f'.{final.name}.tmp-'))
    held = _hold(tmp)  # until renamed: tells a live generation from a dead one
    try:
        generate_corpus(tmp, spec, workers=workers)
        try:
            os.rename(tmp, final)
        except OSError:
            if not manifest.is_file():       # not a concurrent winner: real
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        os.close(held)
    return manifest


def _hold(folder):
    """An flock on ``folder`` held by this process until the fd is closed."""
    fd = os.open(folder, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def remove_stale_generations(cache_dir):
    """Removes the temp folders of generations that were killed: a live
    generation holds an flock on its folder (:func:`_hold`)."""
    remove_abandoned(Path(cache_dir).glob('.synth-*.tmp-*'),
                     lambda tmp: shutil.rmtree(tmp, ignore_errors=True))
