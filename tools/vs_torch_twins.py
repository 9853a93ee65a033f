"""Layer-for-layer PyTorch twins of vox's Links, and one training step of each.

What a user would pick instead of vox is the same network in PyTorch.  This
module builds, for each experiment, a PyTorch model with the same layers,
the same child names and so the same parameter names and shapes as vox's
own Link (any ``width`` and head sizes), copies the Chainer weights into it,
and gives one training step per side (forward, loss, backward, RMSprop) on
either device: Chainer on ``@numpy`` / ``@cupy:N``, PyTorch on ``cpu`` /
``cuda:N``.  ``tools/vs_torch.py`` times them; ``tests/test_vs_torch.py``
checks on the CPU, at a tiny width, that every twin matches its Link
(parameters, outputs, first training step's loss).

torch is not a vox dependency: this module is only imported where torch is
installed (the GPU machines have it; on a CPU, a venv of its own).
"""
import collections

import numpy as np
import chainer
import chainer.functions as CF
from chainer.backends import cuda

import torch
import torch.nn as nn
import torch.nn.functional as TF

from vox.links.blocks import LEAKY_RELU_SLOPE, scale_channels

#: chainer.links.BatchNormalization's default eps (vox's ConvBlock keeps it).
BN_EPS = 2e-5
#: Added under the gradient penalty's square root, as vox's updater does.
GP_EPS = 1e-12

T_ACT = {
    'leaky_relu': lambda h: TF.leaky_relu(h, LEAKY_RELU_SLOPE),
    'relu': TF.relu,
    'tanh': torch.tanh,
    'sigmoid': torch.sigmoid,
    'softplus': TF.softplus,
}


def _pair(v):
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


class TConvBlock(nn.Module):
    """(De)conv + optional BN + optional activation, in the listed order
    (vox.links.blocks.ConvBlock: children ``conv`` and ``bn``)."""

    def __init__(self, cin, cout, k, s=1, p=0, *, deconv=False, bn=True,
                 act='leaky_relu', order='conv-bn-act'):
        super().__init__()
        self.steps = [x for x in order.split('-')
                      if (x != 'bn' or bn) and (x != 'act' or act)]
        cls = nn.ConvTranspose2d if deconv else nn.Conv2d
        self.conv = cls(cin, cout, _pair(k), _pair(s), _pair(p))
        if 'bn' in self.steps:
            # Chainer's decay 0.9 is PyTorch's momentum 0.1.
            self.bn = nn.BatchNorm2d(cout, eps=BN_EPS, momentum=0.1)
        self.act = T_ACT[act] if act else None

    def forward(self, h):
        for x in self.steps:
            h = self.conv(h) if x == 'conv' else (
                self.bn(h) if x == 'bn' else self.act(h))
        return h


class TResBlock(nn.Module):
    def __init__(self, ch, act):
        super().__init__()
        self.c1 = TConvBlock(ch, ch, 3, 1, 1, act=act, order='conv-bn-act')
        self.c2 = TConvBlock(ch, ch, 3, 1, 1, act=None, order='conv-bn')

    def forward(self, x):
        return self.c2(self.c1(x)) + x


class TClassifier(nn.Module):
    """e19098ab: conv1..6 (64..2048, k4 s2 p1, conv-BN-LReLU), 3 k4 heads."""

    def __init__(self, n_classes, width=1.0):
        super().__init__()
        prev = 1
        for i, ch in enumerate((64, 128, 256, 512, 1024, 2048), 1):
            ch = scale_channels(ch, width)
            setattr(self, f'conv{i}', TConvBlock(prev, ch, 4, 2, 1))
            prev = ch
        self.clz_speaker = nn.Conv2d(prev, n_classes[0], 4, 1, 0)
        self.clz_birth = nn.Conv2d(prev, n_classes[1], 4, 1, 0)
        self.clz_sex = nn.Conv2d(prev, n_classes[2], 4, 1, 0)

    def forward(self, x):
        h = x
        for i in range(1, 7):
            h = getattr(self, f'conv{i}')(h)
        return tuple(head(h).mean(dim=(2, 3)) for head in
                     (self.clz_speaker, self.clz_birth, self.clz_sex))


# (name, out, k, s, p, deconv, act, bn); AutoEncoder blocks are conv-act-bn
# (vox.links.autoencoder's ENCODER_SPEC / DECODER_SPEC).
T_ENC = (('enc1', 32, 7, 1, 3, False, 'leaky_relu', True),
         ('enc2', 64, 4, 2, 1, False, 'leaky_relu', True),
         ('enc3', 64, (1, 4), (1, 2), (0, 1), False, 'leaky_relu', True),
         ('enc4', 64, (1, 4), (1, 2), (0, 1), False, 'leaky_relu', True),
         ('enc5', 64, (1, 4), (1, 2), (0, 1), False, 'leaky_relu', True),
         ('enc6', 1024, (1, 9), 1, 0, False, 'leaky_relu', True),
         ('enc7', 4096, (1, 8), 1, 0, False, 'leaky_relu', True),
         ('enc8', 4096, 1, 1, 0, False, 'tanh', True))
T_DEC = (('dec8', 4096, 1, 1, 0, False, 'leaky_relu', True),
         ('dec7', 1024, (1, 8), 1, 0, True, 'leaky_relu', True),
         ('dec6', 64, (1, 9), 1, 0, True, 'leaky_relu', True),
         ('dec5', 64, (1, 4), (1, 2), (0, 1), True, 'leaky_relu', True),
         ('dec4', 64, (1, 4), (1, 2), (0, 1), True, 'leaky_relu', True),
         ('dec3', 64, (1, 4), (1, 2), (0, 1), True, 'leaky_relu', True),
         ('dec2', 32, 4, 2, 1, True, 'leaky_relu', True),
         ('dec1', 1, 7, 1, 3, False, 'softplus', False))


class TStack(nn.Module):
    def __init__(self, spec, cin, width, io_names=()):
        super().__init__()
        self.names = [s[0] for s in spec]
        for name, out, k, s, p, deconv, act, bn in spec:
            out = out if name in io_names else scale_channels(out, width)
            setattr(self, name, TConvBlock(cin, out, k, s, p, deconv=deconv,
                                           bn=bn, act=act, order='conv-act-bn'))
            cin = out

    def forward(self, h):
        for name in self.names:
            h = getattr(self, name)(h)
        return h


class TAutoEncoder(nn.Module):
    def __init__(self, width=1.0):
        super().__init__()
        self.encoder = TStack(T_ENC, 1, width)
        self.decoder = TStack(T_DEC, scale_channels(4096, width), width,
                              io_names=('dec1',))

    def forward(self, x):
        return self.decoder(self.encoder(x))


def t_repeat(c, spatial):
    b, n = c.shape
    return c.view(b, n, 1, 1).expand(b, n, *spatial)


class TSkipGenerator(nn.Module):
    """54314b33's G (leaky ReLU everywhere, 4 ResBlocks, skip concat)."""

    def __init__(self, n_classes, width=1.0):
        super().__init__()
        a = 'leaky_relu'
        c = {n: scale_channels(n, width) for n in (32, 64, 128, 256)}
        self.conv1 = TConvBlock(1, c[32], 4, 2, 1, act=a)
        self.conv2 = TConvBlock(c[32], c[64], 4, 2, 1, act=a)
        self.conv3 = TConvBlock(c[64], c[128], 4, 2, 1, act=a)
        self.conv4 = TConvBlock(c[128], c[256], 4, 2, 1, act=a)
        self.merge = TConvBlock(c[256] + sum(n_classes), c[256], 3, 1, 1,
                                act=a)
        for i in range(1, 5):
            setattr(self, f'res{i}', TResBlock(c[256], a))
        self.dconv1 = TConvBlock(2 * c[256], c[128], 4, 2, 1, deconv=True,
                                 act=a)
        self.dconv2 = TConvBlock(c[128], c[64], 4, 2, 1, deconv=True, act=a)
        self.dconv3 = TConvBlock(c[64], c[32], 4, 2, 1, deconv=True, act=a)
        self.dconv4 = TConvBlock(c[32], 1, 4, 2, 1, deconv=True, bn=False,
                                 act='sigmoid')

    def forward(self, x, c):
        h = x
        for i in range(1, 5):
            h = getattr(self, f'conv{i}')(h)
        enc = h
        h = self.merge(torch.cat((enc, t_repeat(c, enc.shape[2:])), 1))
        for i in range(1, 5):
            h = getattr(self, f'res{i}')(h)
        h = torch.cat((h, enc), 1)
        for i in range(1, 5):
            h = getattr(self, f'dconv{i}')(h)
        return h


class TResNetGenerator(nn.Module):
    """cfcefd21's G (ReLU, k7 in/out, 6 ResBlocks, no skip)."""

    def __init__(self, n_classes, width=1.0):
        super().__init__()
        a = 'relu'
        c = {n: scale_channels(n, width) for n in (32, 64, 128, 256)}
        self.downsamp1 = TConvBlock(1, c[32], 7, 1, 3, act=a)
        self.downsamp2 = TConvBlock(c[32], c[64], 4, 2, 1, act=a)
        self.downsamp3 = TConvBlock(c[64], c[128], 4, 2, 1, act=a)
        self.downsamp4 = TConvBlock(c[128], c[256], 4, 2, 1, act=a)
        self.merge = TConvBlock(c[256] + sum(n_classes), c[256], 3, 1, 1,
                                act=a)
        for i in range(1, 7):
            setattr(self, f'bottleneck{i}', TResBlock(c[256], a))
        self.upsamp1 = TConvBlock(c[256], c[128], 4, 2, 1, deconv=True, act=a)
        self.upsamp2 = TConvBlock(c[128], c[64], 4, 2, 1, deconv=True, act=a)
        self.upsamp3 = TConvBlock(c[64], c[32], 4, 2, 1, deconv=True, act=a)
        self.upsamp4 = TConvBlock(c[32], 1, 7, 1, 3, deconv=True, bn=False,
                                  act='sigmoid')

    def forward(self, x, c):
        h = x
        for i in range(1, 5):
            h = getattr(self, f'downsamp{i}')(h)
        h = self.merge(torch.cat((h, t_repeat(c, h.shape[2:])), 1))
        for i in range(1, 7):
            h = getattr(self, f'bottleneck{i}')(h)
        for i in range(1, 5):
            h = getattr(self, f'upsamp{i}')(h)
        return h


DOut = collections.namedtuple('DOut', ['feature', 'adversarial', 'classes'])


def t_logits(h):
    return h.reshape(h.shape[:2]) if h.shape[2:] == (1, 1) else h.mean((2, 3))


def t_head(cin, cout, k, s, p):
    return TConvBlock(cin, cout, k, s, p, bn=False, act=None, order='conv')


class TConvBNDiscriminator(nn.Module):
    """54314b33's D: conv1..5 (32..512, conv-BN-LReLU), k8 heads, k3 critic."""

    def __init__(self, n_classes, width=1.0):
        super().__init__()
        prev = 1
        for i, ch in enumerate((32, 64, 128, 256, 512), 1):
            ch = scale_channels(ch, width)
            setattr(self, f'conv{i}', TConvBlock(prev, ch, 4, 2, 1))
            prev = ch
        self.clz_speaker = t_head(prev, n_classes[0], 8, 1, 0)
        self.clz_birth = t_head(prev, n_classes[1], 8, 1, 0)
        self.clz_sex = t_head(prev, n_classes[2], 8, 1, 0)
        self.discriminate = t_head(prev, 1, 3, 1, 1)

    def forward(self, x):
        h = x
        for i in range(1, 6):
            h = getattr(self, f'conv{i}')(h)
        classes = tuple(t_logits(head(h)) for head in
                        (self.clz_speaker, self.clz_birth, self.clz_sex))
        return DOut(h, self.discriminate(h), classes)


class TConvDiscriminator(nn.Module):
    """cfcefd21's D: 6 conv-LReLU (no BN), clazz k4 (sum of the heads),
    k3 critic."""

    LAYERS = (('conv1', 32, 4, 2, 1), ('conv2', 64, 4, 2, 1),
              ('conv3', 128, 4, 2, 1), ('conv4', 256, 4, 2, 1),
              ('conv5', 512, (3, 4), (1, 2), 1),
              ('conv6', 1024, (3, 4), (1, 2), 1))

    def __init__(self, n_classes, width=1.0):
        super().__init__()
        prev = 1
        for name, out, k, s, p in self.LAYERS:
            out = scale_channels(out, width)
            setattr(self, name, TConvBlock(prev, out, k, s, p, bn=False,
                                           order='conv-act'))
            prev = out
        self.clazz = t_head(prev, sum(n_classes), 4, 1, 0)
        self.discriminate = t_head(prev, 1, 3, 1, 1)
        self.split = list(n_classes)

    def forward(self, x):
        h = x
        for name, *_ in self.LAYERS:
            h = getattr(self, name)(h)
        classes = tuple(torch.split(t_logits(self.clazz(h)), self.split, 1))
        return DOut(h, self.discriminate(h), classes)


# ------------------------------------------------------ equivalence helpers

_LEAF = {'W': 'weight', 'b': 'bias', 'gamma': 'weight', 'beta': 'bias'}


class TwinMismatch(Exception):
    """A twin whose parameters or outputs are not its Link's."""


def _tname(chainer_name):
    parts = chainer_name.strip('/').split('/')
    return '.'.join(parts[:-1] + [_LEAF[parts[-1]]])


def match_params(cm, tm, label):
    """Names, shapes and total count of both sides' parameters; raises
    TwinMismatch when they differ.  Returns ``(chainer, torch)`` dicts by
    the torch name, and a one-line description."""
    cp = {_tname(n): p for n, p in cm.namedparams()}
    tp = dict(tm.named_parameters())
    c_total = sum(p.size for p in cp.values())
    t_total = sum(p.numel() for p in tp.values())
    bad = sorted(set(cp) ^ set(tp))
    bad += [n for n in cp
            if n in tp and tuple(cp[n].shape) != tuple(tp[n].shape)]
    line = (f'params {label}: chainer {c_total:,} ({len(cp)} arrays), torch '
            f'{t_total:,} ({len(tp)} arrays), names+shapes '
            f'{"identical" if not bad else "DIFFER: " + ", ".join(bad[:6])}')
    if bad or c_total != t_total:
        raise TwinMismatch(line)
    return cp, tp, line


def copy_weights(pairs):
    """Chainer's current weights (and BN statistics) into the twins."""
    with torch.no_grad():
        for cp, tp in pairs:
            for n, p in cp.items():
                tp[n].copy_(torch.from_numpy(cuda.to_cpu(p.array)))


def _flat(out):
    if isinstance(out, tuple) and hasattr(out, '_fields'):  # D output
        return [('feature', out.feature), ('adversarial', out.adversarial)] + [
            (f'classes[{k}]', c) for k, c in enumerate(out.classes)]
    if isinstance(out, tuple):
        return [(f'out[{k}]', o) for k, o in enumerate(out)]
    return [('out', out)]


def output_difference(label, c_out, t_out):
    """Max |chainer - torch| / max |chainer| over every output; raises
    TwinMismatch on a shape difference."""
    worst = 0.0
    for (name, c), (_, t) in zip(_flat(c_out), _flat(t_out)):
        c = cuda.to_cpu(getattr(c, 'array', c))
        t = t.detach().cpu().numpy()
        if c.shape != t.shape:
            raise TwinMismatch(f'{label} {name}: chainer {c.shape} != '
                               f'torch {t.shape}')
        scale = max(float(np.abs(c).max()), 1e-6)
        worst = max(worst, float(np.abs(c - t).max()) / scale)
    return worst


# ----------------------------------------------------------------- the steps

def c_score(adv):
    return CF.mean(adv, axis=tuple(range(1, adv.ndim)))


def t_score(adv):
    return adv.mean(dim=tuple(range(1, adv.ndim)))


def chainer_classifier_step(m, opt, x, t):
    m.cleargrads()
    loss = sum(CF.softmax_cross_entropy(y, tk) for y, tk in zip(m(x), t))
    loss.backward()
    opt.update()
    return float(loss.array)


def torch_classifier_step(m, opt, x, t):
    opt.zero_grad(set_to_none=True)
    loss = sum(TF.cross_entropy(y, tk) for y, tk in zip(m(x), t))
    loss.backward()
    opt.step()
    return loss.item()


def chainer_ae_step(m, opt, x):
    m.cleargrads()
    loss = CF.mean_squared_error(m(x), x)
    loss.backward()
    opt.update()
    return float(loss.array)


def torch_ae_step(m, opt, x):
    opt.zero_grad(set_to_none=True)
    loss = TF.mse_loss(m(x), x)
    loss.backward()
    opt.step()
    return loss.item()


def chainer_critic_step(G, D, optD, x, t_org, c_trg, eps, lam):
    """vox.updaters.stargan.StarGANUpdater.dis_terms + optimizer('dis').update."""
    D.cleargrads()
    with chainer.no_backprop_mode():
        x_fake = G(x, c_trg).array
    out_real, out_fake = D(x), D(x_fake)
    loss_cls = sum(CF.softmax_cross_entropy(y, t)
                   for y, t in zip(out_real.classes, t_org))
    loss_adv = CF.mean(c_score(out_fake.adversarial)) - CF.mean(
        c_score(out_real.adversarial))
    e = eps.reshape(-1, 1, 1, 1)
    x_hat = chainer.Variable(e * x + (1 - e) * x_fake)
    gx, = chainer.grad([CF.sum(c_score(D(x_hat).adversarial))], [x_hat],
                       enable_double_backprop=True)
    norm = CF.sqrt(CF.sum(gx * gx, axis=(1, 2, 3)) + GP_EPS)
    loss_gp = CF.mean((norm - 1) ** 2)
    loss = loss_adv + lam.lambda_gp * loss_gp + lam.lambda_cls * loss_cls
    loss.backward()
    optD.update()
    return float(loss.array)


def torch_critic_step(G, D, optD, x, t_org, c_trg, eps, lam):
    optD.zero_grad(set_to_none=True)
    with torch.no_grad():
        x_fake = G(x, c_trg)
    out_real, out_fake = D(x), D(x_fake)
    loss_cls = sum(TF.cross_entropy(y, t)
                   for y, t in zip(out_real.classes, t_org))
    loss_adv = t_score(out_fake.adversarial).mean() - t_score(
        out_real.adversarial).mean()
    e = eps.view(-1, 1, 1, 1)
    x_hat = (e * x + (1 - e) * x_fake).requires_grad_(True)
    gx, = torch.autograd.grad(t_score(D(x_hat).adversarial).sum(), x_hat,
                              create_graph=True)
    norm = torch.sqrt((gx * gx).sum(dim=(1, 2, 3)) + GP_EPS)
    loss_gp = ((norm - 1) ** 2).mean()
    loss = loss_adv + lam.lambda_gp * loss_gp + lam.lambda_cls * loss_cls
    loss.backward()
    optD.step()
    return loss.item()


def chainer_gen_step(G, D, optG, x, t_trg, c_org, c_trg, lam):
    """vox.updaters.stargan.StarGANUpdater.gen_terms + optimizer('gen').update.

    D's parameter gradients are computed too (as in vox and yunjey/stargan);
    both sides clear them first so neither accumulates.
    """
    G.cleargrads()
    D.cleargrads()
    x_fake = G(x, c_trg)
    out_fake = D(x_fake)
    loss_cls = sum(CF.softmax_cross_entropy(y, t)
                   for y, t in zip(out_fake.classes, t_trg))
    loss_adv = -CF.mean(c_score(out_fake.adversarial))
    loss_rec = CF.mean_absolute_error(G(x_fake, c_org), x)
    loss_id = CF.mean_absolute_error(G(x, c_org), x)
    with chainer.no_backprop_mode():
        f_real = D(x).feature.array
    loss_fm = CF.mean_squared_error(CF.mean(out_fake.feature, axis=0),
                                    f_real.mean(axis=0))
    loss = (loss_adv + lam.lambda_cls * loss_cls + lam.lambda_rec * loss_rec
            + lam.lambda_id * loss_id + lam.lambda_fm * loss_fm)
    loss.backward()
    optG.update()
    return float(loss.array)


def torch_gen_step(G, D, optG, x, t_trg, c_org, c_trg, lam):
    optG.zero_grad(set_to_none=True)
    D.zero_grad(set_to_none=True)
    x_fake = G(x, c_trg)
    out_fake = D(x_fake)
    loss_cls = sum(TF.cross_entropy(y, t)
                   for y, t in zip(out_fake.classes, t_trg))
    loss_adv = -t_score(out_fake.adversarial).mean()
    loss_rec = (G(x_fake, c_org) - x).abs().mean()
    loss_id = (G(x, c_org) - x).abs().mean()
    with torch.no_grad():
        f_real = D(x).feature
    loss_fm = TF.mse_loss(out_fake.feature.mean(0), f_real.mean(0))
    loss = (loss_adv + lam.lambda_cls * loss_cls + lam.lambda_rec * loss_rec
            + lam.lambda_id * loss_id + lam.lambda_fm * loss_fm)
    loss.backward()
    optG.step()
    return loss.item()
