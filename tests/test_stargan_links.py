"""Shapes and structure of the StarGAN Links of 54314b33 and cfcefd21.

Expected shapes are the seeds' edge labels (channels x time x frequency)
at the blog's sizes, except where ERRATA.md decides otherwise (commented).
"""
import numpy
import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import chainer.functions as F
import chainer.links as L

from vox.links.blocks import ConvBlock, ResBlock
from vox.links.discriminators import (
    ConvBNDiscriminator, ConvDiscriminator, DiscriminatorOutput)
from vox.links.generators import ResNetGenerator, SkipGenerator

BLOG = (1421, 53, 2)
SMALL = (18, 3, 2)  # the generated corpus's kind of label groups


def _labels(n_classes, batch=1, picks=None, seed=0):
    """Concatenated one-hot labels ``(batch, sum(n_classes))``."""
    rng = numpy.random.RandomState(seed)
    c = numpy.zeros((batch, sum(n_classes)), dtype=numpy.float32)
    for b in range(batch):
        offset = 0
        for k, n in enumerate(n_classes):
            i = picks[k] if picks is not None else rng.randint(n)
            c[b, offset + i] = 1
            offset += n
    return c


def _spectrogram(t, batch=1, seed=0):
    rng = numpy.random.RandomState(seed)
    return rng.uniform(0, 1, (batch, 1, t, 256)).astype(numpy.float32)


def _infer(fn, *args):
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        return fn(*args)


def _shapes(trace):
    return {name: tuple(h.shape[1:]) for name, h in trace}


# --- full-size models at the blog's sizes, built once per module ----------

@pytest.fixture(scope='module')
def skip_g():
    return SkipGenerator(BLOG)


@pytest.fixture(scope='module')
def resnet_g():
    return ResNetGenerator(BLOG)


@pytest.fixture(scope='module')
def convbn_d():
    return ConvBNDiscriminator(BLOG)


@pytest.fixture(scope='module')
def conv_d():
    return ConvDiscriminator(BLOG)


@pytest.fixture(scope='module')
def skip_g_run(skip_g):
    x, c = _spectrogram(256), _labels(BLOG)
    trace = _infer(skip_g.trace, x, c)
    return x, trace


@pytest.fixture(scope='module')
def resnet_g_run(resnet_g):
    x, c = _spectrogram(64), _labels(BLOG)
    trace = _infer(resnet_g.trace, x, c)
    return x, trace


# --- 54314b33 ---------------------------------------------------------------

SKIP_G_SHAPES = {  # 54314b33 generator, T = 256: every label agrees
    'conv1': (32, 128, 128),
    'conv2': (64, 64, 64),
    'conv3': (128, 32, 32),
    'conv4': (256, 16, 16),        # conv4-out
    'repeat': (1476, 16, 16),
    'concat1': (1732, 16, 16),
    'merge': (256, 16, 16),
    'res1': (256, 16, 16),
    'res2': (256, 16, 16),
    'res3': (256, 16, 16),
    'res4': (256, 16, 16),
    'concat2': (512, 16, 16),
    'dconv1': (128, 32, 32),
    'dconv2': (64, 64, 64),
    'dconv3': (32, 128, 128),
    'dconv4': (1, 256, 256),       # output
}

CONVBN_D_SHAPES = {  # 54314b33 discriminator, T = 256
    'conv1': (32, 128, 128),
    'conv2': (64, 64, 64),
    'conv3': (128, 32, 32),
    'conv4': (256, 16, 16),
    'conv5': (512, 8, 8),          # Feature
    'clz_speaker': (1421, 1, 1),   # drawn "stride: 0"; built with stride 1
    'clz_birth': (53, 1, 1),
    'clz_sex': (2, 1, 1),
    'discriminate': (1, 8, 8),     # not drawn; added (ERRATA)
}


def test_skip_generator_block_shapes(skip_g_run):
    _, trace = skip_g_run
    assert [name for name, _ in trace] == list(SKIP_G_SHAPES)
    assert _shapes(trace) == SKIP_G_SHAPES


def test_skip_generator_output(skip_g_run):
    x, trace = skip_g_run
    y = trace[-1][1].array
    assert y.shape == x.shape and y.dtype == numpy.float32
    assert ((y > 0) & (y < 1)).all()


def test_skip_generator_other_lengths():
    g = SkipGenerator(SMALL, width=0.125)
    for t in (128, 16, 48):
        x = _spectrogram(t, batch=2)
        y = _infer(g, x, _labels(SMALL, batch=2))
        assert y.shape == x.shape
    with pytest.raises(ValueError):
        _infer(g, _spectrogram(100), _labels(SMALL))
    with pytest.raises(ValueError):  # wrong label size
        _infer(g, _spectrogram(128), _labels((18, 3)))


def test_convbn_discriminator_block_shapes(convbn_d):
    trace = _infer(convbn_d.trace, _spectrogram(256))
    assert [name for name, _ in trace] == list(CONVBN_D_SHAPES)
    assert _shapes(trace) == CONVBN_D_SHAPES


def test_convbn_discriminator_output(convbn_d):
    out = _infer(convbn_d, _spectrogram(256, batch=2))
    assert isinstance(out, DiscriminatorOutput)
    assert out.feature.shape == (2, 512, 8, 8)
    assert out.adversarial.shape == (2, 1, 8, 8)
    assert [c.shape for c in out.classes] == [(2, 1421), (2, 53), (2, 2)]


def test_convbn_discriminator_small_corpus_and_long_input():
    d = ConvBNDiscriminator(SMALL, width=0.125)
    out = _infer(d, _spectrogram(512))
    assert [c.shape for c in out.classes] == [(1, 18), (1, 3), (1, 2)]
    assert out.adversarial.shape == (1, 1, 16, 8)
    with pytest.raises(ValueError, match='T >= 256'):
        _infer(d, _spectrogram(128))


def _conv_bn_act(block, x):
    """The block's steps applied by hand: conv, then BN, then activation."""
    h = block.bn(block.conv(x))
    return F.leaky_relu(h, slope=0.2)


def test_54314b33_blocks_are_conv_bn_act(skip_g, convbn_d):
    g_names = ['conv1', 'conv2', 'conv3', 'conv4', 'merge',
               'dconv1', 'dconv2', 'dconv3']
    for model, names in ((skip_g, g_names),
                         (convbn_d, [f'conv{i}' for i in range(1, 6)])):
        for name in names:
            block = getattr(model, name)
            assert block.steps == ['conv', 'bn', 'act'], name
            assert block.activation == 'leaky_relu', name
            assert block.describe()['steps'][:2] == [
                'Deconvolution' if block.deconv else 'Convolution',
                'BatchNormalization']
    for i in range(1, 5):
        res = getattr(skip_g, f'res{i}')
        assert isinstance(res, ResBlock) and res.activation == 'leaky_relu'
        assert res.c1.steps == ['conv', 'bn', 'act']
        assert res.describe()['kind'] == 'ResBlock'
    assert skip_g.dconv4.steps == ['conv', 'act']
    assert skip_g.dconv4.activation == 'sigmoid'
    # ... and numerically, on the discriminator's first block.
    x = _spectrogram(32)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        numpy.testing.assert_allclose(
            convbn_d.conv1(x).array, _conv_bn_act(convbn_d.conv1, x).array,
            rtol=1e-5, atol=1e-6)


# --- cfcefd21 ---------------------------------------------------------------

RESNET_G_SHAPES = {  # cfcefd21 generator, T = 64
    'downsamp1': (32, 64, 256),
    'downsamp2': (64, 32, 128),
    'downsamp3': (128, 16, 64),
    'downsamp4': (256, 8, 32),
    'repeat': (1476, 8, 32),       # drawn 1479 x 8 x 32 (ERRATA)
    'concat': (1732, 8, 32),       # drawn 1607 x 8 x 32 (ERRATA)
    'merge': (256, 8, 32),
    'bottleneck1': (256, 8, 32),
    'bottleneck2': (256, 8, 32),
    'bottleneck3': (256, 8, 32),
    'bottleneck4': (256, 8, 32),
    'bottleneck5': (256, 8, 32),
    'bottleneck6': (256, 8, 32),
    'upsamp1': (128, 16, 64),
    'upsamp2': (64, 32, 128),
    'upsamp3': (32, 64, 256),
    'upsamp4': (1, 64, 256),       # output
}

CONV_D_SHAPES = {  # cfcefd21 discriminator, T = 64
    'conv1': (32, 32, 128),
    'conv2': (64, 16, 64),
    'conv3': (128, 8, 32),
    'conv4': (256, 4, 16),         # drawn 256 x 8 x 16 (ERRATA)
    'conv5': (512, 4, 8),          # drawn 512 x 8 x 8 (ERRATA)
    'conv6': (1024, 4, 4),         # Feature 1024 x 4 x 4, as drawn
    'clazz': (1476, 1, 1),         # drawn pad 1 would give 3 x 3 (ERRATA)
    'discriminate': (1, 4, 4),
}


def test_resnet_generator_block_shapes(resnet_g_run):
    _, trace = resnet_g_run
    assert [name for name, _ in trace] == list(RESNET_G_SHAPES)
    assert _shapes(trace) == RESNET_G_SHAPES


def test_resnet_generator_output(resnet_g_run):
    x, trace = resnet_g_run
    y = trace[-1][1].array
    assert y.shape == x.shape and y.dtype == numpy.float32
    assert ((y > 0) & (y < 1)).all()


def test_resnet_generator_other_lengths():
    g = ResNetGenerator(SMALL, width=0.125)
    for t in (32, 128, 8, 40):
        x = _spectrogram(t, batch=2)
        y = _infer(g, x, _labels(SMALL, batch=2))
        assert y.shape == x.shape
    with pytest.raises(ValueError):
        _infer(g, _spectrogram(60), _labels(SMALL))


def test_conv_discriminator_block_shapes(conv_d):
    trace = _infer(conv_d.trace, _spectrogram(64))
    assert [name for name, _ in trace] == list(CONV_D_SHAPES)
    assert _shapes(trace) == CONV_D_SHAPES


def test_conv_discriminator_output(conv_d):
    out = _infer(conv_d, _spectrogram(64, batch=2))
    assert isinstance(out, DiscriminatorOutput)
    assert out.feature.shape == (2, 1024, 4, 4)
    assert out.adversarial.shape == (2, 1, 4, 4)
    assert [c.shape for c in out.classes] == [(2, 1421), (2, 53), (2, 2)]
    # The groups are consecutive slices of clazz's 1476 channels.
    clazz = _infer(conv_d.clazz, out.feature).array.reshape(2, -1)
    numpy.testing.assert_array_equal(
        numpy.concatenate([c.array for c in out.classes], axis=1), clazz)


def test_conv_discriminator_small_corpus_and_long_input():
    d = ConvDiscriminator(SMALL, width=0.125)
    out = _infer(d, _spectrogram(128))
    assert [c.shape for c in out.classes] == [(1, 18), (1, 3), (1, 2)]
    assert out.adversarial.shape == (1, 1, 8, 4)
    with pytest.raises(ValueError, match='T >= 64'):
        _infer(d, _spectrogram(32))


def test_conv_discriminator_has_no_batchnorm(conv_d):
    links = list(conv_d.links())
    assert not any(isinstance(link, L.BatchNormalization) for link in links)
    for name, block in conv_d.blocks():
        assert 'bn' not in block.steps, name
    for i in range(1, 7):
        assert getattr(conv_d, f'conv{i}').steps == ['conv', 'act']
        assert getattr(conv_d, f'conv{i}').activation == 'leaky_relu'


def test_resnet_generator_blocks(resnet_g):
    for name in ('downsamp1', 'downsamp2', 'downsamp3', 'downsamp4',
                 'merge', 'upsamp1', 'upsamp2', 'upsamp3'):
        block = getattr(resnet_g, name)
        assert block.steps == ['conv', 'bn', 'act'], name
        assert block.activation == 'relu', name
    for i in range(1, 7):
        assert getattr(resnet_g, f'bottleneck{i}').activation == 'relu'
    assert resnet_g.upsamp4.describe()['ksize'] == [7, 7]
    assert resnet_g.upsamp4.steps == ['conv', 'act']


# --- both -------------------------------------------------------------------

@pytest.mark.parametrize('cls,t', [(SkipGenerator, 64), (ResNetGenerator, 32)])
def test_labels_change_the_output(cls, t):
    g = cls(SMALL, width=0.125)
    x = _spectrogram(t)
    y0 = _infer(g, x, _labels(SMALL, picks=(0, 0, 0))).array
    y1 = _infer(g, x, _labels(SMALL, picks=(5, 2, 1))).array
    assert numpy.abs(y0 - y1).max() > 1e-4


@pytest.mark.parametrize('cls', [SkipGenerator, ResNetGenerator,
                                 ConvBNDiscriminator, ConvDiscriminator])
def test_width_scales_hidden_channels_only(cls):
    m = cls(BLOG, width=0.125)
    blocks = dict(m.blocks())
    for name, block in blocks.items():
        if isinstance(block, ConvBlock):
            assert block.out_channels >= 1
    first = next(iter(blocks.values()))
    assert first.in_channels == 1
    if cls in (SkipGenerator, ResNetGenerator):
        assert m.merge.in_channels == 32 + 1476  # 256 * 0.125 + labels
        last = list(blocks.values())[-1]
        assert last.out_channels == 1
    elif cls is ConvBNDiscriminator:
        assert [m.clz_speaker.out_channels, m.clz_birth.out_channels,
                m.clz_sex.out_channels] == [1421, 53, 2]
        assert m.conv5.out_channels == 64
    else:
        assert m.clazz.out_channels == 1476 and m.conv6.out_channels == 128
    assert cls(BLOG, width=0.001).blocks()[0][1].out_channels == 1


def test_child_links_are_named_after_the_diagrams(skip_g, resnet_g,
                                                  convbn_d, conv_d):
    assert [n for n, _ in skip_g.blocks()] == [
        'conv1', 'conv2', 'conv3', 'conv4', 'merge', 'res1', 'res2', 'res3',
        'res4', 'dconv1', 'dconv2', 'dconv3', 'dconv4']
    assert [n for n, _ in resnet_g.blocks()][:5] == [
        'downsamp1', 'downsamp2', 'downsamp3', 'downsamp4', 'merge']
    assert [n for n, _ in convbn_d.blocks()][-4:] == [
        'clz_speaker', 'clz_birth', 'clz_sex', 'discriminate']
    assert [n for n, _ in conv_d.blocks()][-2:] == ['clazz', 'discriminate']
    for model in (skip_g, resnet_g, convbn_d, conv_d):
        for name, desc in model.describe():
            assert desc['kind'] in ('Convolution', 'Deconvolution',
                                    'ResBlock'), name
