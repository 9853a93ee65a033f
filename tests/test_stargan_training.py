"""54314b33 / cfcefd21 end to end on a tiny corpus: trainer, reports,
conversion samples, ``vox convert`` and ``vox evaluate``.

The corpus is 4 speakers x 3 utterances of 4.5 s harmonic tones written to
a temporary manifest (enough for 256-frame crops), the models are the
experiments' own at 1/16 to 1/64 of the channels, so everything runs in
seconds on a CPU.
"""
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile
import yaml

import vox.compat  # noqa: F401  (before chainer: Chainer today)
from vox.data import audio
from vox.cli import main as vox_main
from vox.config import ConfigError, load_config
from vox.extensions import conversion_samples, samples
from vox.base.paths import REPO
from vox.runs.runner import run
from vox.inference.conversion import SpeakerTable
from vox.training.stargan import PLOTS
from vox.updaters.stargan import LABEL_NAMES

DIS_KEYS = {'dis/loss_adv', 'dis/loss_gp', 'dis/loss_cls', 'dis/loss'} | {
    f'dis/{t}_{n}' for t in ('loss_cls', 'acc') for n in LABEL_NAMES}
GEN_KEYS = {'gen/loss_adv', 'gen/loss_cls', 'gen/loss_rec', 'gen/loss_id',
            'gen/loss_fm', 'gen/loss'} | {
    f'gen/{t}_{n}' for t in ('loss_cls', 'acc') for n in LABEL_NAMES}
ALL_KEYS = DIS_KEYS | GEN_KEYS | {f'validation/{k}'
                                  for k in DIS_KEYS | GEN_KEYS}

SPEAKERS = [('ann', 'north', 'F', 140), ('bob', 'north', 'M', 100),
            ('cat', 'south', 'F', 180), ('dan', 'south', 'M', 120)]


def tone(f0, seconds, seed):
    rs = np.random.RandomState(seed)
    t = np.arange(int(seconds * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 0.7 * t))
    phase = 2 * np.pi * np.cumsum(f) / audio.SAMPLE_RATE
    wave = sum(np.sin(k * phase) / k for k in range(1, 12))
    return (0.1 * wave + 0.005 * rs.randn(len(t))).astype(np.float32)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp('corpus')
    lines = ['path\tspeaker\tbirthplace\tsex']
    for s, (name, place, sex, f0) in enumerate(SPEAKERS):
        for u in range(3):
            path = root / f'{name}_{u}.wav'
            soundfile.write(str(path), tone(f0 * (1 + 0.03 * u), 4.5,
                                            10 * s + u), audio.SAMPLE_RATE)
            lines.append(f'{path.name}\t{name}\t{place}\t{sex}')
    (root / 'manifest.tsv').write_text('\n'.join(lines) + '\n')
    return root / 'manifest.tsv'


def tiny_config(tmp, exp_id, width, **train):
    raw = yaml.safe_load((REPO / 'experiments' / exp_id / 'config.yaml')
                         .read_text())
    raw.pop('profiles')
    for part in ('generator', 'discriminator', 'model'):
        if part in raw:
            raw[part]['width'] = width
    if 'losses' in raw:
        raw['losses']['n_critic'] = 1   # G is updated (and reported) too
    raw['train'].update(dict(lr=1e-4, epochs=1, batch_size=4), **train)
    raw['report'] = dict(log_every=[1, 'iteration'],
                         snapshot_every=[1, 'epoch'],
                         samples_every=[1, 'epoch'], progress_bar=False)
    path = tmp / exp_id / 'config.yaml'
    path.parent.mkdir(parents=True)
    path.write_text(yaml.safe_dump(raw))
    return path


def fast_samples(mp):
    """One sample crop, 2 Griffin-Lim iterations: seconds, not minutes."""
    mp.setattr(conversion_samples, 'N_SOURCES', 1)
    mp.setattr(samples, 'GL_ITERATIONS', 2)


@pytest.fixture(scope='module')
def results(tmp_path_factory, corpus):
    """Results root with a tiny cfcefd21 run and a tiny e19098ab run."""
    tmp = tmp_path_factory.mktemp('runs')
    mp = pytest.MonkeyPatch()
    mp.setenv('VOX_CACHE', str(tmp / 'cache'))
    fast_samples(mp)
    try:
        run(tiny_config(tmp / 'cfg', 'cfcefd21', 1 / 16), corpus=str(corpus),
            results=tmp / 'results', run_name='sg', argv=['test'])
        run(tiny_config(tmp / 'cfg', 'e19098ab', 1 / 64), corpus=str(corpus),
            results=tmp / 'results', run_name='cls', argv=['test'])
        yield tmp / 'results'
    finally:
        mp.undo()


def read_log(run_dir):
    return json.loads((run_dir / 'log').read_text())


def test_every_loss_term_is_logged_and_plotted(results):
    run_dir = results / 'cfcefd21' / 'sg'
    log = read_log(run_dir)
    assert [e['iteration'] for e in log] == [1, 2]  # 8 crops / batch 4
    for entry in log:
        assert ALL_KEYS <= set(entry), ALL_KEYS - set(entry)
    plotted = {k for keys in PLOTS.values() for k in keys}
    assert ALL_KEYS <= plotted, ALL_KEYS - plotted
    for png in PLOTS:
        assert (run_dir / png).stat().st_size > 0, png
    assert (run_dir / 'snapshot_iter_2').exists()
    rows = json.loads((run_dir / 'speakers.json').read_text())
    assert {r['speaker']: r['utterances'] for r in rows} == {
        'ann': 3, 'bob': 3, 'cat': 3, 'dan': 3}


def test_54314b33_trainer_runs_two_iterations(tmp_path, corpus, monkeypatch):
    monkeypatch.setenv('VOX_CACHE', str(tmp_path / 'cache'))
    fast_samples(monkeypatch)
    run_dir = run(tiny_config(tmp_path, '54314b33', 1 / 32),
                  corpus=str(corpus), results=tmp_path / 'results',
                  run_name='sg', argv=['test'])
    log = read_log(run_dir)
    assert len(log) == 2 and all(ALL_KEYS <= set(e) for e in log)
    assert (run_dir / 'samples' / 'epoch_0001' / 'targets.tsv').exists()


def test_conversion_samples_are_written_and_named(results):
    folder = results / 'cfcefd21' / 'sg' / 'samples' / 'epoch_0001'
    lines = (folder / 'targets.tsv').read_text().splitlines()[1:]
    assert lines
    kinds = set()
    for line in lines:
        name, kind, *labels = line.split('\t')
        kinds.add(kind)
        src, trg = labels[:3], labels[3:]
        assert name.endswith(f'_{src[0]}-{src[2]}_to-{trg[0]}-{trg[2]}'
                             f'_converted.wav')
        assert (folder / name).stat().st_size > 44
        assert (folder / name.replace('.wav', '.png')).exists()
        stem = name.split('_to-')[0]
        for suffix in ('_input.wav', '_input_copysynth.wav', '.png'):
            assert (folder / f'{stem}{suffix}').exists(), stem + suffix
        if kind == 'other sex':
            assert src[2] != trg[2]
        else:
            assert src[0] != trg[0] and src[2] == trg[2]
    assert kinds == {'other sex', 'other speaker'}


def test_convert_keeps_duration_at_16_khz(results, tmp_path):
    wave = tone(150, 1.3, 0)
    src = tmp_path / 'in.wav'
    soundfile.write(str(src), audio.resample(wave, 16000, 22050), 22050)
    out = tmp_path / 'out.wav'
    assert vox_main(['convert', '--run', str(results / 'cfcefd21' / 'sg'),
                     '--input', str(src), '--output', str(out),
                     '--sex', 'm']) == 0
    info = soundfile.info(str(out))
    assert info.samplerate == 16000
    assert abs(info.frames - round(1.3 * 16000)) <= audio.HOP
    assert np.abs(soundfile.read(str(out))[0]).max() > 0


def test_convert_unknown_speaker_lists_the_valid_ones(results, tmp_path,
                                                      capsys):
    src = tmp_path / 'in.wav'
    soundfile.write(str(src), tone(150, 0.5, 0), 16000)
    code = vox_main(['convert', '--run', str(results / 'cfcefd21' / 'sg'),
                     '--input', str(src), '--output', str(tmp_path / 'o.wav'),
                     '--speaker', 'bobby'])
    err = [line for line in capsys.readouterr().err.splitlines() if line]
    assert code == 2 and len(err) == 1
    assert "unknown speaker 'bobby'" in err[0] and "did you mean 'bob'" in \
        err[0] and 'ann, bob, cat, dan' in err[0]


def test_evaluate_writes_evaluation_json(results, capsys, monkeypatch,
                                         tmp_path):
    monkeypatch.setenv('VOX_CACHE', str(results.parent / 'cache'))
    run_dir = results / 'cfcefd21' / 'sg'
    args = ['evaluate', str(run_dir), '--crops', '2', '--targets', '3',
            '--griffin-lim-iterations', '2']
    assert vox_main(args) == 0
    out = capsys.readouterr().out
    assert 'sex-conversion accuracy' in out and 'dB' in out
    assert 'conversion quality: changed-target accuracy: speaker' in out \
        and 'ceiling' in out
    result = json.loads((run_dir / 'evaluation.json').read_text())
    assert result['classifier_run'] == str(results / 'e19098ab' / 'cls')
    assert result['crop_frames'] == 256           # the classifier's length
    assert result['n_crops'] == 8 and result['n_conversions'] == 24
    for field in ('target_accuracy', 'chance', 'classifier_accuracy_real'):
        assert set(result[field]) == set(LABEL_NAMES)
        assert all(0 <= v <= 1 for v in result[field].values())
    assert result['chance']['sex'] == 0.5
    assert set(result['changed']) == set(LABEL_NAMES)
    assert result['changed']['sex']['n'] > 0
    assert result['identity_lsd_db'] >= 0 and result['conversion_lsd_db'] >= 0
    rows = result['content']['rows']
    assert set(rows) == {'floor', 'ceiling', 'converted'}
    assert rows['converted']['vuv_agreement']['n'] == 24
    assert rows['ceiling']['vuv_agreement']['n'] == 8
    judge = result['judge']
    assert judge['epochs'] == 1 and judge['same_corpus'] is True
    assert 'trained 1 epochs (< 100)' in judge['flags'][0]
    summary = (run_dir / 'summary.md').read_text()
    assert summary.startswith('# cfcefd21')             # the run's own kept
    assert '## Conversion quality (vox evaluate)' in summary
    assert 'judge flagged' in summary
    assert 'Conversion quality (vox evaluate)' in (
        run_dir / 'report.html').read_text()
    # --out: the same files elsewhere, the run folder untouched
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()
              if p.is_file()}
    snapshot = str(run_dir / 'snapshot_iter_2')       # a snapshot, by name
    assert vox_main(['evaluate', snapshot] + args[2:]
                    + ['--out', str(tmp_path / 'ev')]) == 0
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()
            if p.is_file()} == before
    again = json.loads((tmp_path / 'ev' / 'evaluation.json').read_text())
    assert again['content'] == result['content']        # deterministic
    assert again['snapshot'] == result['snapshot'] == 'snapshot_iter_2'
    assert (tmp_path / 'ev' / 'summary.md').read_text() == summary


def test_evaluate_without_a_classifier_says_how_to_train_one(
        tmp_path, results, capsys):
    import shutil
    lone = tmp_path / 'res' / 'cfcefd21' / 'sg'
    shutil.copytree(results / 'cfcefd21' / 'sg', lone)
    assert vox_main(['evaluate', str(lone)]) == 2
    err = capsys.readouterr().err
    assert 'make exp-e19098ab' in err and len(err.strip().splitlines()) == 1


# -- targets by name ----------------------------------------------------------

def table():
    names = {'speaker': ['a', 'b', 'c', 'd'], 'birthplace': ['n', 's'],
             'sex': ['F', 'M']}
    rows = [('a', 'n', 'F', 5), ('b', 'n', 'M', 7), ('c', 's', 'F', 9),
            ('d', 's', 'M', 7)]
    return SpeakerTable(names, rows)


def test_most_typical_speaker_fills_in_missing_attributes():
    t = table()
    assert t.resolve(sex='f') == ('c', 's', 'F')          # most utterances
    assert t.resolve(sex='M') == ('b', 'n', 'M')          # tie: first name
    assert t.resolve(birthplace='n', sex='F') == ('a', 'n', 'F')
    assert t.resolve(speaker='d') == ('d', 's', 'M')
    assert t.resolve('a', 's', 'M') == ('a', 's', 'M')    # all given: as is
    with pytest.raises(vox.base.errors.VoxError, match='no speaker'):
        t.resolve(speaker='a', sex='M')
    with pytest.raises(vox.base.errors.VoxError, match="valid birthplaces: n, s"):
        t.resolve(birthplace='x')
    with pytest.raises(vox.base.errors.VoxError, match='M or F'):
        t.resolve(sex='x')
    with pytest.raises(vox.base.errors.VoxError, match='at least one'):
        t.resolve()


def test_stargan_config_is_checked(tmp_path):
    for exp_id in ('54314b33', 'cfcefd21'):
        for profile in (None, 'smoke'):
            c = load_config(exp_id, profile)
            assert c.losses.lambda_rec == 10 and c.losses.n_critic == 5
            assert c.losses.gp_reduce == 'sum'  # the reference StarGAN's
    raw = yaml.safe_load((REPO / 'experiments/cfcefd21/config.yaml')
                         .read_text())
    raw.pop('profiles')
    bad = tmp_path / 'config.yaml'
    raw['losses']['n_critic'] = 0
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match='n_critic must be an integer'):
        load_config(bad)
    raw['losses']['n_critic'] = 5
    raw['losses']['gp_reduce'] = 'max'
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError,
                       match='gp_reduce must be one of sum, mean'):
        load_config(bad)
    raw['losses']['gp_reduce'] = 'mean'
    bad.write_text(yaml.safe_dump(raw))
    assert load_config(bad).losses.gp_reduce == 'mean'
    del raw['generator']
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match="needs 'generator'"):
        load_config(bad)


def test_smoke_profiles_are_small():
    for exp_id in ('54314b33', 'cfcefd21'):
        c = load_config(exp_id, 'smoke')
        assert c.generator.width <= 0.125 and c.train.epochs <= 5
        assert Path(REPO / 'experiments' / exp_id / 'DECISIONS.md').exists()
