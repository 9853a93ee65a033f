"""The StarGAN generators of 54314b33 and cfcefd21.

``G(x, c)``: ``x`` is a spectrogram ``(B, 1, T, 256)`` in [0, 1] and ``c``
the concatenated one-hot labels ``(B, sum(n_classes))`` (speaker, birthplace,
sex).  The labels are repeated over the bottleneck's spatial size, whatever
it is for the given ``T``, and concatenated on the channel axis, so the
models are fully convolutional over time.  The result is ``(B, 1, T, 256)``
in (0, 1) (sigmoid).

54314b33 (``SkipGenerator``, T a multiple of 16; the blog's T is 256)::

    conv1..conv4 (32, 64, 128, 256; k4 s2 p1; conv-BN-LeakyReLU) -> enc
    concat1 = concat(enc, repeat(c))          # 256 + 1476 = 1732 ch
    merge (256, k3 s1 p1, conv-BN-LeakyReLU)
    res1..res4 (ResBlock 256, BN, LeakyReLU)
    concat2 = concat(res4, enc)               # 512 ch (the skip)
    dconv1..dconv3 (128, 64, 32; k4 s2 p1; deconv-BN-LeakyReLU)
    dconv4 (1, k4 s2 p1, deconv-sigmoid)

cfcefd21 (``ResNetGenerator``, T a multiple of 8; the blog's T is 64)::

    downsamp1 (32, k7 s1 p3), downsamp2..4 (64, 128, 256; k4 s2 p1),
        all conv-BN-ReLU -> enc
    concat = concat(enc, repeat(c))           # 256 + 1476 = 1732 ch
    merge (256, k3 s1 p1, conv-BN-ReLU)
    bottleneck1..bottleneck6 (ResBlock 256, BN, ReLU)
    upsamp1..upsamp3 (128, 64, 32; k4 s2 p1; deconv-BN-ReLU)
    upsamp4 (1, k7 s1 p3, deconv-sigmoid)

Child links carry the diagrams' node ids, the circles ``repeat`` (the
attribute ``repeat_labels``) and ``concat`` included, declared in the
order ``forward`` applies them (``vox.links.model``).  ``width`` scales
every hidden channel count (rounded, at least 1) but never the
spectrogram's channel or the label count.  Where the diagrams disagree
with themselves (the label count 1479, the 1607 channels after the
concat, ...) see ``experiments/<id>/ERRATA.md``.
"""
from vox.links.blocks import (ConvBlock, ResBlock, check_spectrogram,
                              group_sizes, scale_channels)
from vox.links.model import Concat, Model, RepeatLabels


class _StarGANGenerator(Model):
    """The input checks of both generators."""

    #: T and the frequency size must be multiples of this (the encoder's
    #: total stride), so the decoder gives back the input's size.
    frame_multiple = 1

    def __init__(self, n_classes, width):
        super().__init__()
        self.n_classes = group_sizes(n_classes)
        self.n_labels = sum(n_classes)
        self.width = width

    def _check(self, x, c):
        check_spectrogram(x)
        m = self.frame_multiple
        if x.shape[2] % m or x.shape[3] % m:
            raise ValueError(
                f'{type(self).__name__} needs T and F to be multiples of '
                f'{m}, got T={x.shape[2]}, F={x.shape[3]}')
        if c.shape != (x.shape[0], self.n_labels):
            raise ValueError(
                f'expected labels of shape ({x.shape[0]}, {self.n_labels}) '
                f'(sum of n_classes={self.n_classes}), got {c.shape}')


class SkipGenerator(_StarGANGenerator):
    """54314b33's generator: encoder, labels, 4 ResBlocks, skip, decoder.

    ``SkipGenerator(n_classes, width=1.0)``; ``G(x, c) -> (B, 1, T, F)``
    with T and F multiples of 16.
    """

    frame_multiple = 16

    def __init__(self, n_classes, width=1.0):
        super().__init__(n_classes, width)
        ch = {n: scale_channels(n, width) for n in (32, 64, 128, 256)}
        act = 'leaky_relu'
        with self.init_scope():
            self.conv1 = ConvBlock(1, ch[32], 4, 2, 1, activation=act)
            self.conv2 = ConvBlock(ch[32], ch[64], 4, 2, 1, activation=act)
            self.conv3 = ConvBlock(ch[64], ch[128], 4, 2, 1, activation=act)
            self.conv4 = ConvBlock(ch[128], ch[256], 4, 2, 1, activation=act)
            self.repeat_labels = RepeatLabels()
            self.concat1 = Concat()
            self.merge = ConvBlock(ch[256] + self.n_labels, ch[256], 3, 1, 1,
                                   activation=act)
            self.res1 = ResBlock(ch[256], 3, 1, activation=act)
            self.res2 = ResBlock(ch[256], 3, 1, activation=act)
            self.res3 = ResBlock(ch[256], 3, 1, activation=act)
            self.res4 = ResBlock(ch[256], 3, 1, activation=act)
            self.concat2 = Concat()
            self.dconv1 = ConvBlock(ch[256] + ch[256], ch[128], 4, 2, 1,
                                    deconv=True, activation=act)
            self.dconv2 = ConvBlock(ch[128], ch[64], 4, 2, 1,
                                    deconv=True, activation=act)
            self.dconv3 = ConvBlock(ch[64], ch[32], 4, 2, 1,
                                    deconv=True, activation=act)
            self.dconv4 = ConvBlock(ch[32], 1, 4, 2, 1, deconv=True,
                                    bn=False, activation='sigmoid')

    def forward(self, x, c):
        self._check(x, c)
        enc = self.conv4(self.conv3(self.conv2(self.conv1(x))))
        # Edge order as drawn: conv4-out, then repeat.
        h = self.concat1(enc, self.repeat_labels(c, enc.shape[2:]))
        h = self.res4(self.res3(self.res2(self.res1(self.merge(h)))))
        # Edge order as drawn: res4, then conv4-out (the skip).
        h = self.concat2(h, enc)
        return self.dconv4(self.dconv3(self.dconv2(self.dconv1(h))))


class ResNetGenerator(_StarGANGenerator):
    """cfcefd21's generator: k7 + 3 strided convs, labels, 6 ResBlocks, up.

    ``ResNetGenerator(n_classes, width=1.0)``; ``G(x, c) -> (B, 1, T, F)``
    with T and F multiples of 8.
    """

    frame_multiple = 8

    def __init__(self, n_classes, width=1.0):
        super().__init__(n_classes, width)
        ch = {n: scale_channels(n, width) for n in (32, 64, 128, 256)}
        act = 'relu'
        with self.init_scope():
            self.downsamp1 = ConvBlock(1, ch[32], 7, 1, 3, activation=act)
            self.downsamp2 = ConvBlock(ch[32], ch[64], 4, 2, 1,
                                       activation=act)
            self.downsamp3 = ConvBlock(ch[64], ch[128], 4, 2, 1,
                                       activation=act)
            self.downsamp4 = ConvBlock(ch[128], ch[256], 4, 2, 1,
                                       activation=act)
            self.repeat_labels = RepeatLabels()
            self.concat = Concat()
            self.merge = ConvBlock(ch[256] + self.n_labels, ch[256], 3, 1, 1,
                                   activation=act)
            for i in range(1, 7):
                setattr(self, f'bottleneck{i}',
                        ResBlock(ch[256], 3, 1, activation=act))
            self.upsamp1 = ConvBlock(ch[256], ch[128], 4, 2, 1,
                                     deconv=True, activation=act)
            self.upsamp2 = ConvBlock(ch[128], ch[64], 4, 2, 1,
                                     deconv=True, activation=act)
            self.upsamp3 = ConvBlock(ch[64], ch[32], 4, 2, 1,
                                     deconv=True, activation=act)
            self.upsamp4 = ConvBlock(ch[32], 1, 7, 1, 3, deconv=True,
                                     bn=False, activation='sigmoid')

    def forward(self, x, c):
        self._check(x, c)
        h = self.downsamp4(self.downsamp3(self.downsamp2(self.downsamp1(x))))
        # Edge order as drawn: downsamp4, then repeat.
        h = self.merge(self.concat(h, self.repeat_labels(c, h.shape[2:])))
        for i in range(1, 7):
            h = self[f'bottleneck{i}'](h)
        return self.upsamp4(self.upsamp3(self.upsamp2(self.upsamp1(h))))
