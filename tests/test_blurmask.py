"""The blur-mask experiment: configs, objective, a smoke run, the summary."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
from vox.data import audio
from vox.blurmask import objective as obj
from vox.config.blurmask import (BlurMaskConfig, load_blurmask_config,
                                 is_blurmask)
from vox.blurmask.plots import PLOT_FILES, keep_smallest
from vox.config import ConfigError, load_config

REPO = Path(__file__).resolve().parent.parent

# The notes' table (experiments/blurmask-notes.md): m init, lambda, the term lambda
# multiplies, iterations ("epochs"), keep the FFT total, ReLU on m.
NOTES = {
    1: (0.1, 0.1, 'entropy', 5000, False, False),
    2: (1.0, 0.01, 'entropy', 10000, False, False),
    3: (0.1, 1e-6, 'entropy', 10000, False, False),
    4: (1.0, 10.0, 'entropy', 10000, False, False),
    5: (5.0, 1.0, 'entropy', 10000, False, False),
    6: (1.0, 0.001, 'entropy', 10000, False, False),
    7: (5.0, 1.0, 'entropy', 10000, True, False),
    8: (5.0, 1e5, 'mse', 10000, True, False),
    9: (5.0, 1e4, 'mse', 10000, True, True),
}


@pytest.mark.parametrize('n', sorted(NOTES))
def test_config_matches_the_notes_table(n):
    cfg = load_blurmask_config(f'blurmask-{n}')
    assert isinstance(cfg, BlurMaskConfig) and cfg.id == f'blurmask-{n}'
    assert (cfg.m_init, cfg.lambda_, cfg.lambda_on, cfg.iterations,
            cfg.conserve_total, cfg.relu_on_m) == NOTES[n]
    assert cfg.lr == 1.0 and cfg.profile == 'faithful'
    # the classifier's output, on the 256-frame crops it was trained on
    assert cfg.target.kind == 'classifier' and cfg.target_output == 'logits'
    assert cfg.input.frames == load_config('e19098ab').data.crop_frames
    features = load_blurmask_config(f'blurmask-{n}', 'features64')
    assert (features.target_output, features.input.frames) == ('features', 64)
    assert cfg.entropy_reduce == 'sum'
    # vox.config.load_config (vox list, the config tests) gives the same
    assert load_config(f'blurmask-{n}') == cfg
    assert is_blurmask(f'blurmask-{n}')
    smoke = load_blurmask_config(f'blurmask-{n}', 'smoke')
    assert smoke.profile == 'smoke' and smoke.target.kind == 'identity'
    assert smoke.iterations < cfg.iterations
    assert (smoke.m_init, smoke.lambda_, smoke.lambda_on) == NOTES[n][:3]
    assert (REPO / f'experiments/blurmask-{n}/train.py').exists()


def test_weights_follow_lambda_on():
    assert load_blurmask_config('blurmask-5').weights == (1.0, 1.0)
    assert load_blurmask_config('blurmask-4').weights == (1.0, 10.0)
    assert load_blurmask_config('blurmask-8').weights == (1e5, 1.0)


def _write(tmp_path, text):
    path = tmp_path / 'config.yaml'
    path.write_text(text.replace(
        'base: ../blurmask-common.yaml',
        f'base: {REPO / "experiments/blurmask-common.yaml"}'))
    return path


def test_typo_is_a_one_line_error_naming_the_key(tmp_path):
    src = (REPO / 'experiments/blurmask-5/config.yaml').read_text()
    with pytest.raises(ConfigError, match=r"unknown key 'lamda_'.*lambda_"):
        load_blurmask_config(_write(tmp_path, src.replace('lambda_:',
                                                          'lamda_:')))
    with pytest.raises(ConfigError, match="lambda_on: expected one of"):
        load_blurmask_config(_write(tmp_path, src.replace(
            'lambda_on: entropy', 'lambda_on: H')))
    with pytest.raises(ConfigError, match='unknown profile'):
        load_blurmask_config('blurmask-5', 'smok')


# ------------------------------------------------------------- objective

def _objective(a=1.0, b=1.0, conserve=False, reduce='sum', blur_scale='raw',
               target_scale='unit', seed=0):
    rng = np.random.RandomState(seed)
    x = np.exp(rng.uniform(np.log(0.02), np.log(50.0), (3, 12)))
    return obj.Objective(x, lambda v: v, a=a, b=b, conserve_total=conserve,
                         entropy_reduce=reduce, blur_scale=blur_scale,
                         target_scale=target_scale)


def _m(shape, seed=1):
    rng = np.random.RandomState(seed)
    # away from integers: frequency_blur's m-derivative has kinks there
    return (rng.randint(1, 5, shape) + rng.uniform(0.3, 0.7, shape))


@pytest.mark.parametrize('conserve', [False, True])
@pytest.mark.parametrize('lambda_on', ['entropy', 'mse'])
@pytest.mark.parametrize('reduce', ['sum', 'mean'])
def test_gradient_matches_finite_differences(conserve, lambda_on, reduce):
    a, b = (1.0, 0.3) if lambda_on == 'entropy' else (30.0, 1.0)
    o = _objective(a, b, conserve, reduce)
    m = _m(o.x.shape)
    s = o.evaluate(m)
    assert s.loss == pytest.approx(float(o.loss(m).array), rel=1e-10)
    eps = 1e-6
    fd = np.zeros_like(m)
    for idx in np.ndindex(m.shape):
        up, down = m.copy(), m.copy()
        up[idx] += eps
        down[idx] -= eps
        fd[idx] = (float(o.loss(up).array) - float(o.loss(down).array)) \
            / (2 * eps)
    np.testing.assert_allclose(s.grad, fd, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(s.grad, a * s.grad_mse - b * s.grad_entropy)
    assert np.abs(s.grad_mse).max() > 0       # the MSE term does act


def test_float32_network_in_a_float64_loop():
    """m and x stay float64 (a float32 m at 141 moves in steps of 1.5e-5,
    coarser than the MSE gradients); the float32 network gets float32."""
    from vox.blurmask.run import LOOP_DTYPE, in_dtype
    assert LOOP_DTYPE == np.float64
    assert np.float32(141) + np.float32(1e-6) == np.float32(141)
    seen = []

    def net(v):
        seen.append(v.dtype)
        return v * np.float32(2)
    x = _objective().x
    o = obj.Objective(x, in_dtype(net, np.dtype(np.float32)))
    m = _m(x.shape)
    before, s, after = obj.step(o, m)
    assert set(seen) == {np.dtype(np.float32)}
    assert s.grad_mse.dtype == after.dtype == np.float64
    assert np.abs(s.grad_mse).max() > 0


def test_gradient_with_unit_blur_scale():
    x = audio.to_unit(_objective().x).astype(np.float64)  # inside (0, 1)
    o = obj.Objective(x, lambda v: v, blur_scale='unit', target_scale='raw')
    m = _m(o.x.shape, seed=3)
    s = o.evaluate(m)
    eps = 1e-6
    idx = (1, 5)
    up, down = m.copy(), m.copy()
    up[idx] += eps
    down[idx] -= eps
    fd = (float(o.loss(up).array) - float(o.loss(down).array)) / (2 * eps)
    assert s.grad[idx] == pytest.approx(fd, rel=1e-5)


def test_entropy_sum_gives_one_over_m_and_is_finite_at_zero():
    m = np.array([[-2.0, 0.0, 1e-4, 0.5, 4.0]])
    g = obj.entropy_grad(m, 'sum', 1e-3)
    np.testing.assert_allclose(g, [[-0.5, 0.0, 0.0, 2.0, 0.25]])
    np.testing.assert_allclose(obj.entropy_grad(m, 'mean', 1e-3), g / m.size)
    h = float(obj.entropy(m, 'sum', 1e-3).array)
    assert h == pytest.approx(np.log([2, 1e-3, 1e-3, 0.5, 4]).sum())


def test_relu_projection_zeroes_negative_m():
    m = np.array([[-1.5, 0.0, 2.5], [3.0, -0.1, 1.25]], dtype=np.float32)
    np.testing.assert_array_equal(obj.project(m, True),
                                  [[0, 0, 2.5], [3.0, 0, 1.25]])
    assert obj.project(m, False) is m
    o = _objective(a=1e6, b=1.0, conserve=True)
    used, s, new = obj.step(o, np.full(o.x.shape, -3.0), relu=True)
    assert (used == 0).all()                  # projected before the step
    assert np.isfinite(s.loss)
    # identity blur at m = 0 and floored log: nothing moves m away from 0
    np.testing.assert_array_equal(new, 0)


def test_lambda_on_switches_the_term():
    m = _m((3, 12))
    e = _objective(1.0, 7.0).evaluate(m)
    s = _objective(7.0, 1.0).evaluate(m)
    np.testing.assert_allclose(e.grad, e.grad_mse - 7 * e.grad_entropy)
    np.testing.assert_allclose(s.grad, 7 * s.grad_mse - s.grad_entropy)
    assert e.loss == pytest.approx(e.mse - 7 * e.entropy)
    assert s.loss == pytest.approx(7 * s.mse - s.entropy)


def test_conserve_total_keeps_the_fft_total():
    m = _m((3, 12)) * 3
    keep = _objective(conserve=True).evaluate(m)
    drop = _objective(conserve=False).evaluate(m)
    x = _objective().x
    assert keep.blurred.sum() == pytest.approx(x.sum(), rel=1e-12)
    assert drop.blurred.sum() < x.sum()


def test_keep_smallest_keeps_exactly_that_share():
    x = np.arange(1, 21, dtype=np.float32).reshape(4, 5)
    m = np.arange(20, 0, -1, dtype=np.float32).reshape(4, 5)
    kept = keep_smallest(x, m, 0.25)
    assert (kept > 0).sum() == 5
    np.testing.assert_array_equal(kept.ravel()[-5:], x.ravel()[-5:])


# ------------------------------------------------------------- a smoke run

@pytest.fixture(scope='module')
def smoke_run(tmp_path_factory):
    from vox.blurmask.run import run
    tmp = tmp_path_factory.mktemp('blurmask')
    t = np.arange(int(1.3 * audio.SAMPLE_RATE)) / audio.SAMPLE_RATE
    wave = 0.3 * np.sin(2 * np.pi * (200 + 300 * t) * t) \
        + 0.2 * np.sin(2 * np.pi * 1100 * t)
    wav = tmp / 'input.wav'
    audio.save_wav(wav, wave)
    run_dir = run('blurmask-7', profile='smoke', results=tmp / 'results',
                  run_name='smoke', argv=['test'], input_wav=wav)
    return tmp / 'results', Path(run_dir)


def test_smoke_run_writes_every_plot(smoke_run):
    _, run_dir = smoke_run
    for name in PLOT_FILES + ('log.json', 'summary.json', 'summary.md',
                              'config.yaml', 'command.txt', 'final.npz',
                              'input_griffin_lim.wav', 'kept_10pct.wav'):
        assert (run_dir / name).stat().st_size > 0, name
    cfg = load_blurmask_config('blurmask-7', 'smoke')
    checkpoints = sorted(p.name for p in (run_dir / 'checkpoints').iterdir())
    for it in range(0, cfg.iterations + 1, cfg.checkpoints_every):
        for ext in ('png', 'wav'):
            assert f'blurred_iter_{it:05d}.{ext}' in checkpoints
    log = json.loads((run_dir / 'log.json').read_text())
    assert [r['iteration'] for r in log] == list(range(cfg.iterations + 1))
    for key in ('mse', 'entropy', 'grad_mse_mean', 'grad_mse_var',
                'grad_entropy_mean', 'grad_entropy_var', 'm_mean', 'm_min',
                'm_max', 'fft_total'):
        assert all(np.isfinite(r[key]) for r in log), key
    # run 7 keeps the FFT total; the entropy term grows m from 5
    totals = np.array([r['fft_total'] for r in log])
    np.testing.assert_allclose(totals, log[0]['fft_total_input'], rtol=1e-4)
    assert log[-1]['m_mean'] > log[0]['m_mean'] == 5.0
    facts = json.loads((run_dir / 'summary.json').read_text())
    assert facts['iterations_done'] == cfg.iterations
    with np.load(run_dir / 'final.npz') as final:
        assert final['m'].dtype == final['x'].dtype == np.float64


def test_summary_reads_runs(smoke_run, capsys):
    from vox.cli import main
    from vox.commands.blurmask_summary import collect
    results, run_dir = smoke_run
    rows = collect(results)
    assert [(r['id'], r['run_folder']) for r in rows] == [
        ('blurmask-7', 'smoke')]
    assert main(['blurmask-summary', str(results)]) == 0
    text = (results / 'blurmask-summary.md').read_text()
    assert '| blurmask-7 | smoke | smoke | identity input | 5 | 1 |' in text
    assert text in capsys.readouterr().out


def test_cli_lists_blurmask_runs_and_rejects_a_missing_wav(tmp_path):
    env = {**os.environ, 'VOX_RESULTS': str(tmp_path)}
    out = subprocess.run([sys.executable, '-m', 'vox.cli', 'list'],
                         capture_output=True, text=True, cwd=REPO, env=env,
                         timeout=120)
    assert out.returncode == 0 and 'blurmask-9' in out.stdout
    out = subprocess.run(
        [sys.executable, '-m', 'vox.cli', 'run', 'blurmask-5', '--profile',
         'smoke', '--input', str(tmp_path / 'nowhere.wav')],
        capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 2 and 'Traceback' not in out.stderr
    assert 'nowhere.wav: no such file' in out.stderr
