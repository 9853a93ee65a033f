"""e19098ab: the StarGAN-paper-style speaker / birthplace / sex classifier.

    input 1 x 256 x 256 -> conv1..conv6 (64..2048 ch, k4 s2 p1,
    Convolution -> BatchNormalization -> LeakyReLU) -> 2048 x 4 x 4
    -> clz_speaker / clz_birth / clz_sex (k4 s1 p0, softmax)
"""
import chainer.functions as F
import chainer.links as L

from vox.base.labels import BLOG_N_CLASSES
from vox.links.blocks import HEADS, add_conv_stack, scale_channels
from vox.links.model import Model

CHANNELS = (64, 128, 256, 512, 1024, 2048)


class Classifier(Model):
    """Returns one logit array ``(B, n_k)`` per label group.

    The diagram's softmax is applied by the loss (softmax_cross_entropy),
    as Chainer code of the time did; see experiments/e19098ab/ERRATA.md.
    """

    def __init__(self, n_classes=BLOG_N_CLASSES, width=1.0):
        super().__init__()
        if len(n_classes) != len(HEADS):
            raise ValueError(f'expected {len(HEADS)} label groups, '
                             f'got {n_classes}')
        self.n_classes = tuple(n_classes)
        channels = [scale_channels(c, width) for c in CHANNELS]
        with self.init_scope():
            previous = add_conv_stack(self, channels, order='conv-bn-act',
                                      activation='leaky_relu')
            for name, n in zip(HEADS, n_classes):
                setattr(self, name, L.Convolution2D(previous, n, 4, 1, 0))

    def features(self, x):
        """conv6's output (2048 x 4 x 4 at the blog's sizes): what the heads
        read."""
        return self.conv6(self.conv5(self.conv4(
            self.conv3(self.conv2(self.conv1(x))))))

    def forward(self, x):
        h = self.features(x)
        # 1 x 1 at the blog's 256 x 256 input; averaged where larger.
        return tuple(F.mean(self[name](h), axis=(2, 3)) for name in HEADS)
