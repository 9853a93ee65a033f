"""The AutoEncoder of experiment bc7db4a2 (2019-03-20).

Spectrogram ``(B, 1, 32, 256)`` (channels x time x frequency, raw magnitude
``[0, inf)``) -> latent ``(B, 4096, 16, 1)`` -> spectrogram ``(B, 1, 32,
256)`` in ``(0, inf)``.  The boxes are the blog's diagram, top to bottom;
every block applies Convolution -> LeakyReLU -> BatchNormalization in that
(unusual) order, as listed.  Where the diagram contradicts itself, see
``experiments/bc7db4a2/ERRATA.md``; each such place is marked ``ERRATA``.

``width`` scales every hidden channel count (rounded, at least 1) but never
the spectrogram's single channel: ``width=1.0`` is the blog's model
(about 101M parameters), small widths are for smoke runs.
"""
from vox.links.blocks import ConvBlock, scale_channels
from vox.links.model import Model

#: The spectrogram's channel count (never scaled by ``width``).
IO_CHANNELS = 1

ORDER = 'conv-act-bn'

# (name, out_channels, ksize, stride, pad, deconv, activation, bn)
# ksize/stride/pad as (time, frequency) or an int for both axes.
ENCODER_SPEC = (
    ('enc1', 32, 7, 1, 3, False, 'leaky_relu', True),
    ('enc2', 64, 4, 2, 1, False, 'leaky_relu', True),
    ('enc3', 64, (1, 4), (1, 2), (0, 1), False, 'leaky_relu', True),
    ('enc4', 64, (1, 4), (1, 2), (0, 1), False, 'leaky_relu', True),
    ('enc5', 64, (1, 4), (1, 2), (0, 1), False, 'leaky_relu', True),
    ('enc6', 1024, (1, 9), 1, 0, False, 'leaky_relu', True),
    # ERRATA enc7 -> enc8: the edge says 1024 ch; the box (and enc8's
    # input) says 4096.  Built with 4096.
    ('enc7', 4096, (1, 8), 1, 0, False, 'leaky_relu', True),
    # ERRATA enc8: "tanh, then BatchNormalization" while the latent is
    # labelled (-1, 1).  Built as the box says (BN last); ``latent_bn=False``
    # drops the BN so the latent really lies in (-1, 1).
    ('enc8', 4096, 1, 1, 0, False, 'tanh', True),
)

DECODER_SPEC = (
    # dec8 is drawn as a Convolution k1 with LeakyReLU + BN: built so.
    ('dec8', 4096, 1, 1, 0, False, 'leaky_relu', True),
    ('dec7', 1024, (1, 8), 1, 0, True, 'leaky_relu', True),
    ('dec6', 64, (1, 9), 1, 0, True, 'leaky_relu', True),
    ('dec5', 64, (1, 4), (1, 2), (0, 1), True, 'leaky_relu', True),
    ('dec4', 64, (1, 4), (1, 2), (0, 1), True, 'leaky_relu', True),
    ('dec3', 64, (1, 4), (1, 2), (0, 1), True, 'leaky_relu', True),
    # ERRATA dec2 -> dec1: the edge says 64 ch; the box says 32.  Built 32.
    ('dec2', 32, 4, 2, 1, True, 'leaky_relu', True),
    ('dec1', IO_CHANNELS, 7, 1, 3, False, 'softplus', False),
)


class _Stack(Model):
    """A chain of ConvBlocks applied in the order of ``spec``."""

    def __init__(self, spec, in_channels, width, io_names=(), bn_off=()):
        super().__init__()
        self.width = width
        ch = in_channels
        with self.init_scope():
            for (name, out, ksize, stride, pad, deconv, act, bn) in spec:
                out = out if name in io_names else scale_channels(out, width)
                setattr(self, name, ConvBlock(
                    ch, out, ksize, stride, pad, deconv=deconv,
                    bn=bn and name not in bn_off, activation=act,
                    order=ORDER))
                ch = out
        self.in_channels = in_channels
        self.out_channels = ch

    def forward(self, x):
        h = x
        for _, block in self.blocks():
            h = block(h)
        return h


class Encoder(_Stack):
    """enc1..enc8: ``(B, 1, 32, 256)`` -> latent ``(B, 4096, 16, 1)``."""

    def __init__(self, width=1.0, latent_bn=True):
        super().__init__(ENCODER_SPEC, IO_CHANNELS, width,
                         bn_off=() if latent_bn else ('enc8',))


class Decoder(_Stack):
    """dec8..dec1: latent ``(B, 4096, 16, 1)`` -> ``(B, 1, 32, 256)``."""

    def __init__(self, width=1.0):
        super().__init__(DECODER_SPEC, scale_channels(4096, width), width,
                         io_names=('dec1',))


class AutoEncoder(Model):
    """bc7db4a2's AutoEncoder: ``encoder`` and ``decoder`` child Chains.

    ``latent_bn`` (default True, as drawn) keeps enc8's BatchNormalization
    after tanh; False drops it so the latent is in (-1, 1) as labelled.
    """

    def __init__(self, width=1.0, *, latent_bn=True):
        super().__init__()
        self.width = width
        self.latent_bn = latent_bn
        with self.init_scope():
            self.encoder = Encoder(width, latent_bn=latent_bn)
            self.decoder = Decoder(width)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))
