"""bc7db4a2's AutoEncoder against its diagram (experiments/bc7db4a2/ERRATA.md)."""
import numpy as np
import pytest

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import chainer.functions as F

from vox.links.autoencoder import AutoEncoder, scale_channels

BLOG_INPUT = (1, 1, 32, 256)  # batch x channels x time x frequency

# Output of every block, transcribed from the seed's edge labels
# (channels x time x frequency); the edge leaving a box is its output.
ENCODER_SHAPES = [
    ('enc1', (32, 32, 256)),
    ('enc2', (64, 16, 128)),
    ('enc3', (64, 16, 64)),
    ('enc4', (64, 16, 32)),
    ('enc5', (64, 16, 16)),
    ('enc6', (1024, 16, 8)),
    # ERRATA enc7 -> enc8: the edge says 1024 x 16 x 1; the box's ch and
    # enc8's input say 4096.
    ('enc7', (4096, 16, 1)),
    ('enc8', (4096, 16, 1)),  # the "Latent Variable" box
]
DECODER_SHAPES = [
    ('dec8', (4096, 16, 1)),
    ('dec7', (1024, 16, 8)),
    ('dec6', (64, 16, 16)),
    ('dec5', (64, 16, 32)),
    ('dec4', (64, 16, 64)),
    ('dec3', (64, 16, 128)),
    # ERRATA dec2 -> dec1: the edge says 64 x 32 x 256; the box says ch 32.
    ('dec2', (32, 32, 256)),
    ('dec1', (1, 32, 256)),  # the "Output" box
]


def _spectrogram(shape, seed=0):
    rng = np.random.RandomState(seed)
    return np.abs(rng.standard_normal(shape)).astype(np.float32)


@pytest.fixture(scope='module')
def model():
    return AutoEncoder(width=1.0)


@pytest.fixture(scope='module')
def traced(model):
    """Every block's output for one blog-sized spectrogram (test mode)."""
    x = _spectrogram(BLOG_INPUT)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        enc = model.encoder.trace(x)
        dec = model.decoder.trace(enc[-1][1])
        y = model(x)
    return x, enc, dec, y


def test_child_chains_and_names(model):
    assert isinstance(model.encoder, chainer.Chain)
    assert isinstance(model.decoder, chainer.Chain)
    assert [n for n, _ in model.encoder.blocks()] == \
        [n for n, _ in ENCODER_SHAPES]
    assert [n for n, _ in model.decoder.blocks()] == \
        [n for n, _ in DECODER_SHAPES]
    assert [n for n, _ in model.describe()] == \
        [n for n, _ in ENCODER_SHAPES + DECODER_SHAPES]


def test_encoder_shapes(traced):
    _, enc, _, _ = traced
    got = [(n, h.shape[1:]) for n, h in enc]
    assert got == ENCODER_SHAPES


def test_decoder_shapes(traced):
    _, _, dec, _ = traced
    got = [(n, h.shape[1:]) for n, h in dec]
    assert got == DECODER_SHAPES


def test_latent_and_output(model, traced):
    x, enc, _, y = traced
    assert enc[-1][1].shape == (1, 4096, 16, 1)
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        z = model.encode(x)
        np.testing.assert_array_equal(z.array, enc[-1][1].array)
        np.testing.assert_array_equal(model.decode(z).array, y.array)
    assert y.shape == x.shape
    assert y.dtype == np.float32
    assert (y.array >= 0).all()  # softplus
    assert np.isfinite(y.array).all()


def test_block_order(model):
    for name, d in model.describe():
        kind = 'Deconvolution' if name in (
            'dec7', 'dec6', 'dec5', 'dec4', 'dec3', 'dec2') else 'Convolution'
        assert d['kind'] == kind, name
        if name == 'dec1':
            assert d['steps'] == ['Convolution', 'softplus']
        elif name == 'enc8':
            # ERRATA enc8: tanh, then BatchNormalization, as drawn.
            assert d['steps'] == ['Convolution', 'tanh', 'BatchNormalization']
        else:
            assert d['steps'] == [kind, 'leaky_relu', 'BatchNormalization'], \
                name
        assert getattr(model.encoder if name.startswith('enc')
                       else model.decoder, name).steps[0] == 'conv'


def test_block_hyperparameters(model):
    d = dict(model.describe())
    assert d['enc1']['ksize'] == [7, 7] and d['enc1']['pad'] == [3, 3]
    assert d['enc2']['stride'] == [2, 2] and d['enc2']['ksize'] == [4, 4]
    for n in ('enc3', 'enc4', 'enc5', 'dec5', 'dec4', 'dec3'):
        assert (d[n]['ksize'], d[n]['stride'], d[n]['pad']) == \
            ([1, 4], [1, 2], [0, 1]), n
    assert d['enc6']['ksize'] == d['dec6']['ksize'] == [1, 9]
    assert d['enc7']['ksize'] == d['dec7']['ksize'] == [1, 8]
    assert d['enc8']['ksize'] == d['dec8']['ksize'] == [1, 1]


def test_parameter_count(model):
    n = sum(p.size for p in model.params())
    assert n == 102054657
    assert 100e6 < n < 105e6


def test_width_scales_hidden_channels_only():
    m = AutoEncoder(width=1 / 16)
    d = dict(m.describe())
    assert d['enc1']['out_channels'] == 2
    assert d['enc7']['out_channels'] == d['enc8']['out_channels'] == 256
    assert d['dec2']['out_channels'] == 2
    assert d['dec1']['out_channels'] == 1
    assert m.encoder.enc1.in_channels == 1
    assert scale_channels(32, 1e-3) == 1
    x = _spectrogram((2, 1, 32, 256))
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        assert m.encode(x).shape == (2, 256, 16, 1)
        assert m(x).shape == x.shape


def test_latent_bn_off_gives_latent_in_open_unit_interval():
    # Fixed weights: with some draws float32 tanh rounds to exactly 1.0
    # on this 10x input (seed 1 of 0..39 does).
    np.random.seed(0)  # Chainer's initialisers draw from numpy's global RNG
    m = AutoEncoder(width=1 / 16, latent_bn=False)
    assert m.encoder.enc8.steps == ['conv', 'act']
    x = _spectrogram((2, 1, 32, 256)) * 10
    with chainer.using_config('train', False), chainer.no_backprop_mode():
        z = m.encode(x).array
    assert (np.abs(z) < 1).all()


def test_small_model_trains():
    np.random.seed(0)  # Chainer's initialisers draw from numpy's global RNG
    m = AutoEncoder(width=1 / 16)
    opt = chainer.optimizers.RMSprop(lr=1e-3)
    opt.setup(m)
    x = _spectrogram((4, 1, 32, 256), seed=1)
    losses = []
    for _ in range(20):
        loss = F.mean_squared_error(m(x), x)
        m.cleargrads()
        loss.backward()
        opt.update()
        losses.append(float(loss.array))
    assert np.isfinite(losses).all()
    assert losses[-1] < 0.75 * losses[0], losses
