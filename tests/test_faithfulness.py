"""vox diagram / check / compare / report.

Building every model at the blog's size takes seconds; vox.faithfulness.diagram caches
the traced shapes per process, so the models are built once per session.
"""
import json
import re

import numpy as np
import pytest
import soundfile
import yaml

import vox.compat  # noqa: F401  (before chainer: Chainer today)
from vox.faithfulness import check as vcheck
from vox.reports.compare import compare
from vox.config import EXPERIMENTS_DIR
from vox.faithfulness.diagram import (describe_experiment, known_experiments,
                         no_diagram_reason, render)
from vox.reports.report import write_report

MODEL_IDS = [e for e in known_experiments() if no_diagram_reason(e) is None]
OTHER_IDS = [e for e in known_experiments() if e not in MODEL_IDS]

NODE_LINE = re.compile(
    r'^[A-Za-z0-9_-]+(\(\("[^"]*"\)\)|\["[^"]*"\]|\("[^"]*"\))$')
EDGE_LINE = re.compile(r'^([A-Za-z0-9_-]+) --> \|(\d+(?: x \d+)*)\| '
                       r'([A-Za-z0-9_-]+)$')


@pytest.fixture(scope='module')
def results():
    return {exp_id: vcheck.check(exp_id) for exp_id in MODEL_IDS}


def test_the_four_blog_models_have_a_transcription():
    assert {'e19098ab', '54314b33', 'cfcefd21', 'bc7db4a2'} <= set(MODEL_IDS)


@pytest.mark.parametrize('exp_id', MODEL_IDS)
def test_check_passes(results, exp_id):
    result = results[exp_id]
    assert result.status == 'ok', result.report()
    assert not result.problems


@pytest.mark.parametrize('exp_id', OTHER_IDS)
def test_experiments_without_a_model_have_nothing_to_check(exp_id):
    result = vcheck.check(exp_id)
    assert result.status == 'no-diagram' and result.ok
    assert 'no diagram to check' in result.line()


def test_known_disagreements_are_found(results):
    found = {(r.exp_id, d.graph, d.where, d.field)
             for r in results.values() for d in r.disagreements}
    for expected in [
            ('cfcefd21', 'discriminator', 'conv4 -> conv5', 'shape'),
            ('cfcefd21', 'discriminator', 'conv5 -> conv6', 'shape'),
            ('cfcefd21', 'discriminator', 'clazz', 'pad'),
            ('cfcefd21', 'generator', 'input-labels', 'shape'),
            ('cfcefd21', 'generator', 'repeat -> concat', 'shape'),
            ('cfcefd21', 'generator', 'concat -> merge', 'shape'),
            ('bc7db4a2', 'autoencoder', 'enc7 -> enc8', 'shape'),
            ('bc7db4a2', 'autoencoder', 'dec2 -> dec1', 'shape'),
            ('bc7db4a2', 'autoencoder', 'latent', 'range'),
            ('54314b33', 'discriminator', 'clz_speaker', 'stride'),
            ('54314b33', 'discriminator', 'discriminate', 'extra'),
            ('54314b33', 'generator', 'dconv1', 'kind'),
            ('e19098ab', 'classifier', 'clz_sex', 'activation'),
            ('e19098ab', 'classifier', 'conv1', 'activation')]:
        assert expected in found


@pytest.mark.parametrize('exp_id', MODEL_IDS)
def test_transcription_is_verbatim(exp_id):
    """Every label and edge of seed.yaml is in the post's diagram as written
    (experiments/<ID>/BLOG.md restates the post with its mermaid source)."""
    text = (EXPERIMENTS_DIR / exp_id / 'BLOG.md').read_text()
    seed = yaml.safe_load((EXPERIMENTS_DIR / exp_id / 'seed.yaml')
                          .read_text())
    for g in seed['graphs']:
        for nid, node in g['nodes'].items():
            assert re.search(rf'(?m)^\s*{re.escape(nid)}\W', text), nid
            assert node['label'] in text, (nid, node['label'])
        for edge in g['edges']:
            a, b, label = vcheck.EDGE_RE.match(edge).groups()
            lab = rf'\|\s*{re.escape(label)}\s*\|\s*' if label else ''
            assert re.search(rf'(?m)^\s*{re.escape(a)}\s*-->\s*{lab}'
                             rf'{re.escape(b)}\s*$', text), edge
        n_edges = len(g['edges'])
        assert n_edges > 0
    assert not vcheck.transcription_problems(seed)


def _copy_experiment(tmp_path, exp_id):
    seed = tmp_path / 'seed.yaml'
    errata = tmp_path / 'ERRATA.md'
    seed.write_text((EXPERIMENTS_DIR / exp_id / 'seed.yaml').read_text())
    errata.write_text((EXPERIMENTS_DIR / exp_id / 'ERRATA.md').read_text())
    return seed, errata


def test_injected_disagreement_fails_naming_the_place(tmp_path):
    seed, errata = _copy_experiment(tmp_path, 'cfcefd21')
    text = seed.read_text()
    assert 'conv1 -> conv2 | 32 x 32 x 128' in text
    seed.write_text(text.replace('conv1 -> conv2 | 32 x 32 x 128',
                                 'conv1 -> conv2 | 32 x 16 x 128'))
    result = vcheck.check('cfcefd21', seed_path=seed, errata_path=errata)
    assert result.status == 'fail'
    [d] = result.unexplained
    assert (d.graph, d.where, d.field) == ('discriminator', 'conv1 -> conv2',
                                           'shape')
    assert d.blog == '32 x 16 x 128' and d.vox == '32 x 32 x 128'
    assert 'discriminator conv1 -> conv2' in result.line()
    assert 'FAIL' in result.line()


def test_injected_box_parameter_fails(tmp_path):
    seed, errata = _copy_experiment(tmp_path, 'e19098ab')
    seed.write_text(seed.read_text().replace(
        'conv3: {type: block, kind: Convolution, channels: 256, ksize: 4, '
        'stride: 2, pad: 1',
        'conv3: {type: block, kind: Convolution, channels: 256, ksize: 4, '
        'stride: 1, pad: 1'))
    result = vcheck.check('e19098ab', seed_path=seed, errata_path=errata)
    assert result.status == 'fail'
    assert any(d.where == 'conv3' and d.field == 'stride'
               for d in result.unexplained)
    # ... and the label it no longer matches is reported too
    assert any('conv3: stride' in p for p in result.problems)


def test_errata_entry_missing_a_field_fails(tmp_path):
    seed, errata = _copy_experiment(tmp_path, 'bc7db4a2')
    text = errata.read_text()
    head = text.index('## enc7 -> enc8')
    why = text.index('- Why:', head)
    errata.write_text(text[:why] + text[text.index('\n', why) + 1:])
    result = vcheck.check('bc7db4a2', seed_path=seed, errata_path=errata)
    assert result.status == 'fail'
    assert any("'## enc7 -> enc8' lacks - Why:" in p for p in result.problems)


def test_an_entry_for_another_aspect_does_not_explain(tmp_path):
    seed, errata = _copy_experiment(tmp_path, '54314b33')
    errata.write_text(errata.read_text().replace(
        '## discriminator clz_speaker, clz_birth, clz_sex (stride)',
        '## discriminator clz_speaker, clz_birth, clz_sex (padding)'))
    result = vcheck.check('54314b33', seed_path=seed, errata_path=errata)
    assert {(d.where, d.field) for d in result.unexplained} == {
        ('clz_speaker', 'stride'), ('clz_birth', 'stride'),
        ('clz_sex', 'stride')}


def test_errata_headings_name_boxes_ranges_and_edges():
    graphs = {'generator': ['conv1', 'conv2', 'merge', 'dconv1', 'dconv3'],
              'discriminator': ['conv1', 'conv5']}
    targets, aspect = vcheck.parse_heading(
        'generator conv1..dconv1, discriminator conv5 (activation name)',
        graphs)
    assert aspect == 'activation name'
    assert targets == [('generator', 'node', n)
                       for n in ('conv1', 'conv2', 'merge', 'dconv1')] + [
        ('discriminator', 'node', 'conv5')]
    assert vcheck.parse_heading('conv1 -> conv2', graphs)[0] == [
        (None, 'edge', ('conv1', 'conv2'))]
    assert vcheck.parse_heading('LeakyReLU slope', graphs) == ([], None)


def test_check_all_prints_one_line_per_experiment(capsys):
    from vox.cli import main
    assert main(['check', '--all']) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == known_experiments()
    for line in lines:
        assert ' OK ' in line or 'no diagram to check' in line


def _mermaid_ok(text):
    ids = set()
    edges = []
    for line in text.splitlines():
        if not line.strip() or line.startswith('%%') or line == 'graph TD':
            continue
        m = EDGE_LINE.match(line)
        if m:
            edges.append(m.groups())
            continue
        assert NODE_LINE.match(line), f'not mermaid: {line!r}'
        ids.add(re.match(r'[A-Za-z0-9_-]+', line).group(0))
    for a, _, b in edges:
        assert a in ids and b in ids
    return edges


def test_diagram_cfcefd21_edge_labels_are_the_real_shapes():
    text = render('cfcefd21')
    graphs = re.split(r'(?m)^(?=graph TD$)', text)
    graphs = [g for g in graphs if g.strip()]
    assert len(graphs) == 2  # discriminator and generator, as in the blog
    edges = [e for g in graphs for e in _mermaid_ok(g)]
    assert ('conv4', '256 x 4 x 16', 'conv5') in edges     # blog: 256x8x16
    assert ('conv5', '512 x 4 x 8', 'conv6') in edges      # blog: 512x8x8
    assert ('concat', '1732 x 8 x 32', 'merge') in edges   # blog: 1607
    assert ('repeat', '1476 x 8 x 32', 'concat') in edges  # blog: 1479
    assert ('upsamp4', '1 x 64 x 256', 'output') in edges
    # every label is the traced output shape of the edge's source
    data = describe_experiment('cfcefd21')
    for g in data['graphs']:
        shapes = {n['id']: n['shape'] for n in g['nodes']}
        for e in g['edges']:
            assert e['shape'] == shapes[e['from']]
    assert 'ch: 1476, ksize: 4, stride: 1, ' \
        'padding: 0' in text
    as_json = json.loads(render('cfcefd21', 'json'))
    assert [g['name'] for g in as_json['graphs']] == [
        'discriminator', 'generator']


@pytest.mark.parametrize('exp_id', MODEL_IDS)
def test_every_diagram_is_valid_mermaid(exp_id):
    for g in re.split(r'(?m)^(?=graph TD$)', render(exp_id)):
        if g.strip():
            assert _mermaid_ok(g)


def test_diagram_shows_the_block_order():
    text = render('bc7db4a2')
    assert ('enc1["Convolution<br/>ch: 32, ksize: 7, stride: 1, '
            'padding: 3<br/>LeakyReLU<br/>BatchNormalization"]') in text
    assert 'enc3["Convolution<br/>ch: 64, ksize: 1x4, stride: 1x2, ' \
        'padding: 0x1' in text


# ---------------------------------------------------------------- compare


def _fake_run(root, exp_id, name, lr, metrics, png_color=None):
    run = root / exp_id / name
    run.mkdir(parents=True)
    log = []
    for epoch in range(1, 5):
        entry = {'epoch': epoch, 'iteration': epoch * 10,
                 'elapsed_time': epoch * 1.5}
        for k, scale in metrics.items():
            entry[k] = scale / epoch if 'acc' not in k else 1 - scale / epoch
        log.append(entry)
    (run / 'log').write_text(json.dumps(log))
    config = {'id': exp_id, 'title': 'fake', 'kind': 'classifier',
              'profile': 'smoke', 'model': {'name': 'classifier',
                                            'width': 0.125},
              'data': {'crop_frames': 256, 'scale': 'unit'},
              'train': {'optimizer': 'RMSprop', 'lr': lr, 'batch_size': 10,
                        'epochs': 4},
              'reference': {'training_hours': 16.1, 'final_mse': 0.0205},
              'corpus': {'manifest': '/corpus/manifest.tsv',
                         'n_classes': [4, 3, 2]}}
    (run / 'config.yaml').write_text(yaml.safe_dump(config))
    (run / 'environment.json').write_text(json.dumps(
        {'device': '@numpy', 'git_revision': 'abc123'}))
    (run / 'command.txt').write_text(f'vox run {exp_id}\n')
    if png_color is not None:
        import matplotlib.pyplot as plt
        image = np.ones((40, 60, 3), np.float32)
        image[10:30, 10:50] = png_color
        plt.imsave(str(run / 'accuracy.png'), image)
    return run


def test_compare_same_id_overlays_and_names_the_lr(tmp_path):
    metrics = {'main/loss': 2.0, 'validation/main/loss': 2.5,
               'main/acc_speaker': 0.5}
    a = _fake_run(tmp_path, 'e19098ab', 'run-a', 1e-4, metrics, (1, 0, 0))
    b = _fake_run(tmp_path, 'e19098ab', 'run-b', 3e-4, metrics, (0, 0, 1))
    out, text = compare([a, b], out=tmp_path / 'cmp', blog=True)
    assert (out / 'curves_main_loss.png').stat().st_size > 0
    # the classifier's PlotReport figure
    assert (out / 'curves_accuracy.png').stat().st_size > 0
    assert not (out / 'curves_main_acc.png').exists()
    assert (out / 'plots_accuracy.png').stat().st_size > 0
    assert (out / 'compare.md').read_text() == text
    row = next(line for line in text.splitlines()
               if line.startswith('| train.lr |'))
    assert '0.0001' in row and '0.0003' in row
    assert '| main/loss | 0.5 | 0.5 | 0.5 | 0.5 |' in text
    assert '| main/acc_speaker | 0.875 | 0.875 |' in text  # best = max
    assert 'training_hours | 16.1' in text  # --blog
    assert 'None: every run logs the same metrics.' in text


def test_compare_draws_a_run_in_one_colour_validation_dashed(tmp_path,
                                                             monkeypatch):
    from vox.reports import compare as vcompare
    figures = []
    monkeypatch.setattr(vcompare.plt, 'close', figures.append)
    metrics = {'main/loss': 2.0, 'validation/main/loss': 2.5}
    a = _fake_run(tmp_path, 'e19098ab', 'run-a', 1e-4, metrics)
    b = _fake_run(tmp_path, 'e19098ab', 'run-b', 3e-4, metrics)
    compare([a, b], out=tmp_path / 'cmp')
    [fig] = figures
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert set(lines) == {'run-a', 'run-a (validation)', 'run-b',
                          'run-b (validation)'}
    for run in ('run-a', 'run-b'):
        assert lines[run].get_color() == \
            lines[f'{run} (validation)'].get_color()
        assert lines[run].get_linestyle() == '-'
        assert lines[f'{run} (validation)'].get_linestyle() == '--'
    assert lines['run-a'].get_color() != lines['run-b'].get_color()


def test_compare_different_ids_reports_skipped_metrics(tmp_path):
    a = _fake_run(tmp_path, 'e19098ab', 'r', 1e-4,
                  {'main/loss': 2.0, 'main/acc_sex': 0.5})
    b = _fake_run(tmp_path, 'bc7db4a2', 'r', 1e-3,
                  {'main/loss': 1.0, 'main/mse': 0.1})
    out, text = compare([a, b], out=tmp_path / 'cmp')
    assert (out / 'curves_main_loss.png').exists()
    assert not (out / 'curves_accuracy.png').exists()
    assert '`main/acc_sex`: only in e19098ab/r' in text
    assert '`main/mse`: only in bc7db4a2/r' in text
    assert '| id | e19098ab | bc7db4a2 |' in text


# ----------------------------------------------------------------- report


def test_report_is_one_self_contained_page(tmp_path):
    run = _fake_run(tmp_path, 'e19098ab', 'run', 1e-4,
                    {'main/loss': 2.0}, (0, 1, 0))
    (run / 'summary.json').write_text(json.dumps({
        'experiment': 'e19098ab', 'profile': 'smoke', 'elapsed_seconds': 60,
        'epoch': 4, 'iteration': 40,
        'final_metrics': {'main/loss': 0.5, 'validation/main/loss': 0.625},
        'reference': [{'figure': 'training_hours', 'blog': 16.1,
                       'this_run': 0.01, 'note': 'wall-clock'},
                      {'figure': 'crop_frames', 'blog': 64,
                       'this_run': None, 'note': ''}]}))
    samples = run / 'samples' / 'epoch_4'
    samples.mkdir(parents=True)
    import matplotlib.pyplot as plt
    plt.imsave(str(samples / 'spectrogram.png'), np.zeros((8, 8)))
    soundfile.write(str(samples / 'input.wav'),
                    np.zeros(1600, np.float32), 16000)
    page = write_report(run).read_text()
    assert page.count('<img src="data:image/png;base64,') == 2
    assert '<audio controls' in page and 'data:audio/wav;base64,' in page
    # the classifier drawn (SVG), its mermaid source collapsed below
    [svg] = re.findall(r'<img class="diagram" data-graph="classifier" '
                       r'width="(\d+)" src="data:image/svg\+xml;base64,'
                       r'([A-Za-z0-9+/=]+)"', page)
    import base64
    drawn = base64.b64decode(svg[1]).decode()
    assert drawn.startswith('<?xml') and '<svg' in drawn
    assert int(svg[0]) > 100
    assert re.search(r'<details class="mermaid-source"><summary>[^<]*'
                     r'</summary><pre class="mermaid">graph TD', page)
    assert 'ch: 8, ksize: 4' in page  # the run's width 0.125
    assert '16.1' in page and 'RMSprop' in page
    # training and validation of a key side by side, one row
    assert '<tr><td>main/loss</td><td>0.5</td><td>0.625</td></tr>' in page
    # a setting the summary left empty comes from the resolved config
    assert '<tr><td>crop_frames</td><td>64</td><td>256</td>' in page
    assert 'ReakyReLU' in page  # the ERRATA
    assert not re.search(r'(src|href)\s*=\s*"?https?:', page)
    assert '<script' not in page


def test_report_without_samples_or_diagram(tmp_path):
    run = _fake_run(tmp_path, 'e19098ab', 'run', 1e-4, {'main/loss': 2.0})
    cfg = yaml.safe_load((run / 'config.yaml').read_text())
    cfg['id'] = 'no-such-experiment'
    (run / 'config.yaml').write_text(yaml.safe_dump(cfg))
    page = write_report(run).read_text()
    assert 'This run wrote no samples.' in page
    assert 'model diagram could not be drawn' in page
