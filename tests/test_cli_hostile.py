"""Bad configs and bad inputs, as a table: every case exits with status 2,
prints one line and no traceback, and names the offending key or path.

Each case runs ``vox.cli.main`` in this process (an exception other than
the one-line VoxError would escape it and fail the test) with a temporary
results folder, so nothing here trains.
"""
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

from vox.cli import main

REPO = Path(__file__).resolve().parent.parent
EXP = 'e19098ab'


def config_with(tmp, edit):
    """A copy of e19098ab's config.yaml with ``edit(raw)`` applied."""
    raw = yaml.safe_load((REPO / f'experiments/{EXP}/config.yaml')
                         .read_text())
    edit(raw)
    path = tmp / 'config.yaml'
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def setter(*keys, value):
    def edit(raw):
        for k in keys[:-1]:
            raw = raw.setdefault(k, {})
        raw[keys[-1]] = value
    return edit


def wav(tmp, name='in.wav'):
    path = tmp / name
    t = np.arange(16000) / 16000
    soundfile.write(str(path), (0.3 * np.sin(2 * np.pi * 150 * t))
                    .astype(np.float32), 16000)
    return path


def a_file(tmp):
    path = tmp / 'a-file'
    path.write_text('')
    return path


def run_config(edit, profile=None):
    def case(tmp):
        argv = ['run', config_with(tmp, edit), '--results', str(tmp)]
        return argv + (['--profile', profile] if profile else []), {}
    return case


def cmd(*argv, env=None):
    """argv with '{tmp}', '{wav}', '{file}' filled in for the case."""
    def case(tmp):
        fill = {'tmp': str(tmp), 'wav': str(wav(tmp)),
                'file': str(a_file(tmp))}
        return ([a.format(**fill) for a in argv],
                {k: v.format(**fill) for k, v in (env or {}).items()})
    return case


def hard_link(command):
    def case(tmp):
        source = wav(tmp)
        os.link(source, tmp / 'same.wav')
        return [command, '--run', str(tmp), '--input', str(source),
                '--output', str(tmp / 'same.wav')], {}
    return case


def config_file(text):
    """A config path holding ``text`` (None: a folder of that name)."""
    def case(tmp):
        path = tmp / 'x.yaml'
        if text is None:
            path.mkdir()
        else:
            path.write_text(text)
        return ['run', str(path)], {}
    return case


def report_into_a_folder(tmp):
    """A run folder whose report.html cannot be written (it is a folder)."""
    from vox.config import load_config, to_dict
    run = tmp / 'results' / 'r'
    (run / 'report.html').mkdir(parents=True)
    (run / 'config.yaml').write_text(yaml.safe_dump(to_dict(load_config(
        EXP, 'test'))))
    for name in ('command.txt', 'environment.json'):  # a vox run folder
        (run / name).write_text('')
    return ['report', str(run)], {}


def prepare_into_a_bad_cache(tmp):
    wav(tmp, 'a.wav')
    (tmp / 'manifest.tsv').write_text('path\tspeaker\na.wav\ta\n')
    return ['prepare', f"manifest:{tmp / 'manifest.tsv'}"], {
        'VOX_CACHE': str(a_file(tmp) / 'cache')}


def bad_wav(tmp, kind):
    """A WAV training would refuse: NaN samples, all silent, or 0.1 s."""
    t = np.arange(16000) / 16000
    wave = {'nan': np.where(t < 0.5, 0.3 * np.sin(2 * np.pi * 150 * t),
                            np.nan),
            'silent': np.zeros_like(t),
            'short': 0.3 * np.sin(2 * np.pi * 150 * t[:1600])}[kind]
    path = tmp / f'{kind}.wav'
    soundfile.write(str(path), wave.astype(np.float32), 16000,
                    subtype='FLOAT')
    return path


def fake_run(tmp, exp_id):
    """A run folder as far as reading its config goes (no snapshot)."""
    from vox.config import load_config, to_dict
    run = tmp / 'results' / exp_id / 'r'
    run.mkdir(parents=True)
    (run / 'config.yaml').write_text(yaml.safe_dump(to_dict(load_config(
        exp_id, 'test'))))
    (run / 'labels.json').write_text(
        '{"speaker": ["a", "b"], "birthplace": ["n"], "sex": ["F", "M"]}')
    return run


def audio_input(command, kind):
    def case(tmp):
        source = str(bad_wav(tmp, kind))
        if command == 'blurmask':
            return ['run', 'blurmask-5', '--profile', 'smoke', '--input',
                    source, '--results', str(tmp / 'results')], {}
        run = fake_run(tmp, {'convert': 'cfcefd21',
                             'reconstruct': 'bc7db4a2'}[command])
        return [command, '--run', str(run), '--input', source, '--output',
                str(tmp / 'out.wav')], {}
    return case


AUDIO_PROBLEM = {'nan': 'NaN or infinite', 'silent': 'all silent',
                 'short': 'shorter than one crop'}


def manifest_row_to_a_folder(tmp):
    (tmp / 'wav' / 'x.wav').mkdir(parents=True)
    m = tmp / 'manifest.tsv'
    m.write_text('path\tspeaker\tbirthplace\tsex\nwav/x.wav\ta\tn\tM\n')
    return ['run', EXP, '--profile', 'test', '--results', str(tmp),
            '--corpus', str(m)], {}


# (case, what the one line must contain)
CASES = {
    'lr negative': (run_config(setter('train', 'lr', value=-1.0)),
                    ['train.lr', 'must be']),
    'lr nan': (run_config(setter('train', 'lr', value=float('nan'))),
               ['train.lr']),
    'batch size 0': (run_config(setter('train', 'batch_size', value=0)),
                     ['train.batch_size']),
    'epochs 0': (run_config(setter('train', 'epochs', value=0)),
                 ['train.epochs']),
    'interval unit misspelled': (
        run_config(setter('report', 'snapshot_every', value=[10, 'epochs'])),
        ['report.snapshot_every', "'iteration'"]),
    'interval 0': (run_config(setter('report', 'log_every',
                                     value=[0, 'epoch'])),
                   ['report.log_every']),
    'crop length 0': (run_config(setter('data', 'crop_frames', value=0)),
                      ['data.crop_frames']),
    'validation fraction 1': (
        run_config(setter('data', 'validation_fraction', value=1.0)),
        ['data.validation_fraction', '(0, 1)']),
    'bad base under a profile': (
        run_config(setter('train', 'lr', value=0.0), profile='smoke'),
        ['train.lr']),
    'bad value in a profile': (
        run_config(setter('profiles', 'smoke', 'train', 'epochs', value=-3),
                   profile='smoke'),
        ['(profile smoke).train.epochs']),
    'seed negative': (run_config(setter('seed', value=-1)), ['seed']),
    'config path missing': (cmd('run', '{tmp}/nowhere/config.yaml'),
                            ['nowhere/config.yaml', 'cannot read']),
    'config is a folder': (config_file(None), ['x.yaml']),
    'config not YAML': (config_file('id: [unclosed\n'),
                        ['x.yaml', 'not valid YAML']),
    'unknown corpus kind': (cmd('run', EXP, '--profile', 'test',
                                '--results', '{tmp}', '--corpus',
                                'vtck:{tmp}/VCTK'),
                            ["unknown corpus kind 'vtck'", 'jvs', 'vctk']),
    'manifest row is a folder': (manifest_row_to_a_folder,
                                 ['x.wav is a folder']),
    'results under a file': (cmd('run', EXP, '--profile', 'test',
                                 '--results', '{file}/results'),
                             ['a-file/results', 'cannot write results']),
    'cache under a file': (cmd('run', EXP, '--profile', 'test', '--results',
                               '{tmp}', env={'VOX_CACHE': '{file}/cache'}),
                           ['a-file/cache']),
    'resume missing snapshot': (cmd('run', EXP, '--resume',
                                    '{tmp}/snapshot_iter_9'),
                                ['snapshot_iter_9']),
    'convert output is input': (cmd('convert', '--run', '{tmp}', '--input',
                                    '{wav}', '--output', '{wav}'),
                                ['in.wav is the input']),
    'convert output hard link': (hard_link('convert'),
                                 ['same.wav is the input']),
    'convert output folder missing': (
        cmd('convert', '--run', '{tmp}', '--input', '{wav}', '--output',
            '{tmp}/no/out.wav'), ['{tmp}/no', 'does not exist']),
    'reconstruct output is input': (
        cmd('reconstruct', '--run', '{tmp}', '--input', '{wav}',
            '--output', '{wav}'), ['in.wav is the input']),
    'reconstruct output hard link': (hard_link('reconstruct'),
                                     ['same.wav is the input']),
    'reconstruct output is a folder': (
        cmd('reconstruct', '--run', '{tmp}', '--input', '{wav}',
            '--output', '{tmp}'), ['--output {tmp}', 'is a folder']),
    'reconstruct latent is input': (
        cmd('reconstruct', '--run', '{tmp}', '--input', '{wav}',
            '--output', '{tmp}/o.wav', '--latent', '{wav}'),
        ['--latent', 'is the input']),
    'reconstruct output under a file': (
        cmd('reconstruct', '--run', '{tmp}', '--input', '{wav}',
            '--output', '{file}/o.wav'), ['a-file']),
    'compare out under a file': (cmd('compare', '{tmp}', '--out',
                                     '{file}/cmp'), ['--out', 'a-file/cmp']),
    'report not writable': (report_into_a_folder,
                            ['r/report.html', 'Is a directory']),
    'prepare cache under a file': (prepare_into_a_bad_cache,
                                   ['a-file/cache', 'VOX_CACHE']),
    'corpus cache under a file': (cmd('corpus', env={
        'VOX_CACHE': '{file}/cache'}), ['a-file/cache', 'VOX_CACHE']),
    'prepare path missing': (cmd('prepare', '{tmp}/no-corpus'),
                             ['no-corpus', 'does not exist']),
}


# Input audio for convert, reconstruct and the blur-mask --input gets the
# checks training audio gets (the one loader, vox/data/audio.py).
CASES.update({
    f'{command} input {kind}': (audio_input(command, kind),
                                [f'{kind}.wav', AUDIO_PROBLEM[kind]])
    for command in ('convert', 'reconstruct', 'blurmask')
    for kind in AUDIO_PROBLEM})


@pytest.mark.parametrize('name', sorted(CASES))
def test_bad_input_is_one_line_naming_it(name, tmp_path, monkeypatch,
                                         capsys):
    case, expected = CASES[name]
    argv, env = case(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2, err
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines()
             if line.strip() and 'warning' not in line]
    assert len(lines) == 1, err
    for text in expected:
        assert text.format(tmp=tmp_path) in lines[0], lines[0]
    # A run refused before training leaves no run folder behind.
    assert not (tmp_path / EXP).exists()
