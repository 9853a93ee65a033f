"""How much BatchNorm in the 54314b33 critic hides (its ERRATA.md).

In training, real and fake pass through the critic as separate batches in
train mode, so BatchNormalization gives every channel of each batch the
same mean (beta) before the activation.  This measures, on a trained run's
validation crops (batches of the run's batch size, targets drawn from the
corpus's real label rows), the feature-matching loss ``loss_fm`` of
``vox.updaters.stargan``:

* ``train/train``: fake and real features in train mode (what training
  computes);
* ``train/test``: the fake in train mode, the real reference in test mode
  (BatchNorm's running statistics);
* ``test/test``: both in test mode;

and the mean over channels of ``|channel mean(fake) - channel mean(real)|``
of the feature (channel mean over batch, time and frequency) in train and
in test mode: the channel-mean shift the critic cannot see in train mode.

The generator runs in train mode under no_backprop, as in the critic's
step.  Test-mode values are taken first, from the snapshot's running
statistics; train-mode forwards then update those statistics as training
would, which no later number uses.  Usage::

    python tools/critic_bn_modes.py results/54314b33/<run> [--batches 12]
        [--crops 4]
"""
import argparse

import numpy

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import chainer.functions as F

from vox.commands.evaluate import load_eval_data
from vox.training.store import load_models, load_run
from vox.updaters.stargan import labels_to_onehot


def batches(data, batch_size, n):
    x, labels = [], []
    for i in range(min(n * batch_size, len(data.validation))):
        example = data.validation[i]
        x.append(example[0])
        labels.append(example[1:])
        if len(x) == batch_size:
            yield numpy.stack(x), numpy.asarray(labels, numpy.int32)
            x, labels = [], []


def features(dis, x, train):
    with chainer.using_config('train', train), chainer.no_backprop_mode():
        return dis(x).feature.array


def fm(fake, real):
    return float(F.mean_squared_error(fake.mean(axis=0),
                                      real.mean(axis=0)).array)


def channel_gap(fake, real):
    return float(numpy.abs(fake.mean(axis=(0, 2, 3))
                           - real.mean(axis=(0, 2, 3))).mean())


def main(argv=None):
    from vox import cpu_fast
    cpu_fast.install_for_run()  # the kernels a run uses
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('run', help='a 54314b33 (or cfcefd21) run folder')
    p.add_argument('--batches', type=int, default=12)
    p.add_argument('--crops', type=int, default=4,
                   help='fixed crops per validation utterance')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    run = load_run(args.run)
    run, models = load_models(run.path)
    gen, dis = models['generator'], models['discriminator']
    data = load_eval_data(run, run.config.data.crop_frames, args.crops)
    n_classes = data.labels.n_classes
    rng = numpy.random.RandomState(args.seed)
    pairs = []
    for x, labels in batches(data, run.config.train.batch_size,
                             args.batches):
        rows = data.combinations[rng.randint(len(data.combinations),
                                             size=len(x))]
        with chainer.using_config('train', True), \
                chainer.no_backprop_mode():
            fake = gen(x, labels_to_onehot(rows, n_classes)).array
        pairs.append((x, fake))
    test = [(features(dis, fake, False), features(dis, x, False))
            for x, fake in pairs]
    train = [(features(dis, fake, True), features(dis, x, True))
             for x, fake in pairs]
    rows = {
        'loss_fm train/train (as trained)': [fm(f, r) for f, r in train],
        'loss_fm train/test (reference in test mode)': [
            fm(f, r) for (f, _), (_, r) in zip(train, test)],
        'loss_fm test/test': [fm(f, r) for f, r in test],
        'channel-mean gap, train mode': [channel_gap(f, r)
                                         for f, r in train],
        'channel-mean gap, test mode': [channel_gap(f, r) for f, r in test],
    }
    print(f'{run.path}: {len(pairs)} batches of '
          f'{run.config.train.batch_size} validation crops, feature '
          f'{train[0][0].shape[1:]}')
    print('| quantity | mean | min | max |')
    print('|---|---|---|---|')
    for name, values in rows.items():
        v = numpy.asarray(values)
        print(f'| {name} | {v.mean():.4g} | {v.min():.4g} | {v.max():.4g} |')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
