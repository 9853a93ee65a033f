"""The boxes of the blog's diagrams as Links.

Every box in the seeds is "(De)Convolution, then some of BatchNormalization
and an activation, in a listed order".  ``ConvBlock`` is that box with the
order given explicitly, so a model reads like its diagram and
``vox diagram`` can print the order actually applied.
"""
import chainer
import chainer.functions as F
import chainer.links as L

# Chainer's own LeakyReLU slope.  The blog names no slope; 0.2 is what a
# 2019 Chainer user writing F.leaky_relu got (see experiments/*/ERRATA.md).
LEAKY_RELU_SLOPE = 0.2

#: The classification heads' link names, one per label group (speaker,
#: birthplace, sex), as the diagrams name them.
HEADS = ('clz_speaker', 'clz_birth', 'clz_sex')


def scale_channels(channels, width):
    """A hidden channel count scaled by ``width`` (rounded, at least 1):
    ``width=1.0`` is the blog's model, smaller widths the smoke profiles'."""
    return max(1, int(round(channels * width)))


ACTIVATIONS = {
    'leaky_relu': lambda h: F.leaky_relu(h, slope=LEAKY_RELU_SLOPE),
    'relu': F.relu,
    'tanh': F.tanh,
    'sigmoid': F.sigmoid,
    'softplus': F.softplus,
}


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class ConvBlock(chainer.Chain):
    """A (de)convolution with optional BatchNorm and activation.

    ``order`` lists the steps as the diagram does, e.g. ``'conv-bn-act'``
    (classifier, StarGAN) or ``'conv-act-bn'`` (the AutoEncoder).  Steps
    not present (no ``bn``, ``activation=None``) are simply left out.
    ksize, stride and pad take an int or a (time, frequency) pair.
    """

    def __init__(self, in_channels, out_channels, ksize, stride=1, pad=0, *,
                 deconv=False, bn=True, activation='leaky_relu',
                 order='conv-bn-act'):
        super().__init__()
        steps = order.split('-')
        if sorted(steps) != sorted(['conv', 'bn', 'act']) and \
                sorted(steps) != sorted(['conv', 'act']) and \
                sorted(steps) != sorted(['conv', 'bn']) and steps != ['conv']:
            raise ValueError(f'unknown block order {order!r}')
        if activation is not None and activation not in ACTIVATIONS:
            raise ValueError(f'unknown activation {activation!r}; '
                             f'known: {sorted(ACTIVATIONS)}')
        self.steps = [s for s in steps
                      if (s != 'bn' or bn) and (s != 'act' or activation)]
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.ksize, self.stride, self.pad = (
            _pair(ksize), _pair(stride), _pair(pad))
        self.deconv = deconv
        self.activation = activation
        conv_cls = L.Deconvolution2D if deconv else L.Convolution2D
        with self.init_scope():
            self.conv = conv_cls(in_channels, out_channels, self.ksize,
                                 self.stride, self.pad)
            if 'bn' in self.steps:
                # BN normalises over the conv's output channels wherever it
                # stands in the order (activations keep the channel count).
                self.bn = L.BatchNormalization(out_channels)

    def forward(self, x):
        h = x
        for step in self.steps:
            if step == 'conv':
                h = self.conv(h)
            elif step == 'bn':
                h = self.bn(h)
            else:
                h = ACTIVATIONS[self.activation](h)
        return h

    def describe(self):
        """The box's text as the blog writes it (used by vox diagram)."""
        kind = 'Deconvolution' if self.deconv else 'Convolution'
        names = {'conv': None, 'bn': 'BatchNormalization',
                 'act': self.activation}
        return {
            'kind': kind,
            'out_channels': self.out_channels,
            'ksize': list(self.ksize),
            'stride': list(self.stride),
            'pad': list(self.pad),
            'steps': [names[s] or kind for s in self.steps],
        }


class ResBlock(chainer.Chain):
    """StarGAN's residual block: two 3x3 convs with BN, identity shortcut.

    ``residual`` is conv-BN-act-conv-BN and the sum is not activated, as
    in StarGAN's generator (the blog draws one box per ResBlock and names
    only ch/ksize/BN/activation; see ERRATA.md).
    """

    def __init__(self, channels, ksize=3, pad=1, activation='relu'):
        super().__init__()
        self.channels = channels
        self.activation = activation
        with self.init_scope():
            self.c1 = ConvBlock(channels, channels, ksize, 1, pad,
                                activation=activation, order='conv-bn-act')
            self.c2 = ConvBlock(channels, channels, ksize, 1, pad,
                                activation=None, order='conv-bn')

    def residual(self, x):
        return self.c2(self.c1(x))

    def shortcut(self, x):
        return x

    def forward(self, x):
        return self.residual(x) + self.shortcut(x)

    def describe(self):
        d = self.c1.describe()
        d['kind'] = 'ResBlock'
        return d


def describe(link):
    """A box's description as ``ConvBlock.describe`` gives it, for any box
    of a model: a ConvBlock or ResBlock, or a bare (De)Convolution2D (the
    classifier's heads, whose only step is the convolution)."""
    if hasattr(link, 'describe'):
        return link.describe()
    kind = ('Deconvolution' if isinstance(link, L.Deconvolution2D)
            else 'Convolution')
    return {
        'kind': kind,
        'out_channels': link.out_channels,
        'ksize': list(_pair(link.ksize)),
        'stride': list(_pair(link.stride)),
        'pad': list(_pair(link.pad)),
        'steps': [kind],
    }


def add_conv_stack(chain, channels, **block):
    """``conv1`` .. ``convN`` on ``chain`` (inside its ``init_scope``):
    ConvBlocks with kernel 4, stride 2, padding 1 from one input channel to
    each of ``channels`` in turn; returns the last channel count."""
    previous = 1
    for i, ch in enumerate(channels, start=1):
        setattr(chain, f'conv{i}', ConvBlock(previous, ch, 4, 2, 1, **block))
        previous = ch
    return previous


def group_sizes(n_classes):
    """``n_classes`` as a tuple of ints, each a label group's class count."""
    n_classes = tuple(int(n) for n in n_classes)
    if not n_classes or min(n_classes) < 1:
        raise ValueError(f'n_classes must be positive group sizes, '
                         f'got {n_classes}')
    return n_classes


def check_spectrogram(x):
    """A batch of one-channel spectrograms, (B, 1, T, F), or ValueError."""
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f'expected a spectrogram (B, 1, T, F), '
                         f'got shape {x.shape}')
