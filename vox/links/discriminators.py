"""The StarGAN discriminators of 54314b33 and cfcefd21.

``D(x)`` takes a spectrogram ``(B, 1, T, 256)`` and returns a
``DiscriminatorOutput(feature, adversarial, classes)``:

- ``feature``: the last conv block's output (after its activation), used
  for the feature matching loss;
- ``adversarial``: the WGAN critic map ``(B, 1, h, w)``; the updater takes
  its mean per sample;
- ``classes``: one logit array ``(B, n_k)`` per label group, in the order
  of ``n_classes`` (speaker, birthplace, sex).  The class convs' output is
  averaged over its spatial dims (1 x 1 at the blog's sizes, so this is
  just a reshape there; at longer T it averages the per-position logits).
  No softmax: the loss applies it (``F.softmax_cross_entropy``).

54314b33 (``ConvBNDiscriminator``, the blog's T is 256, T >= 256)::

    conv1..conv5 (32..512; k4 s2 p1; conv-BN-LeakyReLU) -> 512 x 8 x 8
    clz_speaker / clz_birth / clz_sex (n_k, k8 s1 p0)    -> n_k x 1 x 1
    discriminate (1, k3 s1 p1; not drawn, see ERRATA)    -> 1 x 8 x 8

cfcefd21 (``ConvDiscriminator``, the blog's T is 64, T >= 64)::

    conv1..conv4 (32..256; k4 s2 p1; conv-LeakyReLU, no BN)
    conv5, conv6 (512, 1024; k (3, 4) s (1, 2) p1)       -> 1024 x 4 x 4
    clazz (sum(n_classes), k4 s1 p0, split into groups)  -> 1476 x 1 x 1
    discriminate (1, k3 s1 p1)                           -> 1 x 4 x 4

Child links carry the diagrams' node ids; every one is a ``ConvBlock``.
The decisions (the drawn ``stride: 0``, the missing adversarial head, the
class conv's padding, the edge labels that do not match conv arithmetic)
are in ``experiments/<id>/ERRATA.md``.
"""
import collections

import chainer.functions as F
import numpy

from vox.links.blocks import (HEADS, ConvBlock, add_conv_stack,
                              check_spectrogram, group_sizes, scale_channels)
from vox.links.model import Model

DiscriminatorOutput = collections.namedtuple(
    'DiscriminatorOutput', ['feature', 'adversarial', 'classes'])
DiscriminatorOutput.__doc__ = """\
What a StarGAN discriminator returns.

feature: the last conv feature map ``(B, C, h, w)`` (feature matching).
adversarial: the critic map ``(B, 1, h, w)`` (take its mean per sample).
classes: a tuple of logits, one ``(B, n_k)`` array per label group.
"""

def _head(in_channels, out_channels, ksize, stride, pad):
    """A bare convolution output head (no BN, no activation)."""
    return ConvBlock(in_channels, out_channels, ksize, stride, pad,
                     bn=False, activation=None, order='conv')


class _StarGANDiscriminator(Model):
    """The feature map check of both discriminators."""

    #: The shortest T (frames) the class heads accept.
    min_frames = 1
    #: The class heads' kernel (time, frequency): the feature map must be
    #: at least this large.
    head_ksize = (1, 1)

    def __init__(self, n_classes, width):
        super().__init__()
        self.n_classes = group_sizes(n_classes)
        self.width = width

    def _check_feature(self, feature, x):
        kh, kw = self.head_ksize
        if feature.shape[2] < kh or feature.shape[3] < kw:
            raise ValueError(
                f'{type(self).__name__}: input {x.shape[2:]} gives a '
                f'{feature.shape[2:]} feature map, smaller than the class '
                f'heads\' {kh}x{kw} kernel; use T >= {self.min_frames} '
                f'(and the blog\'s 256 frequency bins)')


def _to_logits(h):
    """``(B, n, h, w)`` -> ``(B, n)``: the mean over the spatial dims."""
    if h.shape[2:] == (1, 1):
        return F.reshape(h, h.shape[:2])
    return F.mean(h, axis=(2, 3))


class ConvBNDiscriminator(_StarGANDiscriminator):
    """54314b33's discriminator: 5 conv-BN-LeakyReLU, per-group k8 heads.

    ``ConvBNDiscriminator(n_classes, width=1.0)``; ``D(x)`` ->
    ``DiscriminatorOutput``.  Needs T >= 256 (the k8 heads need an 8 x 8
    feature map, i.e. 256 x 256 after five stride-2 convs).
    """

    min_frames = 256
    head_ksize = (8, 8)
    CHANNELS = (32, 64, 128, 256, 512)

    def __init__(self, n_classes, width=1.0):
        super().__init__(n_classes, width)
        if len(self.n_classes) == len(HEADS):
            heads = HEADS
        else:  # another corpus's grouping: name the heads by position
            heads = tuple(f'clz_group{k}' for k in range(len(self.n_classes)))
        self.heads = heads
        channels = [scale_channels(c, width) for c in self.CHANNELS]
        with self.init_scope():
            previous = add_conv_stack(self, channels, activation='leaky_relu',
                                      order='conv-bn-act')
            for name, n in zip(heads, self.n_classes):
                # Drawn "stride: 0"; k8 on the 8 x 8 map gives 1 x 1 with
                # stride 1 (see ERRATA.md).
                setattr(self, name, _head(previous, n, 8, 1, 0))
            # Not drawn: the critic head (see ERRATA.md).
            self.discriminate = _head(previous, 1, 3, 1, 1)

    def forward(self, x):
        check_spectrogram(x)
        feature = self.conv5(self.conv4(self.conv3(self.conv2(self.conv1(x)))))
        self._check_feature(feature, x)
        classes = tuple(_to_logits(self[name](feature)) for name in self.heads)
        return DiscriminatorOutput(feature, self.discriminate(feature),
                                   classes)


class ConvDiscriminator(_StarGANDiscriminator):
    """cfcefd21's discriminator: 6 conv-LeakyReLU (no BN), clazz, critic.

    ``ConvDiscriminator(n_classes, width=1.0)``; ``D(x)`` ->
    ``DiscriminatorOutput``.  ``clazz`` has ``sum(n_classes)`` channels,
    split into the groups after averaging.  Needs T >= 64 (a 4 x 4
    feature map for clazz's k4 kernel).
    """

    min_frames = 64
    head_ksize = (4, 4)

    # (name, out channels, ksize, stride, pad) as drawn.
    LAYERS = (
        ('conv1', 32, 4, 2, 1),
        ('conv2', 64, 4, 2, 1),
        ('conv3', 128, 4, 2, 1),
        ('conv4', 256, 4, 2, 1),
        ('conv5', 512, (3, 4), (1, 2), 1),
        ('conv6', 1024, (3, 4), (1, 2), 1),
    )

    def __init__(self, n_classes, width=1.0):
        super().__init__(n_classes, width)
        with self.init_scope():
            previous = 1
            for name, out, ksize, stride, pad in self.LAYERS:
                out = scale_channels(out, width)
                setattr(self, name, ConvBlock(
                    previous, out, ksize, stride, pad, bn=False,
                    activation='leaky_relu', order='conv-act'))
                previous = out
            # Drawn "k: 4, stride: 1, pad: 1" but "1476 x 1 x 1": pad 0
            # (see ERRATA.md).
            self.clazz = _head(previous, sum(self.n_classes), 4, 1, 0)
            self.discriminate = _head(previous, 1, 3, 1, 1)
        self._split = tuple(int(i) for i in numpy.cumsum(self.n_classes)[:-1])

    def forward(self, x):
        check_spectrogram(x)
        h = x
        for name, *_ in self.LAYERS:
            h = self[name](h)
        feature = h
        self._check_feature(feature, x)
        logits = _to_logits(self.clazz(feature))
        if self._split:
            classes = tuple(F.split_axis(logits, self._split, axis=1))
        else:
            classes = (logits,)
        return DiscriminatorOutput(feature, self.discriminate(feature),
                                   classes)
