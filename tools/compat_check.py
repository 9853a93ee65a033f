"""Exercises the Chainer feature set vox relies on, under this interpreter.

    python tools/compat_check.py [--device @cupy:0]

Run by tests/test_compat.py in the project venv (Python 3.11 + NumPy 1.26)
and by `make compat-check`, which builds a second venv with Python 3.12 +
NumPy 2 (no setuptools) and runs it there.  Exits non-zero on any failure.
"""
import argparse
import os
import sys
import tempfile
import warnings

warnings.simplefilter('error')  # the compat module must keep imports clean

sys.path.insert(0, os.path.join(os.path.dirname(__file__), '..'))
import vox.compat  # noqa: E402,F401  (before chainer: Chainer today)
import chainer  # noqa: E402
import chainer.functions as F  # noqa: E402
import chainer.links as L  # noqa: E402
import numpy as np  # noqa: E402
from chainer import training  # noqa: E402
from chainer.training import extensions  # noqa: E402


class Net(chainer.Chain):
    def __init__(self):
        super().__init__()
        with self.init_scope():
            self.c = L.Convolution2D(1, 4, 3, 1, 1)
            self.bn = L.BatchNormalization(4)
            self.d = L.Deconvolution2D(4, 1, 4, 2, 1)
            self.head = L.Linear(None, 2)

    def forward(self, x, t):
        h = F.leaky_relu(self.bn(self.c(x)))
        y = F.softplus(self.d(h))
        logits = self.head(F.tanh(h))
        loss = F.softmax_cross_entropy(logits, t) + \
            F.mean_squared_error(F.sigmoid(y[:, :, ::2, ::2]), x)
        chainer.report({'loss': loss, 'acc': F.accuracy(logits, t)}, self)
        return loss


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--device', default='@numpy')
    args = p.parse_args()
    device = chainer.get_device(args.device)
    xp = device.xp
    rng = np.random.RandomState(0)
    checks = []

    # Deconvolution2D backward when its input needs no gradient (7.8.1 bug).
    d = L.Deconvolution2D(1, 2, 4, 2, 1)
    d.to_device(device)
    y = d(xp.asarray(rng.rand(2, 1, 4, 4).astype(np.float32)))
    F.sum(y).backward()
    checks.append(('deconvolution backward, constant input',
                   d.W.grad is not None))

    # Gradient penalty: double backprop through conv and BN.
    net = Net()
    net.to_device(device)
    x = chainer.Variable(xp.asarray(rng.rand(4, 1, 8, 8).astype(np.float32)))
    out = F.sum(net.bn(net.c(x)))
    gx, = chainer.grad([out], [x], enable_double_backprop=True)
    gp = F.mean((F.sqrt(F.batch_l2_norm_squared(gx)) - 1) ** 2)
    net.cleargrads()
    gp.backward()
    checks.append(('chainer.grad double backprop', net.c.W.grad is not None))

    # Trainer with every extension vox uses, snapshot and resume.
    data = [(rng.rand(1, 8, 8).astype(np.float32), np.int32(i % 2))
            for i in range(8)]
    with tempfile.TemporaryDirectory() as out:
        for resume in (False, True):
            net = Net()
            net.to_device(device)
            opt = chainer.optimizers.RMSprop(lr=1e-3)
            opt.setup(net)
            it = chainer.iterators.SerialIterator(data, 4)
            updater = training.StandardUpdater(
                it, opt, device=device,
                loss_func=lambda x, t: net(x, t))
            stop = 4 if resume else 2
            trainer = training.Trainer(updater, (stop, 'epoch'), out=out)
            trainer.extend(extensions.LogReport())
            trainer.extend(extensions.PlotReport(['main/loss'], 'epoch',
                                                 filename='loss.png'))
            trainer.extend(extensions.PrintReport(['epoch', 'main/loss']))
            trainer.extend(extensions.ProgressBar())
            trainer.extend(extensions.ExponentialShift('lr', 0.5),
                           trigger=(1, 'epoch'))
            trainer.extend(extensions.snapshot(autoload=True),
                           trigger=(1, 'epoch'))
            trainer.extend(extensions.FailOnNonNumber())
            trainer.run()
        checks.append(('trainer resumed from snapshot',
                       updater.iteration == 8 and
                       abs(opt.lr - 1e-3 * 0.5 ** 4) < 1e-12))
        checks.append(('PlotReport wrote a PNG',
                       os.path.exists(os.path.join(out, 'loss.png'))))

    failed = [name for name, ok in checks if not ok]
    for name, ok in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name}")
    print(f'python {sys.version.split()[0]}, numpy {np.__version__}, '
          f'chainer {chainer.__version__}, device {device}')
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
