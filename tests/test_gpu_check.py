"""tools/gpu_check.sh --dry-run and tools/gpu_summary.py, on the CPU.

The check itself needs a GPU; what can be checked here is that the dry run
names every step with its time limit and the bundle's size and writes
nothing, and that the summary turns the steps' records, the two bench
reports, the vox / PyTorch results and the two ChainerMN runs' logs into
the TF32 ratio, the measured VRAM table, the ratio table and the logs'
difference.
"""
import json
import os
import re
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
    (bundle / 'mpich-5.0.2-py3-none-manylinux_2_17_x86_64.whl').write_bytes(
        b'x' * 4096)
    out = tmp_path / 'out'
    env = dict(os.environ, BUNDLE=str(bundle), OUT=str(out))
    result = subprocess.run(['bash', 'tools/gpu_check.sh', '--dry-run'],
                            cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert '2 wheels' in text and 'KiB' in text
    ids = sorted(p.parent.name for p in REPO.glob('experiments/*/config.yaml'))
    limits = dict(re.findall(r'^  (\S+) +\(<= +(\d+)s\)', text, re.M))
    steps = list(limits)
    expected = ['install', 'install-mpich', 'versions', 'vs-torch', 'corpus',
                'bench', 'nccl-probe', 'mn-naive', 'mn-pure_nccl',
                'gpu-tests', 'tf32'] + [f'smoke-{i}' for i in ids]
    assert sorted(steps) == sorted(expected)
    # The most valuable first: the PyTorch comparison, the bench with the
    # VRAM table and the NCCL runs before the tests and the smoke runs.
    assert steps[:9] == expected[:9]
    assert steps[9:11] == ['gpu-tests', 'tf32']
    assert steps[11] == 'smoke-cfcefd21'
    assert '  summary ' in text
    # Every limit fits the budget on its own; the PyTorch and NCCL steps'
    # limits leave the bench its time.
    assert all(0 < int(v) <= 150 for v in limits.values())
    assert int(limits['vs-torch']) + int(limits['bench']) + int(
        limits['mn-naive']) + int(limits['mn-pure_nccl']) <= 480 - 60
    assert 'tools/vs_torch.py --device @cupy:0 --steps 10 --json' in text
    assert f'{out}/vs_torch.json' in text
    for comm in ('naive', 'pure_nccl'):
        assert (f'vox.cli run cfcefd21 --profile test --device @cupy:0 '
                f'--distributed --communicator {comm}') in text
    assert 'chainermn.nccl available' in text
    # MPICH's libmpi is wheel data: a prefix of its own, named to mpi4py.
    assert re.search(r'install-mpich .*--prefix \S+ \S+/mpich-5\.0\.2', text)
    assert 'MPI4PY_LIBMPI=' in text
    assert re.search(r'install .*--target \S+ \S+/chainer-7\.8\.1\S+$', text,
                     re.M)  # only the other wheels go to --target
    assert '--nccl ' in text and 'mn-naive' in text
    assert 'make bench DEVICE=@cupy:0' in text
    assert '--vram-batches 1 2 4 8 16' in text
    assert 'CUPY_TF32=1' in text
    assert '--no-index --no-deps' in text
    files = re.search(r'would write to \S+ \((.*)\)', text).group(1).split()
    assert len(files) <= 8 and 'vs_torch.json' in files
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


def _log(values):
    return [{'iteration': i + 1, 'elapsed_time': 0.1 * i, 'dis/loss': v}
            for i, v in enumerate(values)]


def test_summary_compares_the_two_chainermn_logs(tmp_path):
    naive, pure = tmp_path / 'mn-naive', tmp_path / 'mn-pure_nccl'
    naive.mkdir()
    pure.mkdir()
    (naive / 'log').write_text(json.dumps(_log([1.0, 2.0, 4.0])))
    # elapsed_time differs by nature and is not compared.
    pure_log = _log([1.0, 2.0, 4.0])
    pure_log[2]['elapsed_time'] = 9.0
    (pure / 'log').write_text(json.dumps(pure_log))
    same = gpu_summary.compare_logs(naive, pure)
    assert same['identical'] and same['entries'] == [3, 3]
    (pure / 'log').write_text(json.dumps(_log([1.0, 2.0, 5.0])))
    differ = gpu_summary.compare_logs(naive, pure)
    assert not differ['identical']
    assert abs(differ['max_rel_diff'] - 0.2) < 1e-12
    assert differ['worst'] == {'entry': 2, 'key': 'dis/loss', 'naive': 4.0,
                               'pure_nccl': 5.0}
    (tmp_path / 'steps.jsonl').write_text('')
    assert gpu_summary.main(['x', str(tmp_path), '--nccl', str(naive),
                             str(pure)]) == 0
    md = (tmp_path / 'summary.md').read_text()
    assert 'pure_nccl against naive' in md
    assert 'largest relative difference 2.0e-01 (dis/loss at entry 2' in md
    missing = gpu_summary.compare_logs(naive, tmp_path / 'none')
    assert missing == {'missing': [str(tmp_path / 'none')]}


def test_summary_holds_the_vs_torch_table(tmp_path):
    (tmp_path / 'steps.jsonl').write_text('')
    sides = {'vox fp32': 12.0, 'torch fp32': 4.0,
             'torch fp32 cudnn.benchmark': 3.0}
    (tmp_path / 'vs_torch.json').write_text(json.dumps({
        'device': '@cupy:0', 'steps': 20, 'warmup': 2, 'width': 1.0,
        'machine': {'device_name': 'NVIDIA H200', 'torch': '2.11.0'},
        'rows': [{'label': 'e19098ab classifier', 'batch': 10,
                  'input': '1x256x256',
                  'first_loss': {'rel_diff': 1e-7, 'ok': True},
                  'sides': {k: {'median_ms': v} for k, v in sides.items()}}]}))
    assert gpu_summary.main(['x', str(tmp_path)]) == 0
    md = (tmp_path / 'summary.md').read_text()
    assert ('| e19098ab classifier (10 x 1x256x256) | FP32 | 12.0 ms | 4.0 ms '
            '| 3.0 ms | 3.00 | 4.00 | 1.0e-07 |') in md
    s = json.loads((tmp_path / 'summary.json').read_text())
    assert s['vs_torch']['rows'][0]['label'] == 'e19098ab classifier'


def test_summary_of_a_run_cut_before_the_bench(tmp_path):
    (tmp_path / 'steps.jsonl').write_text(json.dumps(
        {'step': 'install', 'status': 'timeout', 'exit': 124,
         'seconds': 60}) + '\n')
    assert gpu_summary.main(['x', str(tmp_path)]) == 0
    md = (tmp_path / 'summary.md').read_text()
    assert '| install | timeout | 60 |' in md
