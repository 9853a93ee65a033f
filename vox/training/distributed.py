"""Data parallelism over MPI ranks with ChainerMN: the same experiment, split.

``vox run ID --distributed`` under ``mpiexec -n N`` trains one model on N
processes (ranks).  Every rank builds the one-process Trainer with the
experiment's recipe, and :meth:`Distributed.apply` makes it that rank's
part, in place; the recipes know nothing of ranks.  All communication is
ChainerMN's (chainer 7.8.1's ``chainermn`` over mpi4py; NCCL on GPUs);
this module only decides what is shared and how the work is split, so
that the run is the single-process experiment, not a different one:

* The minibatch in the config is the GLOBAL minibatch ``B``; each rank
  takes ``B / N`` of it (:func:`check_divisible` refuses other N).
* Gradients: every optimizer is ``create_multi_node_optimizer`` (the mean
  of the ranks' gradients, i.e. the gradient of the global-batch mean loss).
* BatchNormalization: every ``L.BatchNormalization`` becomes
  ``chainermn.links.MultiNodeBatchNormalization`` (``create_mnbn_model``),
  so the statistics are those of the global minibatch (cfcefd21's "batch 2,
  the smallest at which BatchNorm works" holds with 2 ranks of 1).
* Validation: ``create_multi_node_evaluator`` (the mean of the ranks' means).
* Reported training values: the mean over ranks, every iteration
  (:class:`MeanObservation`), so the log has the global-batch figures and a
  NaN on one rank is a NaN on all (NonFiniteGuard then stops every rank at
  the same iteration with the same message).
* Batch statistics inside a loss (the StarGAN's feature matching compares
  batch-mean features) go through :meth:`Distributed.batch_mean`, an
  all-gather (``chainermn.functions.allgather``) of the ranks' means.
* Only rank 0 writes the run folder (log, PlotReport PNGs, samples,
  snapshots, report): the other ranks keep only the :data:`EVERY_RANK`
  extensions.

Data order (the iterator)
-------------------------
Every rank builds the single-process iterator itself: the same
``SerialIterator`` over the whole training set with the same
``ShuffleOrderSampler`` seeded from the run seed (``data.order_rng``), and
the dataset's crop generator (``data.train.rng``) seeded the same way.
:class:`ScatteredIterator` wraps it: at every iteration each rank draws the
whole global minibatch exactly as the single process would (same indices,
same crop positions: crops are drawn from one generator in fetch order, so
every rank draws all of them to keep that generator in step) and keeps the
contiguous share ``batch[r*n//N : (r+1)*n//N]``.  The shares are disjoint
and their union, in rank order, IS the single-process minibatch at every
iteration; epoch and iteration bookkeeping are the inner iterator's, the
same on every rank and in the snapshot.  Reading a global minibatch is a
few array slices from the in-memory features, negligible next to a step.
Random draws of the StarGAN updater (targets, GP ``eps``) follow the same
rule: drawn for the global batch, this rank's rows kept
(:func:`share_stargan_batch`).
"""
import chainer
import chainer.functions as F
import chainer.links as L
import numpy as np
from chainer import training
from chainer.training import extensions

from vox.base.errors import VoxError
from vox.extensions.guards import GracefulStop, NonFiniteGuard, RandomStates
from vox.updaters.stargan import StarGANUpdater

MPI_HELP = ("--distributed needs mpi4py and an MPI: pip install -e .[mpi] "
            "(or make install-mpi), then mpiexec -n N vox run ID "
            "--distributed (make exp-ID NPROC=N)")

COMMUNICATORS = ('naive', 'flat', 'pure_nccl')


class ScatteredIterator(chainer.dataset.Iterator):
    """Rank ``rank``'s contiguous share of each minibatch of ``iterator``.

    See the module docstring: the wrapped iterator is the single-process
    one, advanced identically on every rank.  ``share`` is ``(start, stop,
    n)`` of the minibatch last returned: this rank has items
    ``[start, stop)`` of a global minibatch of ``n``.  Training minibatches
    are always full (``B``, divisible by the ranks).  A final validation
    minibatch that does not split evenly loses its last ``n % N`` items
    (:func:`validation_left_out`), so that every rank evaluates the same
    number of equal shares: the multi-node evaluator's mean of the ranks'
    means is then the single-process mean, and no rank waits for another
    in an all-gather.
    """

    def __init__(self, iterator, rank, size):
        self.iterator = iterator
        self.rank, self.size = rank, size
        self.share = None

    def __next__(self):
        while True:
            batch = self.iterator.next()
            n = len(batch) - len(batch) % self.size
            if n:
                start = n * self.rank // self.size
                stop = n * (self.rank + 1) // self.size
                self.share = (start, stop, n)
                return batch[start:stop]

    next = __next__

    @property
    def batch_size(self):
        return self.iterator.batch_size // self.size

    @property
    def epoch(self):
        return self.iterator.epoch

    @property
    def is_new_epoch(self):
        return self.iterator.is_new_epoch

    @property
    def epoch_detail(self):
        return self.iterator.epoch_detail

    @property
    def previous_epoch_detail(self):
        return self.iterator.previous_epoch_detail

    @property
    def repeat(self):
        return self.iterator.repeat

    def reset(self):
        self.iterator.reset()
        self.share = None

    def serialize(self, serializer):
        self.iterator.serialize(serializer)

    def finalize(self):
        self.iterator.finalize()


class SingleProcess:
    """Rank 0 of 1, and the iterators a one-process recipe builds (the
    ones :class:`ScatteredIterator` shares out)."""

    rank = 0
    size = 1
    comm = None
    is_writer = True

    def train_iterator(self, dataset, batch_size, order_rng):
        return chainer.iterators.SerialIterator(
            dataset, batch_size,
            order_sampler=chainer.iterators.ShuffleOrderSampler(order_rng))

    def validation_iterator(self, dataset, batch_size):
        return chainer.iterators.SerialIterator(
            dataset, batch_size, repeat=False, shuffle=False)

    def any(self, flag):
        """Whether ``flag`` is true on any rank."""
        return bool(flag)

    def broadcast(self, obj):
        return obj


#: Extensions every rank runs: they change or save the training state, or
#: take part in a collective.  Every other extension of a recipe (log,
#: plots, console, snapshots, samples) runs on rank 0 only, which writes
#: the run folder.
EVERY_RANK = (extensions.Evaluator, extensions.ExponentialShift,
              NonFiniteGuard, RandomStates, GracefulStop)


class Distributed(SingleProcess):
    """Rank ``comm.rank`` of ``comm.size`` (ChainerMN)."""

    def __init__(self, comm):
        self.comm = comm
        self.rank, self.size = comm.rank, comm.size
        self.is_writer = comm.rank == 0

    def apply(self, trainer):
        """Makes a recipe's one-process ``trainer`` this rank's part of the
        distributed run, in place (the module docstring says why each):

        * every BatchNormalization of the optimizers' models becomes
          ChainerMN's MultiNodeBatchNormalization (the same parameters and
          statistics), and every optimizer a multi-node optimizer;
        * every iterator of the updater and of the Evaluator a
          :class:`ScatteredIterator`, the Evaluator a multi-node evaluator;
        * a StarGANUpdater draws for the global minibatch and takes the
          feature-matching means over it (:func:`share_stargan_batch`);
        * training values are averaged over the ranks
          (:class:`MeanObservation`), Ctrl-C on one rank stops all
          (GracefulStop), each rank saves its own non-finite batch;
        * on ranks other than 0, only the :data:`EVERY_RANK` extensions are
          kept, and GracefulStop writes no snapshot.
        """
        updater = trainer.updater
        for name, optimizer in list(updater.get_all_optimizers().items()):
            if multi_node_batch_normalization(optimizer.target, self.comm):
                optimizer.setup(optimizer.target)  # rules for the new links
            updater._optimizers[name] = self.optimizer(optimizer)
        for name, iterator in list(updater._iterators.items()):
            updater._iterators[name] = ScatteredIterator(
                iterator, self.rank, self.size)
        if isinstance(updater, StarGANUpdater) and self.size > 1:
            share_stargan_batch(updater, self)
        # Trainer keeps its extensions in _extensions (name -> entry).
        for name, entry in list(trainer._extensions.items()):
            ext = entry.extension
            if not isinstance(ext, EVERY_RANK) and not self.is_writer:
                del trainer._extensions[name]
            elif isinstance(ext, extensions.Evaluator):
                self.evaluator(ext)
            elif isinstance(ext, GracefulStop):
                ext.agree = self.any
                if not self.is_writer:
                    ext.take_snapshot = _write_nothing
            elif isinstance(ext, NonFiniteGuard) and self.size > 1:
                stem = ext.batch_file.rsplit('.npz', 1)[0]
                ext.batch_file = f'{stem}_rank{self.rank}.npz'
                ext.all_saved = self.comm.mpi_comm.Barrier
        trainer.extend(MeanObservation(self.comm))
        return trainer

    def optimizer(self, optimizer):
        import chainermn  # optional: only with --distributed
        mn = chainermn.create_multi_node_optimizer(optimizer, self.comm)
        # ChainerMN's first update() only broadcasts rank 0's parameters
        # and skips the step (it is meant for lazily initialised links);
        # doing that broadcast now keeps iteration 1 a real update, as in
        # the single-process run.  Every vox link is fully initialised.
        mn.is_changed(mn.target)
        self.comm.bcast_data(mn.target)
        return mn

    def evaluator(self, evaluator):
        import chainermn  # optional: only with --distributed
        for name, iterator in list(evaluator._iterators.items()):
            evaluator._iterators[name] = ScatteredIterator(
                iterator, self.rank, self.size)
        return chainermn.create_multi_node_evaluator(evaluator, self.comm)

    def batch_mean(self, x):
        """Mean over the global minibatch, axis 0.  The shares are equal
        (check_divisible), so the mean of the ranks' means is the global
        mean; allgather's backward sends each rank the gradient with
        respect to its own share."""
        import chainermn  # optional: only with --distributed
        means = chainermn.functions.allgather(self.comm, F.mean(x, axis=0))
        return F.mean(F.stack(means), axis=0)

    def any(self, flag):
        return self.comm.allreduce_obj(int(bool(flag))) > 0

    def broadcast(self, obj):
        # ChainerMN's bcast_obj wants an object on rank 0 and None on the
        # others; the tuple lets rank 0 send None too.
        return self.comm.bcast_obj((obj,) if self.is_writer else None,
                                   root=0)[0]


def _write_nothing(trainer):
    """GracefulStop's snapshot on ranks other than 0."""


def multi_node_batch_normalization(link, comm):
    """ChainerMN's ``create_mnbn_model`` in place: every
    BatchNormalization under ``link`` becomes a MultiNodeBatchNormalization
    with its parameters and statistics, so that what already refers to
    ``link`` (optimizer, Evaluator, samples) trains the multi-node model.
    Returns how many were replaced."""
    import chainermn  # optional: only with --distributed
    if isinstance(link, chainer.Chain):
        children = [(n, link.__dict__[n]) for n in sorted(link._children)]
    elif isinstance(link, chainer.ChainList):
        children = list(enumerate(link._children))
    else:
        return 0
    replaced = 0
    for key, child in children:
        if isinstance(child, L.BatchNormalization):
            mnbn = chainermn.links.create_mnbn_model(child, comm)
            mnbn.name = child.name
            mnbn.to_device(child.device)
            if isinstance(link, chainer.Sequential):
                link[key] = mnbn
            elif isinstance(link, chainer.ChainList):
                link._children[key] = mnbn
            else:
                link.__dict__[key] = mnbn
            replaced += 1
        else:
            replaced += multi_node_batch_normalization(child, comm)
    return replaced


def share_stargan_batch(updater, parallel):
    """A StarGANUpdater on one rank's share of each minibatch: its random
    draws (targets, GP ``eps``) are made for the global minibatch, as one
    process makes them, and this rank's rows kept (the shares are equal:
    rank r has rows ``[r*B, (r+1)*B)`` of ``size*B``); the feature-matching
    term compares the global minibatch's means."""
    single_draw = updater.draw

    def draw(batchsize, rng=None):
        labels, eps = single_draw(batchsize * parallel.size, rng)
        start = parallel.rank * batchsize
        return labels[start:start + batchsize], eps[start:start + batchsize]

    def minibatch_means(feature_fake, feature_real):
        mean_fake = parallel.batch_mean(feature_fake)
        with chainer.no_backprop_mode():
            mean_real = parallel.batch_mean(feature_real).array
        return mean_fake, mean_real

    updater.draw = draw
    updater.minibatch_means = minibatch_means


class MeanObservation(training.Extension):
    """Replaces each training value in the observation by its mean over
    the ranks (what one process would have computed on the global batch,
    for the equal shares :class:`ScatteredIterator` gives).  Runs before
    NonFiniteGuard, so a non-finite value on one rank is seen by all.
    ``validation/`` values are averaged by the multi-node evaluator."""

    trigger = (1, 'iteration')
    priority = training.PRIORITY_WRITER + 200
    name = 'mean_observation'

    def __init__(self, comm):
        self.comm = comm

    def __call__(self, trainer):
        obs = trainer.observation
        keys = sorted(k for k in obs if not k.startswith('validation/'))
        if not keys:
            return
        local = np.array([float(chainer.backend.CpuDevice().send(
            getattr(obs[k], 'array', obs[k]))) for k in keys])
        total = self.comm.allreduce_obj(local)
        for k, v in zip(keys, total / self.comm.size):
            obs[k] = np.float32(v)


def check_divisible(batch_size, size, what='train.batch_size'):
    if batch_size % size:
        ok = [n for n in range(1, batch_size + 1) if batch_size % n == 0]
        raise VoxError(
            f'{what}={batch_size} is the global minibatch and does not split '
            f'over {size} ranks; run with NPROC (mpiexec -n) one of '
            f'{", ".join(map(str, ok))}')


def validation_left_out(n_examples, batch_size, size):
    """How many validation examples a run over ``size`` ranks leaves out
    (the last ones): the final minibatch's remainder modulo the ranks."""
    return n_examples % batch_size % size


def default_communicator(device_spec):
    return 'pure_nccl' if str(device_spec or '').startswith('@cupy') or \
        str(device_spec or '').lstrip('-').isdigit() and \
        int(device_spec) >= 0 else 'naive'


def start(device_spec, communicator=None):
    """Distributed hooks for this rank and its device spec.

    ``communicator``: ChainerMN's name; default ``pure_nccl`` on GPUs and
    ``naive`` on the CPU.  On GPUs each rank takes the GPU of its rank on
    its machine (``intra_rank``), offset by the one given.
    """
    try:
        import mpi4py.MPI  # noqa: F401  (optional: only with --distributed)
        import chainermn  # optional: only with --distributed
    except ImportError as e:
        raise VoxError(f'{MPI_HELP} ({e})') from None
    name = communicator or default_communicator(device_spec)
    if name not in COMMUNICATORS:
        raise VoxError(f'--communicator {name}: give one of '
                       f'{", ".join(COMMUNICATORS)}')
    # An exception on one rank aborts every rank (MPI_Abort) instead of
    # leaving the others waiting in an all-reduce.
    chainermn.global_except_hook.add_hook()
    try:
        comm = chainermn.create_communicator(name)
    except Exception as e:
        raise VoxError(f'--communicator {name}: {type(e).__name__}: {e}; '
                       f'on the CPU use naive') from None
    device = device_spec
    if name == 'pure_nccl' or str(device_spec or '').startswith('@cupy'):
        base = int(str(device_spec).split(':')[1]) \
            if ':' in str(device_spec) else 0
        device = f'@cupy:{base + comm.intra_rank}'
    return Distributed(comm), device, name
