"""Every command that reads a WAV refuses a bad one the same way.

``vox convert``, ``vox reconstruct`` and ``vox run blurmask-N --input`` go
through :func:`vox.data.audio.load_wav` (the checks training audio gets
in :func:`vox.data.audio.load_checked`): a silent file, a file with a NaN
and a file shorter than one crop are each a one-line ``vox: error:`` with
the loader's own message, exit status 2, and nothing written.
"""
import json

import numpy as np
import pytest
import soundfile

import vox.compat  # noqa: F401  (before chainer: Chainer today)
from vox.cli import main as cli
from vox.config import load_config, to_dict
from vox.data import audio

SR = audio.SAMPLE_RATE


def tone(seconds):
    t = np.arange(int(SR * seconds)) / SR
    return (0.3 * np.sin(2 * np.pi * 140 * t)).astype(np.float32)


@pytest.fixture(scope='module')
def wavs(tmp_path_factory):
    root = tmp_path_factory.mktemp('wavs')
    silent = root / 'silent.wav'
    soundfile.write(str(silent), np.zeros(5 * SR, np.float32), SR)
    nan = tone(5)
    nan[1000] = np.nan
    soundfile.write(str(root / 'nan.wav'), nan, SR, subtype='FLOAT')
    soundfile.write(str(root / 'short.wav'), tone(0.2), SR)
    return {'silent': silent, 'nan': root / 'nan.wav',
            'short': root / 'short.wav'}


def fake_run(folder, exp_id):
    """A run folder as far as reading its config and labels goes (the
    input is refused before any model is loaded)."""
    folder.mkdir(parents=True)
    (folder / 'config.yaml').write_text(json.dumps(to_dict(
        load_config(exp_id, 'test'))))
    (folder / 'labels.json').write_text(json.dumps(
        {'speaker': ['a', 'b'], 'birthplace': ['x'], 'sex': ['F', 'M']}))
    (folder / 'speakers.json').write_text(json.dumps(  # a StarGAN run's
        [{'speaker': 'a', 'birthplace': 'x', 'sex': 'F', 'utterances': 3},
         {'speaker': 'b', 'birthplace': 'x', 'sex': 'M', 'utterances': 3}]))
    return folder


EXPECTED = {'silent': 'all silent', 'nan': 'NaN or infinite',
            'short': 'shorter than one crop'}


def refused(capsys, argv, wav):
    """The one stderr line of a command that must refuse ``wav``."""
    assert cli(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    if 'short' not in wav.name:  # word for word what the loader says
        with pytest.raises(audio.AudioError) as e:
            audio.load_checked(wav)
        assert err[0] == f'vox: error: {e.value}'
    return err[0]


@pytest.mark.parametrize('kind', sorted(EXPECTED))
def test_convert_refuses(tmp_path, wavs, capsys, kind):
    run = fake_run(tmp_path / 'run', '54314b33')
    out = tmp_path / 'out.wav'
    line = refused(capsys, ['convert', '--run', str(run), '--input',
                            str(wavs[kind]), '--output', str(out),
                            '--sex', 'F'], wavs[kind])
    assert EXPECTED[kind] in line and not out.exists()


@pytest.mark.parametrize('kind', sorted(EXPECTED))
def test_reconstruct_refuses(tmp_path, wavs, capsys, kind):
    run = fake_run(tmp_path / 'run', 'bc7db4a2')
    out = tmp_path / 'out.wav'
    line = refused(capsys, ['reconstruct', '--run', str(run), '--input',
                            str(wavs[kind]), '--output', str(out)],
                   wavs[kind])
    assert EXPECTED[kind] in line and not out.exists()


@pytest.mark.parametrize('kind', sorted(EXPECTED))
def test_blurmask_input_refuses(tmp_path, wavs, capsys, kind):
    line = refused(capsys, ['run', 'blurmask-1', '--profile', 'smoke',
                            '--results', str(tmp_path), '--input',
                            str(wavs[kind])], wavs[kind])
    assert EXPECTED[kind] in line
    assert not any(tmp_path.iterdir())  # no run folder


def test_training_features_skip_with_the_same_message(tmp_path, wavs,
                                                     capsys):
    from vox.data.corpus.manifest import Utterance
    from vox.data.features import load_features
    utts = [Utterance(wavs[k], 's') for k in ('silent', 'nan')]
    feats = load_features(utts, tmp_path / 'cache')
    assert [f.magnitude.shape[0] for f in feats] == [0, 0]
    err = capsys.readouterr().err
    for k in ('silent', 'nan'):
        with pytest.raises(audio.AudioError) as e:
            audio.load_checked(wavs[k])
        assert f'vox: skipped {e.value}' in err
