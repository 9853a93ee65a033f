"""tools/gpu_check.sh --dry-run and tools/gpu_summary.py, on the CPU.

The check itself needs a GPU; what can be checked here is that the dry run
names every step with its time limit and the bundle's size and writes
nothing, and that the summary turns the steps' records and the two bench
reports into the TF32 ratio and the measured VRAM table.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'tools'))
import gpu_summary  # noqa: E402


def test_dry_run_lists_every_step_and_the_bundle(tmp_path):
    bundle = tmp_path / 'bundle'
    bundle.mkdir()
    (bundle / 'chainer-7.8.1-py3-none-any.whl').write_bytes(b'x' * 4096)
    out = tmp_path / 'out'
    env = dict(os.environ, BUNDLE=str(bundle), OUT=str(out))
    result = subprocess.run(['bash', 'tools/gpu_check.sh', '--dry-run'],
                            cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert '1 wheels' in text and 'KiB' in text
    ids = sorted(p.parent.name for p in REPO.glob('experiments/*/config.yaml'))
    for name in ['install', 'versions', 'corpus', 'gpu-tests', 'bench', 'tf32',
                 'summary'] + [f'smoke-{i}' for i in ids]:
        assert f'  {name} ' in text, name
    assert 'make bench DEVICE=@cupy:0' in text
    assert '--vram-batches 1 2 4 8 16' in text
    assert 'CUPY_TF32=1' in text
    assert '--no-index --no-deps' in text
    assert not out.exists()  # a dry run writes nothing


def test_without_a_bundle_it_says_what_to_run(tmp_path):
    env = dict(os.environ, BUNDLE=str(tmp_path / 'none'),
               OUT=str(tmp_path / 'out'))
    result = subprocess.run(['bash', 'tools/gpu_check.sh'], cwd=REPO,
                            env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "run 'make gpu-bundle' first" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def _bench(mean_s, vram=None):
    machine = {'python': '3.12.3', 'numpy': '2.5.2', 'chainer': '7.8.1',
               'git': 'abc', 'gpu': {'name': 'NVIDIA H200', 'cupy': '14.2.0',
                                     'cuda_runtime': 13000, 'cudnn': False}}
    exps = {i: {'mean_iteration_s': s, 'samples_per_s': 2 / s,
                'achieved_flops': {'executed': 1e12 / s},
                'gpu_memory': {'pool_peak_held_bytes': 300 * 2 ** 20}}
            for i, s in mean_s.items()}
    return {'gpu': {'machine': machine, 'experiments': exps,
                    'vram': vram or {}}}


def test_summary_ratios_and_vram(tmp_path):
    steps = [{'step': 'install', 'status': 'ok', 'exit': 0, 'seconds': 3},
             {'step': 'smoke-bc7db4a2', 'status': 'skipped', 'seconds': 0}]
    (tmp_path / 'steps.jsonl').write_text(
        ''.join(json.dumps(s) + '\n' for s in steps))
    vram = {'54314b33@256': {
        'rows': [{'batch': 1, 'pool_peak_held_bytes': 500 * 2 ** 20},
                 {'batch': 16, 'oom': 'OutOfMemoryError: ...'}],
        'largest_batch_measured': 6, 'pool_limit_bytes': 3017 * 2 ** 20}}
    (tmp_path / 'performance.json').write_text(json.dumps(_bench(
        {'54314b33': 0.30, 'cfcefd21': 0.10}, vram)))
    (tmp_path / 'tf32.json').write_text(json.dumps(_bench(
        {'54314b33': 0.20, 'cfcefd21': 0.08})))
    assert gpu_summary.main(['x', str(tmp_path)]) == 0
    s = json.loads((tmp_path / 'summary.json').read_text())
    assert abs(s['experiments']['54314b33']['tf32_speedup'] - 1.5) < 1e-9
    assert abs(s['experiments']['cfcefd21']['tf32_speedup'] - 1.25) < 1e-9
    assert s['vram']['54314b33@256']['largest_batch_measured'] == 6
    md = (tmp_path / 'summary.md').read_text()
    assert '| smoke-bc7db4a2 | skipped | 0 |' in md
    assert '1.50x' in md and '1.25x' in md
    assert '1: 500 MiB, 16: OOM | 6 (3017 MiB)' in md
    assert 'NVIDIA H200, CuPy 14.2.0' in md


def test_summary_of_a_run_cut_before_the_bench(tmp_path):
    (tmp_path / 'steps.jsonl').write_text(json.dumps(
        {'step': 'install', 'status': 'timeout', 'exit': 124,
         'seconds': 60}) + '\n')
    assert gpu_summary.main(['x', str(tmp_path)]) == 0
    md = (tmp_path / 'summary.md').read_text()
    assert '| install | timeout | 60 |' in md
