"""vox.base.perf (what tools/bench.py measures with) and tools/bench.py itself."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy
import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import chainer.functions as F
import chainer.links as L

from vox import cpu_fast
from vox.base import perf
from vox.extensions import guards

REPO = Path(__file__).resolve().parent.parent


def load_bench():
    spec = importlib.util.spec_from_file_location(
        'vox_tools_bench', REPO / 'tools' / 'bench.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- FLOPs --------------------------------------------------------------------

def test_mac_formulas():
    # 2 samples, 4 out x 3 in x 3 x 3 kernel, 6 x 6 outputs.
    assert perf.conv_macs((2, 3, 8, 8), (4, 3, 3, 3), (2, 4, 6, 6)) == \
        2 * 6 * 6 * 4 * 3 * 9
    # Deconvolution: every input pixel spreads in_c x out_c x kh x kw.
    assert perf.deconv_macs((2, 3, 5, 5), (3, 4, 4, 4)) == 2 * 25 * 3 * 4 * 16


def test_link_flops_convention():
    conv = L.Convolution2D(3, 4, 3)
    deconv = L.Deconvolution2D(4, 2, 4, 2, 1)
    x = numpy.ones((2, 3, 8, 8), numpy.float32)
    fwd_conv = 2 * 6 * 6 * 4 * 3 * 9
    fwd_deconv = 2 * 6 * 6 * 4 * 2 * 16
    hook = perf.LinkFlops()
    with hook:
        deconv(conv(x))
        with chainer.no_backprop_mode():
            conv(x)
    assert hook.calls == 3
    assert hook.macs_backprop == fwd_conv + fwd_deconv
    assert hook.macs_forward_only == fwd_conv
    assert hook.training_flops == 2 * (3 * (fwd_conv + fwd_deconv)
                                       + fwd_conv)


def test_executed_flops_sees_backward():
    conv = L.Convolution2D(3, 4, 3)
    fwd = 2 * 6 * 6 * 4 * 3 * 9
    x = numpy.ones((2, 3, 8, 8), numpy.float32)
    hook = perf.ExecutedFlops()
    with hook:
        F.sum(conv(x)).backward()  # x is an array: no input gradient
    assert hook.by_function == {'Convolution2DFunction': fwd,
                                'Convolution2DGradW': fwd}
    hook = perf.ExecutedFlops()
    with hook:
        F.sum(conv(chainer.Variable(x))).backward()  # + gx, a deconv
    assert hook.macs == 3 * fwd
    assert hook.by_function['Deconvolution2DFunction'] == fwd


def test_executed_flops_linear():
    lin = L.Linear(5, 3)
    hook = perf.ExecutedFlops()
    with hook:
        F.sum(lin(chainer.Variable(numpy.ones((4, 5), numpy.float32)))
              ).backward()
    assert hook.macs == 3 * 4 * 5 * 3


def test_saved_activation_bytes(fast_kernels):
    conv = L.Convolution2D(3, 4, 3)
    x = numpy.ones((2, 3, 8, 8), numpy.float32)
    y = F.relu(conv(x))
    loss = F.sum(y)
    # conv keeps x (and W, a parameter: excluded), relu keeps its output;
    # with vox.cpu_fast installed the conv also keeps its im2col for the
    # weight gradient (2 x (3*3*3) x (6*6) float32), memory the graph holds.
    conv_node = y.creator_node.inputs[0].creator_node
    kept = getattr(conv_node, '_vox_col', None)
    col_bytes = kept[2].nbytes if kept is not None else 0
    if cpu_fast.installed():
        assert col_bytes == 2 * 27 * 36 * 4
    assert perf.saved_activation_bytes(loss, exclude=(conv,)) == \
        x.nbytes + y.array.nbytes + col_bytes
    assert perf.saved_activation_bytes(loss) == \
        x.nbytes + y.array.nbytes + col_bytes + conv.W.array.nbytes


def test_cpu_peak():
    cpu = {'simd': ['avx2', 'fma', 'avx'], 'mhz': 2000.0, 'cores': 2}
    peak, how = perf.cpu_peak_flops(cpu)
    assert peak == 2 * 2000e6 * 32 and 'assumed' in how
    assert perf.cpu_peak_flops({'simd': ['sse4_2'], 'mhz': 1, 'cores': 1}
                               )[0] is None
    desc = perf.cpu_description()
    assert desc['cores'] >= 1


def test_proc_status():
    status = perf.proc_status()
    assert status['VmHWM'] >= status['VmRSS'] > 0


# -- the guard's fused check --------------------------------------------------

def test_all_finite():
    ok = [numpy.float32(1), numpy.ones(3), chainer.Variable(numpy.zeros(2))]
    assert guards._all_finite(ok)
    assert not guards._all_finite(ok + [numpy.array([1, numpy.nan])])
    assert not guards._all_finite([chainer.Variable(numpy.array(numpy.inf))])
    observation = {'main/loss': chainer.Variable(numpy.array(numpy.nan)),
                   'main/acc': numpy.float32(1)}
    assert guards._non_finite_terms(observation) == 'non-finite main/loss'
    assert guards._non_finite_terms({'main/acc': 1.0}) is None


# -- tools/bench.py -----------------------------------------------------------

def test_markdown_keeps_hand_written_parts(tmp_path):
    bench = load_bench()
    md = tmp_path / 'performance.md'
    bench.write_markdown(md, 'cpu', 'first\n')
    text = md.read_text()
    assert 'first' in text and 'GPU measurement pending' in text
    md.write_text(text + '\n## Notes by hand\n')
    bench.write_markdown(md, 'cpu', 'second\n')
    text = md.read_text()
    assert 'second' in text and 'first' not in text
    assert '## Notes by hand' in text and 'GPU measurement pending' in text


def test_device_kind():
    bench = load_bench()
    assert bench.device_kind('@cupy:0') == 'gpu'
    assert bench.device_kind('0') == 'gpu'
    assert bench.device_kind('@numpy') == bench.device_kind('-1') == 'cpu'


def test_bench_refuses_a_missing_gpu(monkeypatch, capsys):
    bench = load_bench()
    monkeypatch.setitem(sys.modules, 'cupy', None)
    assert bench.main(['--device', '@cupy:0', '--no-write']) == 2
    assert 'needs CuPy' in capsys.readouterr().err


@pytest.mark.slow
def test_bench_end_to_end(tmp_path):
    """The whole tool on the smallest case: cfcefd21's smoke profile, one
    timed iteration of each kind, and its VRAM estimate at minibatch 1, 2."""
    out_json, out_md = tmp_path / 'perf.json', tmp_path / 'perf.md'
    result = subprocess.run(
        [sys.executable, 'tools/bench.py', '--only', 'cfcefd21', '--profile',
         'smoke', '--warmup', '0', '--iters', '1', '--gen-iters', '1',
         '--vram-batches', '1', '2', '--json', str(out_json), '--md',
         str(out_md)], cwd=REPO, capture_output=True, text=True,
        timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out_json.read_text())
    e = report['cpu']['experiments']['cfcefd21']
    assert e['batch_size'] == 2 and e['crop_frames'] == 64
    assert e['n_classes_model'] == [1421, 53, 2]
    assert set(e['iterations']) == {'critic', 'critic+gen'}
    assert e['mean_iteration_s'] > 0 and e['samples_per_s'] > 0
    assert e['flops']['critic+gen']['executed'] > \
        e['flops']['critic']['executed'] > 0
    assert e['pipeline']['crops_per_s'] > 0
    assert e['host_memory']['peak_rss_bytes'] > 0
    assert e['host_memory']['ru_maxrss_bytes'] > 0
    assert 'gpu_memory' not in e
    vram = report['cpu']['vram']
    assert set(vram) == {'cfcefd21@64', 'cfcefd21@256'}
    rows = vram['cfcefd21@64']['rows']
    assert [r['batch'] for r in rows] == [1, 2]
    assert rows[1]['estimate_bytes'] > rows[0]['estimate_bytes']
    md = out_md.read_text()
    assert 'n/a (CPU)' in md and 'GPU measurement pending' in md
    assert 'ESTIMATE' in md and 'tools/bench.py --only cfcefd21' in md
