"""One protocol for every model (vox.links.model): nodes declared once, in
the order forward applies them; shapes traced by a LinkHook, forward plain."""
import inspect

import numpy as np
import pytest
import yaml

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import chainer.links as L

from vox.base.errors import VoxError
from vox.config import EXPERIMENTS_DIR
from vox.faithfulness.diagram import import_link
from vox.links.autoencoder import AutoEncoder
from vox.links.blocks import ConvBlock
from vox.links.classifier import Classifier
from vox.links.discriminators import ConvBNDiscriminator, ConvDiscriminator
from vox.links.generators import ResNetGenerator, SkipGenerator
from vox.links.model import Concat, Model, Operation

SMALL = (18, 3, 2)


def _inputs(model, frames):
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 1, (1, 1, frames, 256)).astype(np.float32)
    if isinstance(model, (SkipGenerator, ResNetGenerator)):
        c = np.zeros((1, sum(SMALL)), np.float32)
        c[0, [0, 18, 21]] = 1
        return x, c
    return (x,)


SMALL_MODELS = [
    (lambda: Classifier(SMALL, width=0.125), 256),
    (lambda: AutoEncoder(width=1 / 16), 32),
    (lambda: SkipGenerator(SMALL, width=0.125), 32),
    (lambda: ResNetGenerator(SMALL, width=0.125), 32),
    (lambda: ConvBNDiscriminator(SMALL, width=0.125), 256),
    (lambda: ConvDiscriminator(SMALL, width=0.125), 64),
]


@pytest.mark.parametrize('build,frames', SMALL_MODELS)
def test_trace_records_every_node_once_in_declared_order(build, frames):
    model = build()
    inputs = _inputs(model, frames)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        trace = model.trace(*inputs)
        y = model(*inputs)
    assert [name for name, _ in trace] == [name for name, _ in model.nodes()]
    # Tracing changes nothing: the last node's output is the model's.
    last = trace[-1][1].array
    out = y if isinstance(y, chainer.Variable) else None
    if out is not None:
        np.testing.assert_array_equal(last, out.array)
    assert not chainer._get_link_hooks()  # the recorder is gone again


@pytest.mark.parametrize('build,frames', SMALL_MODELS)
def test_forward_takes_only_the_model_inputs(build, frames):
    model = build()
    params = list(inspect.signature(model.forward).parameters)
    assert params == ['x', 'c'][:len(_inputs(model, frames))]


def test_nodes_are_in_declared_order_not_by_name():
    class Tiny(Model):
        def __init__(self):
            super().__init__()
            with self.init_scope():
                self.zeta = L.Convolution2D(1, 2, 1)
                self.join = Concat()
                self.alpha = L.Convolution2D(4, 1, 1)

        def forward(self, x):
            h = self.zeta(x)
            return self.alpha(self.join(h, h))

    tiny = Tiny()
    assert [n for n, _ in tiny.nodes()] == ['zeta', 'join', 'alpha']
    assert [n for n, _ in tiny.blocks()] == ['zeta', 'alpha']
    assert [child.name for child in tiny.children()] == [
        'alpha', 'join', 'zeta']  # Chain's own order: by name
    x = np.ones((1, 1, 3, 3), np.float32)
    assert [n for n, _ in tiny.trace(x)] == ['zeta', 'join', 'alpha']
    assert dict(tiny.describe())['zeta'] == {
        'kind': 'Convolution', 'out_channels': 2, 'ksize': [1, 1],
        'stride': [1, 1], 'pad': [0, 0], 'steps': ['Convolution']}


def test_operations_have_no_parameters_and_the_diagram_names():
    g = SkipGenerator(SMALL, width=0.125)
    ops = [(n, link) for n, link in g.nodes() if isinstance(link, Operation)]
    assert [(n, link.op) for n, link in ops] == [
        ('repeat', 'repeat'), ('concat1', 'concat'), ('concat2', 'concat')]
    assert all(not list(link.params()) for _, link in ops)
    # The snapshot's keys are the parameters' and BN statistics' only.
    assert not any('repeat' in n or 'concat' in n
                   for n, _ in g.namedparams())


def test_every_drawn_model_is_a_model():
    for seed in sorted(EXPERIMENTS_DIR.glob('*/seed.yaml')):
        for graph in yaml.safe_load(seed.read_text())['graphs']:
            assert issubclass(import_link(graph['link']), Model), seed


def test_a_seed_naming_another_link_is_refused():
    with pytest.raises(VoxError, match='not a vox model'):
        import_link('vox.links.blocks.ConvBlock')
    assert not issubclass(ConvBlock, Model)
