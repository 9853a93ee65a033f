"""tools/vs_torch.py and its PyTorch twins, on the CPU at a tiny width.

torch is not a vox dependency: the tests that build twins are skipped
where it is not installed (run them in a venv with torch and vox's
requirements: `PYTHONPATH=. <venv>/bin/python -m pytest tests/test_vs_torch.py`).
What is checked is what the GPU run relies on: every twin has its Link's
parameter names, shapes and count, gives the same outputs from the same
weights, and the same first training-step loss for every experiment's
step; a twin of another width is refused; the table's ratios.
"""
import json
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / 'tools'))
import vs_torch  # noqa: E402  (loads without torch: markdown() only)

TINY = ['--width', '0.0625', '--n-classes', '5', '3', '2', '--batch', '2',
        '--steps', '1', '--warmup', '1', '--threads', '1']


def test_every_twin_matches_its_link_and_its_first_loss(tmp_path, capsys):
    pytest.importorskip('torch')
    out = tmp_path / 'vs.json'
    assert vs_torch.main(['--device', '@numpy', '--stock', '--json', str(out),
                          '--md', str(tmp_path / 'vs.md')] + TINY) == 0
    data = json.loads(out.read_text())
    steps = [r['label'] for r in data['rows']]
    assert steps == ['cfcefd21 critic step, WGAN-GP', 'cfcefd21 generator step',
                     '54314b33 critic step, WGAN-GP', '54314b33 generator step',
                     'e19098ab classifier', 'bc7db4a2 autoencoder']
    for row in data['rows']:
        # Same weights and inputs: float32 rounding apart, nothing more.
        assert row['first_loss']['rel_diff'] < 1e-5, row['label']
        assert row['first_loss']['ok']
        assert all(v < 1e-4 for v in row['outputs_rel_diff'].values())
        assert set(row['sides']) == {'vox fp32', 'stock fp32', 'torch fp32'}
        assert all(s['median_ms'] > 0 for s in row['sides'].values())
        assert row['batch'] == 2
    inputs = {r['experiment']: r['input'] for r in data['rows']}
    # The faithful inputs come from the configs.
    assert inputs == {'cfcefd21': '1x64x256', '54314b33': '1x256x256',
                      'e19098ab': '1x256x256', 'bc7db4a2': '1x32x256'}
    text = capsys.readouterr().out
    assert text.count('names+shapes identical') == 6  # 2 + 2 + 1 + 1 links
    md = (tmp_path / 'vs.md').read_text()
    assert '| cfcefd21 critic step, WGAN-GP (2 x 1x64x256) | FP32 |' in md
    assert 'FP32, stock Chainer' in md


def test_a_twin_of_another_width_is_refused():
    pytest.importorskip('torch')
    import vs_torch_twins as T
    from vox.links.generators import ResNetGenerator
    with pytest.raises(T.TwinMismatch, match='DIFFER|chainer'):
        T.match_params(ResNetGenerator((5, 3, 2), 0.0625),
                       T.TResNetGenerator((5, 3, 2), 0.125), 'G')
    with pytest.raises(T.TwinMismatch):  # the label map's channels
        T.match_params(ResNetGenerator((5, 3, 2), 0.0625),
                       T.TResNetGenerator((5, 3, 3), 0.0625), 'G')


def test_the_gpu_sides_and_their_table():
    sides = [s[0] for s in vs_torch.sides_for(gpu=True)]
    assert sides == ['vox fp32', 'vox tf32', 'torch fp32',
                     'torch fp32 cudnn.benchmark', 'torch tf32',
                     'torch tf32 cudnn.benchmark']
    med = {'vox fp32': 30.0, 'vox tf32': 20.0, 'torch fp32': 10.0,
           'torch fp32 cudnn.benchmark': 15.0, 'torch tf32': 8.0,
           'torch tf32 cudnn.benchmark': 5.0}
    data = {'device': '@cupy:0', 'steps': 20, 'warmup': 2, 'width': 1.0,
            'machine': {'device_name': 'NVIDIA H200'},
            'rows': [{'label': 'cfcefd21 critic step, WGAN-GP', 'batch': 2,
                      'input': '1x64x256',
                      'first_loss': {'rel_diff': 2e-7, 'ok': True},
                      'sides': {k: {'median_ms': v} for k, v in med.items()}}]}
    md = vs_torch.markdown(data)
    assert ('| cfcefd21 critic step, WGAN-GP (2 x 1x64x256) | FP32 | 30.0 ms '
            '| 10.0 ms | 15.0 ms | 3.00 | 2.00 | 2.0e-07 |') in md
    assert ('| cfcefd21 critic step, WGAN-GP (2 x 1x64x256) | TF32 | 20.0 ms '
            '| 8.0 ms | 5.0 ms | 2.50 | 4.00 | — |') in md
    assert 'NVIDIA H200' in md
