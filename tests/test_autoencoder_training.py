"""bc7db4a2: MSE loss, the sample extension, a tiny run and vox reconstruct.

Everything is tiny (width 1/16, a few short generated utterances) so the
module runs in seconds on a CPU.
"""
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer

from vox.data import audio
from vox.data import dataset as ds
from vox.cli import main as vox_main
from vox.commands import reconstruct as rec
from vox.config import load_config
from vox.data.corpus.manifest import Utterance
from vox.extensions import samples
from vox.data.features import Features
from vox.links.autoencoder import AutoEncoder
from vox.data.sources import ExperimentData
from vox.runs.folders import write_run_info
from vox.training import autoencoder as ae_training

WIDTH = 1 / 16


def speech_like(seconds, f0, seed=0, rate=audio.SAMPLE_RATE):
    """Harmonics of a gliding f0 with a formant-ish envelope, plus noise."""
    rng = np.random.RandomState(seed)
    t = np.arange(int(seconds * rate)) / rate
    f = f0 * (1 + 0.1 * np.sin(2 * np.pi * 1.5 * t))
    phase = 2 * np.pi * np.cumsum(f) / rate
    wave = sum(np.sin(k * phase) / k * (1 + np.cos(2 * np.pi * t * k / 7))
               for k in range(1, 25))
    wave = wave * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t) ** 2)
    return (0.05 * wave + 0.002 * rng.standard_normal(len(t))).astype(
        np.float32)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    """Two speakers x three 0.8 s utterances, as WAVs and Features."""
    root = tmp_path_factory.mktemp('corpus')
    utts, feats = [], []
    for s, (bp, sex, f0) in enumerate([('north', 'M', 110),
                                       ('south', 'F', 210)]):
        for u in range(3):
            path = root / f'spk{s}_{u}.wav'
            wave = speech_like(0.8, f0 * (1 + 0.05 * u), seed=10 * s + u)
            soundfile.write(str(path), wave, audio.SAMPLE_RATE)
            utt = Utterance(path, f'spk{s}', bp, sex)
            mag = audio.magnitude(wave)
            utts.append(utt)
            feats.append(Features(utt, mag, np.ones(len(mag), bool)))
    return utts, feats


def datasets(corpus):
    utts, feats = corpus
    labels = ds.LabelSpace.from_utterances(utts)
    train_f = [f for f in feats if not f.utterance.path.stem.endswith('_0')]
    val_f = [f for f in feats if f.utterance.path.stem.endswith('_0')]
    train = ds.SpectrogramCropDataset(train_f, labels, 32, 'raw', train=True)
    val = ds.SpectrogramCropDataset(val_f, labels, 32, 'raw', train=False,
                                    validation_crops=2)
    return labels, train, val


def test_loss_reports_mse_and_decreases_on_a_tiny_batch(corpus):
    np.random.seed(0)  # Chainer's initialisers draw from numpy's global RNG
    _, train, _ = datasets(corpus)
    x = np.stack([train[i][0] for i in range(len(train))])
    loss = ae_training.AutoEncoderLoss(AutoEncoder(width=WIDTH))
    opt = chainer.optimizers.RMSprop(lr=1e-3)
    opt.setup(loss)
    reporter = chainer.Reporter()
    reporter.add_observer('main', loss)
    values = []
    for _ in range(15):
        observation = {}
        with reporter.scope(observation):
            value = loss(x, None, None, None)
        assert set(observation) == {'main/mse'}
        np.testing.assert_allclose(float(observation['main/mse'].array),
                                   float(value.array))
        loss.cleargrads()
        value.backward()
        opt.update()
        values.append(float(value.array))
    assert values[-1] < 0.7 * values[0], values


def test_fixed_indices_are_spread_and_distinct():
    assert samples.fixed_indices(10, 4) == [0, 3, 6, 9]
    assert samples.fixed_indices(3, 5) == [0, 1, 2]
    assert samples.fixed_indices(5, 1) == [2]
    assert samples.fixed_indices(0, 4) == []
    for n in range(1, 40):
        for c in range(1, n + 1):
            got = samples.fixed_indices(n, c)
            assert len(set(got)) == c and 0 <= min(got) and max(got) < n


def test_sample_writer_writes_pngs_and_three_wavs_per_crop(corpus, tmp_path):
    _, _, val = datasets(corpus)
    crops = samples.sample_crops(val, 2)
    assert [c.name for c in crops] == ['val00', 'val01']
    assert all(c.wave is not None and len(c.wave) == audio.n_samples(32)
               for c in crops)
    model = AutoEncoder(width=WIDTH)
    writer = samples.SampleWriter(crops,
                                  samples.autoencoder_transform(model))
    written = writer.write(tmp_path, 7)
    folder = tmp_path / 'samples' / 'epoch_0007'
    for name in ('val00', 'val01'):
        for suffix in ('input.png', 'output.png', 'input.wav',
                       'input_copysynth.wav', 'output.wav'):
            assert (folder / f'{name}_{suffix}').is_file(), suffix
        assert (folder / f'{name}.png').is_file()
        for wav in ('input', 'input_copysynth', 'output'):
            info = soundfile.info(str(folder / f'{name}_{wav}.wav'))
            assert info.samplerate == audio.SAMPLE_RATE
            assert info.frames == audio.n_samples(32)
    assert len(written) == 2 * 6
    # The copy-synthesis reference is the input magnitude through the same
    # Griffin-Lim: it matches the input's spectrum far better than noise.
    copy, _ = soundfile.read(str(folder / 'val00_input_copysynth.wav'))
    assert audio.spectral_convergence(crops[0].magnitude, copy) < 0.5
    # ... at the input's level: no edge click made save_wav scale it down.
    assert 0.3 < np.abs(copy).max() / np.abs(crops[0].wave).max() < 3
    # Fixed crops and a fixed Griffin-Lim seed: the same files again.
    again = samples.SampleWriter(crops, samples.autoencoder_transform(model))
    again.write(tmp_path / 'again', 7)
    a = soundfile.read(str(folder / 'val01_output.wav'))[0]
    b = soundfile.read(str(tmp_path / 'again/samples/epoch_0007/'
                           'val01_output.wav'))[0]
    np.testing.assert_array_equal(a, b)


def test_writer_runs_in_test_mode_without_backprop(corpus, tmp_path):
    _, _, val = datasets(corpus)
    seen = {}

    def transform(x, labels):
        seen['train'] = chainer.config.train
        seen['backprop'] = chainer.config.enable_backprop
        seen['labels'] = labels.shape
        return {'output': x[:, 0] * 0.5}
    samples.SampleWriter(samples.sample_crops(val, 3), transform).write(
        tmp_path, 1)
    assert seen == {'train': False, 'backprop': False, 'labels': (3, 3)}


@pytest.fixture(scope='module')
def tiny_run(corpus, tmp_path_factory):
    """A 2-epoch run folder of the smoke config at toy sizes."""
    np.random.seed(0)
    labels, train, val = datasets(corpus)
    utts, _ = corpus
    config = load_config('bc7db4a2', 'smoke')
    config = dataclasses.replace(
        config,
        train=dataclasses.replace(config.train, epochs=2, batch_size=2),
        report=dataclasses.replace(config.report, samples_every=[1, 'epoch'],
                                   snapshot_every=[1, 'epoch'],
                                   progress_bar=False))
    data = ExperimentData(labels, train, val, labels.combinations(utts),
                          np.random.RandomState(0), Path('manifest.tsv'))
    run_dir = tmp_path_factory.mktemp('run')
    device = chainer.get_device('@numpy')
    write_run_info(run_dir, config, data, device, ['test'])
    trainer = ae_training.build_trainer(config, data, run_dir, device)
    trainer.run()
    return run_dir


def test_tiny_run_writes_curve_samples_and_snapshots(tiny_run):
    log = json.loads((tiny_run / 'log').read_text())
    assert [e['epoch'] for e in log] == [1, 2]
    assert all('main/mse' in e and 'validation/main/mse' in e for e in log)
    assert (tiny_run / 'mse.png').is_file()
    for epoch in (1, 2):
        assert (tiny_run / f'samples/epoch_{epoch:04d}/val00_output.wav'
                ).is_file()
    assert list(tiny_run.glob('snapshot_iter_*'))


def test_chunked_reconstruction_equals_one_pass():
    np.random.seed(1)
    model = AutoEncoder(width=WIDTH)
    mag = np.abs(np.random.RandomState(2).standard_normal((96, 256))
                 ).astype(np.float32)
    whole_y, whole_z = rec.reconstruct_magnitude(model, mag, chunk=1000)
    y, z = rec.reconstruct_magnitude(model, mag, chunk=8, context=16)
    assert y.shape == mag.shape and z.shape == (256, 48)
    np.testing.assert_allclose(y, whole_y, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(z, whole_z, rtol=1e-5, atol=1e-6)
    assert rec.time_stride(model) == 2


def test_reconstruct_any_rate_gives_16k_same_duration(tiny_run, tmp_path,
                                                      capsys):
    rate = 22050
    wave = speech_like(1.3, 150, seed=5, rate=rate)
    src = tmp_path / 'in.wav'
    soundfile.write(str(src), np.stack([wave, wave], axis=1), rate)
    out, latent = tmp_path / 'out.wav', tmp_path / 'z.npz'
    assert vox_main(['reconstruct', '--run', str(tiny_run), '--input',
                     str(src), '--output', str(out), '--latent',
                     str(latent)]) == 0
    info = soundfile.info(str(out))
    assert info.samplerate == 16000 and info.channels == 1
    assert abs(info.duration - len(wave) / rate) < audio.HOP / 16000
    with np.load(latent) as z:
        assert z['latent'].shape[0] == 256
        assert z['latent'].shape[1] * 2 == int(z['frames'])
    y, _ = soundfile.read(str(out))
    assert np.isfinite(y).all() and np.abs(y).max() > 0


def test_reconstruct_non_audio_file_is_one_line_error(tiny_run, tmp_path,
                                                      capsys):
    bad = tmp_path / 'notes.wav'
    bad.write_text('this is not audio\n')
    assert vox_main(['reconstruct', '--run', str(tiny_run), '--input',
                     str(bad), '--output', str(tmp_path / 'o.wav')]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(err) == 1 and 'notes.wav' in err[0], err
    assert not (tmp_path / 'o.wav').exists()


def test_reconstruct_needs_a_run_folder(tmp_path, capsys):
    src = tmp_path / 'in.wav'
    soundfile.write(str(src), speech_like(0.3, 120), 16000)
    assert vox_main(['reconstruct', '--run', str(tmp_path), '--input',
                     str(src), '--output', str(tmp_path / 'o.wav')]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(err) == 1 and 'not a vox run folder' in err[0]
