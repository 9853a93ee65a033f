import numpy as np
import pytest
import soundfile

from vox.data import audio

SR = audio.SAMPLE_RATE


def tone(freq, n, sr=SR, amp=0.5):
    return (amp * np.sin(2 * np.pi * freq * np.arange(n) / sr)).astype(
        np.float32)


def test_frame_arithmetic_matches_spec():
    assert audio.n_frames(17152) == 64
    assert audio.n_frames(66304) == 256
    assert audio.n_samples(64) == 17152
    assert audio.n_samples(32) == 1024 + 31 * 256
    assert audio.n_frames(1023) == 0


def test_magnitude_shape_and_bin_selection():
    # A tone exactly on FFT bin k peaks at column k - 1: bin 0 (DC) dropped.
    for k in (1, 40, 256):
        mag = audio.magnitude(tone(k * SR / audio.N_FFT, 17152))
        assert mag.shape == (64, 256)
        assert mag.dtype == np.float32
        assert int(np.argmax(mag.mean(axis=0))) == k - 1
    # Energy above 4 kHz is not in the 256 bins.
    above = audio.magnitude(tone(6000, 17152))
    assert above.max() < 1e-2 * audio.magnitude(tone(2000, 17152)).max()


def scipy_stft():
    """SciPy's ShortTimeFFT with vox's window and hop, unscaled
    (``phase_shift=None``: plain ``rfft`` of each windowed slice).  Its
    slice ``p`` is centred on sample ``256 p``, so vox's frame ``i``
    (samples ``256 i .. 256 i + 1023``) is its slice ``p = i + 2``."""
    from scipy.signal import ShortTimeFFT
    return ShortTimeFFT(audio.WINDOW, audio.HOP, SR, mfft=audio.N_FFT,
                        phase_shift=None)


def test_stft_equals_scipy_short_time_fft():
    wave = np.random.RandomState(0).randn(20000) * 0.1
    ours = audio.stft(wave)
    t = ours.shape[0]
    theirs = scipy_stft().stft(wave, p0=2, p1=2 + t).T
    assert theirs.shape == ours.shape == (t, audio.N_FFT // 2 + 1)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_istft_equals_scipy_short_time_fft_inside_the_edges():
    # An inconsistent spectrum (phases perturbed), so the least-squares
    # overlap-add is what is compared, not a round trip.  SciPy's ISTFT
    # takes every slice from p_min; vox's frames go to p = 2 .. t + 1 and
    # the others are zero, which changes only the outer EDGE_FRAMES hops.
    rs = np.random.RandomState(1)
    wave = rs.randn(20000) * 0.1
    spectrum = audio.stft(wave)
    spectrum = spectrum * np.exp(1j * rs.uniform(-1, 1, spectrum.shape))
    t = spectrum.shape[0]
    sft = scipy_stft()
    full = np.zeros((spectrum.shape[1], sft.p_num(len(wave))), complex)
    full[:, 2 - sft.p_min:2 - sft.p_min + t] = spectrum.T
    theirs = sft.istft(full, k1=len(wave))
    ours = audio.istft(spectrum, len(wave))
    edge = audio.EDGE_FRAMES * audio.HOP
    inside = slice(edge, audio.n_samples(t) - edge)
    assert np.abs(ours[inside]).max() > 0.1
    np.testing.assert_allclose(ours[inside], theirs[inside], rtol=0,
                               atol=1e-12)


def test_istft_inverts_stft():
    wave = np.random.RandomState(0).randn(20000).astype(np.float32) * 0.1
    back = audio.istft(audio.stft(wave), len(wave))
    usable = audio.n_samples(audio.n_frames(len(wave)))
    # The periodic Hann window is zero at the very first sample, so the
    # outermost samples carry no information; one hop in, it is exact.
    hop = audio.HOP
    np.testing.assert_allclose(back[hop:usable - hop], wave[hop:usable - hop],
                               atol=1e-6)


def test_unit_scale_is_bounded_and_invertible():
    mag = np.array([[0.0, 1e-4, 1.0, 30.0, 1e6]], dtype=np.float32)
    x = audio.to_unit(mag)
    assert x.min() >= 0 and x.max() <= 1
    assert x[0, 0] == 0 and x[0, -1] == 1
    np.testing.assert_allclose(audio.from_unit(x)[0, 2:4], mag[0, 2:4],
                               rtol=1e-4)


def test_griffin_lim_improves_spectral_convergence():
    rng = np.random.RandomState(1)
    wave = sum(tone(f, 17152, amp=0.2) for f in (180, 360, 540, 1200)) + \
        0.01 * rng.randn(17152).astype(np.float32)
    mag = audio.magnitude(wave)
    history = []
    out = audio.griffin_lim(mag, n_iter=30, callback=lambda i, w: history.append(
        audio.spectral_convergence(mag, w)))
    assert len(out) == 17152
    assert history[-1] < 0.5 * history[0]
    assert history[-1] < 0.15


def test_griffin_lim_is_deterministic():
    mag = audio.magnitude(tone(300, 17152))
    np.testing.assert_array_equal(audio.griffin_lim(mag, n_iter=3),
                                  audio.griffin_lim(mag, n_iter=3))


def test_resample_keeps_duration_and_pitch():
    wave = tone(440, 44100, sr=44100)
    out = audio.resample(wave, 44100, SR)
    assert len(out) == SR
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * SR / len(out) - 440) < 2


def test_load_wav_mixes_down_and_resamples(tmp_path):
    stereo = np.stack([tone(440, 22050, 22050), tone(440, 22050, 22050)], 1)
    path = tmp_path / 'stereo.wav'
    soundfile.write(path, stereo, 22050, subtype='PCM_24')
    wave = audio.load_wav(path)
    assert wave.ndim == 1 and wave.dtype == np.float32
    assert abs(len(wave) - SR) <= 1


def test_load_wav_errors_name_the_file(tmp_path):
    bad = tmp_path / 'bad.wav'
    bad.write_bytes(b'not audio at all')
    with pytest.raises(audio.AudioError, match='bad.wav'):
        audio.load_wav(bad)
    with pytest.raises(audio.AudioError, match='no such file'):
        audio.load_wav(tmp_path / 'missing.wav')


def test_voiced_frames_finds_tone_not_silence():
    wave = np.concatenate([np.zeros(17152, np.float32), tone(150, 17152)])
    voiced = audio.voiced_frames(wave)
    assert len(voiced) == audio.n_frames(len(wave))
    assert voiced[-20:].mean() > 0.8
    assert voiced[:40].mean() < 0.2


def test_griffin_lim_edges_do_not_click():
    # A short crop of a steady tone: without edge padding the first and
    # last samples are divided by a near-zero window square and come out
    # far louder than the tone itself.
    t = np.arange(audio.n_samples(32)) / audio.SAMPLE_RATE
    wave = 0.2 * np.sin(2 * np.pi * 440 * t)
    out = audio.griffin_lim(audio.magnitude(wave), n_iter=10)
    assert len(out) == audio.n_samples(32)
    edge = np.abs(np.r_[out[:audio.HOP], out[-audio.HOP:]]).max()
    middle = np.abs(out[audio.N_FFT:-audio.N_FFT]).max()
    assert edge <= 1.5 * middle
