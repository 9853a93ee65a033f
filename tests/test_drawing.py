"""The traced model drawn: vox diagram --format svg, report.

Drawn at the blog's sizes from vox.faithfulness.diagram's cached traces.
"""
import re

import pytest

from vox import cli
from vox.config import EXPERIMENTS_DIR
from vox.faithfulness.diagram import describe_experiment
from vox.faithfulness.drawing import (box_lines, draw, errata_marks, layers,
                                      layout)


@pytest.fixture(scope='module')
def cfcefd21():
    return {g['name']: g for g in describe_experiment('cfcefd21')['graphs']}


def _errata(exp_id):
    return (EXPERIMENTS_DIR / exp_id / 'ERRATA.md').read_text()


def test_boxes_have_the_blogs_fields_in_order(cfcefd21):
    nodes = {n['id']: n for n in cfcefd21['generator']['nodes']}
    assert box_lines(nodes['downsamp1']) == [
        'Convolution', 'ch: 32, ksize: 7, stride: 1, padding: 3',
        'BatchNormalization', 'ReLU']
    assert box_lines(nodes['repeat']) == ['repeat', '8 x 32']
    assert box_lines(nodes['input-labels'])[:3] == ['«Input»', 'Labels',
                                                    '1476']
    dis = {n['id']: n for n in cfcefd21['discriminator']['nodes']}
    assert 'ch: 1476, ksize: 4, stride: 1, padding: 0' in box_lines(
        dis['clazz'])


@pytest.mark.parametrize('name', ['generator', 'discriminator'])
def test_layout_flows_down_without_overlaps(cfcefd21, name):
    graph = cfcefd21[name]
    row, _ = layers(graph)
    for e in graph['edges']:
        assert row[e['from']] < row[e['to']], e
    place = layout(graph)
    for a in place:
        for b in place:
            if a < b and row[a] == row[b]:
                (xa, _, wa, _), (xb, _, wb, _) = place[a], place[b]
                assert abs(xa - xb) >= (wa + wb) / 2, (a, b)
    if name == 'generator':  # the labels join right above the concat
        assert row['repeat'] == row['concat'] - 1
        assert row['input-labels'] == row['repeat'] - 1


def test_errata_entries_mark_their_boxes_and_arrows(cfcefd21):
    nodes, edges, legend = errata_marks(cfcefd21['discriminator'],
                                        _errata('cfcefd21'))
    headings = dict(legend)
    tag = {h: t for t, h in legend}
    assert edges[('conv4', 'conv5')] == [tag['conv4 -> conv5']]
    assert tag['clazz'] in nodes['clazz']
    # a heading naming an edge the trace draws differently marks its box
    assert tag['clazz -> output-clazz'] in nodes['clazz']
    assert 'Weight initialisation' not in headings.values()  # no place
    assert 'input-labels' not in nodes  # the generator's
    gen_nodes, _, _ = errata_marks(cfcefd21['generator'], _errata('cfcefd21'))
    assert 'input-labels' in gen_nodes and 'bottleneck6' in gen_nodes
    assert 'upsamp1' not in gen_nodes


def _svg_size(svg):
    m = re.search(r'<svg[^>]*\swidth="([0-9.]+)pt" height="([0-9.]+)pt"',
                  svg)
    return float(m.group(1)), float(m.group(2))


def test_vox_diagram_svg_is_the_drawn_model(cfcefd21, capsys):
    assert cli.main(['diagram', 'cfcefd21', '--format', 'svg',
                     '--graph', 'generator']) == 0
    svg = capsys.readouterr().out
    assert svg.startswith('<?xml') and svg.rstrip().endswith('</svg>')
    assert svg == draw([cfcefd21['generator']], _errata('cfcefd21'))
    width, height = _svg_size(svg)
    assert height > 3 * width > 600  # 20 boxes top to bottom
    both = draw(list(cfcefd21.values()), _errata('cfcefd21'))
    assert _svg_size(both)[0] > width  # side by side
