"""e19098ab: the classifier built at the blog's sizes matches the seed."""
import chainer
import numpy as np
import pytest

from vox.links.classifier import HEADS, Classifier

# Edge labels transcribed from the post (experiments/e19098ab/BLOG.md;
# C x T x F).
SEED_SHAPES = {
    'conv1': (64, 128, 128),
    'conv2': (128, 64, 64),
    'conv3': (256, 32, 32),
    'conv4': (512, 16, 16),
    'conv5': (1024, 8, 8),
    'conv6': (2048, 4, 4),      # "h: 2048 x 4 x 4"
    'clz_speaker': (1421, 1, 1),
    'clz_birth': (53, 1, 1),
    'clz_sex': (2, 1, 1),
}


@pytest.fixture(scope='module')
def blog_model():
    return Classifier((1421, 53, 2))


def test_every_layer_shape_matches_the_seed(blog_model):
    x = np.zeros((1, 1, 256, 256), np.float32)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        h = x
        for i in range(1, 7):
            h = getattr(blog_model, f'conv{i}')(h)
            assert h.shape[1:] == SEED_SHAPES[f'conv{i}'], f'conv{i}'
        for name in HEADS:
            assert getattr(blog_model, name)(h).shape[1:] == SEED_SHAPES[name]
        logits = blog_model(x)
    assert [y.shape for y in logits] == [(1, 1421), (1, 53), (1, 2)]


def test_blocks_are_conv_bn_leaky_relu_k4_s2_p1(blog_model):
    for i in range(1, 7):
        d = getattr(blog_model, f'conv{i}').describe()
        assert d['steps'] == ['Convolution', 'BatchNormalization',
                              'leaky_relu']
        assert (d['ksize'], d['stride'], d['pad']) == ([4, 4], [2, 2], [1, 1])
    for name in HEADS:
        head = getattr(blog_model, name)
        assert (head.ksize, head.stride, head.pad) == (4, (1, 1), (0, 0))


def test_width_scales_hidden_channels_only():
    small = Classifier((5, 3, 2), width=0.125)
    assert small.conv1.out_channels == 8 and small.conv6.out_channels == 256
    with chainer.using_config('train', False):
        logits = small(np.zeros((2, 1, 256, 256), np.float32))
    assert [y.shape for y in logits] == [(2, 5), (2, 3), (2, 2)]


def test_trace_gives_every_node_with_the_seed_shape(blog_model):
    x = np.zeros((1, 1, 256, 256), np.float32)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        trace = blog_model.trace(x)
    assert [(name, h.shape[1:]) for name, h in trace] == \
        list(SEED_SHAPES.items())
    assert [n for n, _ in blog_model.describe()] == list(SEED_SHAPES)
