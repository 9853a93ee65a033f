"""Extensions that make runs survive: exact resume, NaN stops, Ctrl-C.

- ``RandomStates`` puts the data pipeline's generators (crop positions,
  shuffle order) into every snapshot, so a resumed run draws exactly what
  an uninterrupted one would have.  Models' own generators (the StarGAN
  updater's) serialise themselves.
- ``NonFiniteGuard`` is FailOnNonNumber with a diagnosis: it runs before
  every other extension, names the non-finite loss term (or parameter) and
  the iteration, saves the batch that produced it, and stops the run before
  a snapshot of the broken state can be written, so the newest snapshot is
  the last good one.
- ``GracefulStop`` turns the first Ctrl-C (SIGINT) or SIGTERM into "finish
  this iteration, write a snapshot, stop"; a second Ctrl-C interrupts at once.
"""
import signal

import chainer
import numpy as np
from chainer import training

from vox.base.errors import VoxError
from vox.base.labels import GROUPS
from vox.base.random_state import serialize_random_state


class NonFiniteError(VoxError):
    pass


class StopRequested(Exception):
    """Raised after the stop snapshot is written; ``signum`` is the signal
    that asked for it (the runner exits with 128 + signum)."""

    def __init__(self, message, signum):
        super().__init__(message)
        self.signum = signum


class RememberingConverter:
    """Wraps an updater's converter and keeps the last batch it converted."""

    def __init__(self, converter,
                 batch_file='nonfinite_batch_iter_{iteration}.npz'):
        self.converter = converter
        self.batch_file = batch_file  # each rank its own, when distributed
        self.last_batch = None

    def __call__(self, batch, device=None):
        self.last_batch = batch
        return self.converter(batch, device)


class RandomStates(training.Extension):
    trigger = (1, 'iteration')
    priority = training.PRIORITY_READER
    name = 'random_states'

    def __init__(self, states):
        self.states = states  # {name: numpy.random.RandomState}

    def __call__(self, trainer):
        pass

    def serialize(self, serializer):
        for name, rng in self.states.items():
            serialize_random_state(serializer[name], rng, gauss_key='gauss')


def _save_batch(path, batch):
    """One array per field: x (B, 1, T, F), speaker, birthplace, sex."""
    batch = list(batch or [])
    fields = zip(*batch) if batch and isinstance(batch[0], tuple) \
        else [batch]
    names = ('x',) + GROUPS
    np.savez(path, **{names[i] if i < len(names) else f'field{i}':
                      np.stack([np.asarray(v) for v in values])
                      for i, values in enumerate(fields)})


def _to_host(value):
    return chainer.backend.CpuDevice().send(getattr(value, 'array', value))


def _all_finite(values):
    """Whether every value is finite, with one device-to-host transfer per
    GPU rather than one per value: on CuPy each ``bool()`` is a
    synchronisation, and the guard looks at every reported term and every
    parameter at every iteration (about 80 for a StarGAN).  On NumPy the
    same check as before."""
    on_gpu = {}
    for value in values:
        a = getattr(value, 'array', value)
        xp = chainer.backend.get_array_module(a)
        if xp is np:
            if not np.all(np.isfinite(a)):
                return False
        else:
            on_gpu.setdefault(chainer.backend.get_device_from_array(a),
                              []).append(a)
    for device, arrays in on_gpu.items():
        with chainer.using_device(device):
            xp = device.xp
            flags = xp.stack([xp.isfinite(a).all() for a in arrays])
            if not bool(flags.all()):
                return False
    return True


def _non_finite_terms(observation):
    if _all_finite(observation.values()):
        return None
    # Terms before totals, so the message shows where it started.
    keys = sorted(observation, key=lambda k: (k.endswith('/loss'), k))
    broken = [k for k in keys if not np.all(np.isfinite(
        _to_host(observation[k])))]
    return f"non-finite {', '.join(broken)}" if broken else None


def _non_finite_parameter(optimizers):
    if _all_finite(param.array for opt in optimizers.values()
                   for param in opt.target.params()
                   if param.array is not None):
        return None
    for name, opt in sorted(optimizers.items()):
        for path, param in opt.target.namedparams():
            if param.array is None:
                continue
            xp = chainer.backend.get_array_module(param.array)
            if not bool(xp.isfinite(param.array).all()):
                return f'parameter {name}{path} became non-finite'
    return None


def _nothing():
    pass


class NonFiniteGuard(training.Extension):
    trigger = (1, 'iteration')
    priority = training.PRIORITY_WRITER + 100  # before snapshots and logs
    name = 'non_finite_guard'

    def __init__(self, converter,
                 batch_file='nonfinite_batch_iter_{iteration}.npz'):
        self.converter = converter
        self.batch_file = batch_file  # each rank its own, when distributed
        # Distributed runs: every rank sees the same non-finite values
        # (MeanObservation), and the first rank to stop ends them all, so
        # each waits here until every rank has saved its batch.
        self.all_saved = _nothing

    def __call__(self, trainer):
        iteration = trainer.updater.iteration
        bad = _non_finite_terms(trainer.observation) or \
            _non_finite_parameter(trainer.updater.get_all_optimizers())
        if bad is None:
            return
        saved = f'{trainer.out}/' + self.batch_file.format(
            iteration=iteration)
        _save_batch(saved, self.converter.last_batch)
        self.all_saved()
        raise NonFiniteError(
            f'{bad} at iteration {iteration}; the run stopped before '
            f'snapshotting it, so the newest snapshot is the last good one; '
            f'the batch is saved in {saved}')


class GracefulStop(training.Extension):
    trigger = (1, 'iteration')
    priority = -1000  # after everything else this iteration
    name = 'graceful_stop'

    def __init__(self, take_snapshot, agree=bool):
        self.take_snapshot = take_snapshot
        # Distributed runs: whether any rank was asked (every rank stops
        # at the same iteration, or one would wait for the others forever).
        self.agree = agree
        self.requested = None
        self._previous = {}

    def initialize(self, trainer):
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._request)

    def _request(self, signum, frame):
        self.requested = signal.Signals(signum)
        # A second Ctrl-C interrupts at once.
        signal.signal(signal.SIGINT, signal.default_int_handler)

    def __call__(self, trainer):
        if self.agree(self.requested):
            # A rank that was not signalled itself stops as asked: SIGTERM.
            requested = self.requested or signal.SIGTERM
            self.take_snapshot(trainer)
            raise StopRequested(
                f'{requested.name}: stopped at iteration '
                f'{trainer.updater.iteration}, snapshot written',
                int(requested))

    def finalize(self):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}
