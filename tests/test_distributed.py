"""Distributed runs: 2 MPI ranks on the CPU against one process.

Each experiment's ``test`` profile is run twice from the same seed, as one
process and as ``mpiexec -n 2 ... --distributed``, logging every iteration.
The cfcefd21/54314b33/bc7db4a2 test profiles' global minibatch of 5 does
not split over 2 ranks, so for those the test uses the test profile at 6
(a derived config in the temporary folder; the repository's profiles stay
as they are).

Tolerance (float32).  The two runs add the same numbers in a different
order (two half-batch means averaged, gradients all-reduced), so they
differ by float32 rounding (about 1e-7 relative) at the first step.
RMSprop then amplifies rounding: a parameter whose true gradient is zero
or nearly so (a convolution's bias just before a BatchNormalization, which
the normalisation cancels) is moved by ``lr * g / sqrt(ms)`` with ``g``
rounding noise, a full-size step in a random direction.  Measured on these
profiles, the log values of one process and of 2 ranks differ by
at most 1.2e-5 of each value's largest magnitude over the run in the first
two iterations, and 3e-3 after two epochs; a one-process run against a 1-rank
``--distributed`` one (the same data, only ChainerMN's E[x^2]-E[x]^2
variance instead of NumPy's) drifts as much.  Asserted: 1e-4 for the first
two iterations, 1e-2 for every iteration, per log key; accuracies (a
prediction flipping moves them by 1/B) only in the first two.  The
equality runs are one epoch long.  Parameters at its end, per model: the two
runs end closer to each other than 15 % of the distance one travelled from
the initial parameters, ``||a - b|| <= 0.15 ||a - a0||`` (measured <= 0.058,
bc7db4a2), leaving out the biases BatchNorm cancels.  Epoch
and iteration bookkeeping must be identical.

54314b33 is the exception (its DECISIONS.md, "Distributed runs"): the
gradient penalty's second-order terms through the critic's multi-node
BatchNorm are rank-local, so only iteration 1's training values (computed
before any update) are held to 1e-4, and the rest to 5e-2 (measured 1.3e-2).

Survival (2 ranks, cfcefd21): SIGKILL of rank 1 ends the job; rerunning
the same command resumes from the newest snapshot and the log is the
uninterrupted 2-rank run's, value for value; a NaN in rank 1's data stops
both ranks with NonFiniteGuard's message.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip('mpi4py', reason='pip install -e .[mpi]')

from vox.config import load_config  # noqa: E402
from vox.training.registry import trainer_module  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MPIEXEC = shutil.which('mpiexec', path=str(Path(sys.executable).parent)) \
    or shutil.which('mpiexec')
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason='no mpiexec')

IDS = ['e19098ab', 'bc7db4a2', '54314b33', 'cfcefd21']
EARLY, EARLY_TOL, LATE_TOL = 2, 1e-4, 1e-2
#: 54314b33: not held equal (its DECISIONS.md); only "closer to each other
#: than to the start".  Measured: generator 0.29, critic 0.058.
PARAM_TOL = {None: 0.15, '54314b33': 1.0}
GP_THROUGH_BN = {'54314b33': 5e-2}
TIMEOUT = 600  # a hang guard, not a timing assert


def derived_config(exp_id, tmp_path, epochs=None):
    """The test profile, at a global minibatch that splits over 2 ranks,
    logging every iteration (and ``epochs`` long, if given)."""
    raw = yaml.safe_load((REPO / 'experiments' / exp_id /
                          'config.yaml').read_text())
    test = raw['profiles']['test']
    train = test.setdefault('train', {})
    batch = train.get('batch_size', raw['train']['batch_size'])
    if batch % 2:
        train['batch_size'] = batch + 1
    if epochs:
        train['epochs'] = epochs
    test.setdefault('report', {})['log_every'] = [1, 'iteration']
    path = tmp_path / 'config' / exp_id / 'config.yaml'
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def vox_run(config, results, run, ranks=None):
    cmd = [sys.executable, '-m', 'vox.cli', 'run', str(config), '--profile',
           'test', '--results', str(results), '--run', run]
    if ranks:
        cmd = [MPIEXEC, '-n', str(ranks)] + cmd + ['--distributed']
    return cmd


def run_ok(cmd):
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    return out.stdout


def training_log(run_dir):
    log = json.loads((run_dir / 'log').read_text())
    for entry in log:
        entry.pop('elapsed_time')
    return log


def bn_cancelled(key, keys):
    """A convolution's bias right before a BatchNormalization (or its
    RMSprop state): its gradient is zero in exact arithmetic."""
    name = key.split('/')
    if name[-1] == 'ms':
        name = name[:-1]
    if name[-1] != 'b' or len(name) < 3:
        return False
    block = '/'.join(name[:-2]).replace('updater/optimizer:',
                                        'updater/model:')
    return f'{block}/bn/gamma' in keys


def tolerance(key, iteration, gp_through_bn):
    if gp_through_bn:  # exact only before the first update
        early = iteration == 1 and not key.startswith('validation/')
        return EARLY_TOL if early else gp_through_bn
    return EARLY_TOL if iteration <= EARLY else LATE_TOL


def compare_logs(one, two, gp_through_bn=None):
    """Per key and iteration, |one - two| / (the key's largest |value| in
    ``one``) within :func:`tolerance`; bookkeeping and keys identical."""
    assert [(e['epoch'], e['iteration']) for e in one] == \
        [(e['epoch'], e['iteration']) for e in two]
    for a, b in zip(one, two):
        assert sorted(a) == sorted(b), a['iteration']
    for key in sorted({k for e in one for k in e} - {'epoch', 'iteration'}):
        scale = max(abs(e[key]) for e in one if key in e) or 1.0
        for a, b in zip(one, two):
            if key not in a:
                continue
            tol = tolerance(key, a['iteration'], gp_through_bn)
            if '/acc_' in key and tol != EARLY_TOL:
                continue  # one flipped prediction moves it by 1/B
            d = abs(a[key] - b[key]) / scale
            assert d <= tol, (key, a['iteration'], a[key], b[key], d)


def parameter_drift(run_dir, a, b):
    """Per model, ||a - b|| / ||a - initial|| over its parameters (the
    biases BatchNorm cancels left out): how far apart the two runs ended,
    against how far one travelled.  The initial parameters are rebuilt
    from the seed, as the runner builds them."""
    config = load_config(str(run_dir.parent.parent / 'config' /
                             run_dir.parent.name / 'config.yaml'), 'test')
    n_classes = tuple(yaml.safe_load((run_dir / 'config.yaml').read_text())
                      ['corpus']['n_classes'])
    np.random.seed(config.seed)
    module = trainer_module(config.kind)
    models = module.build_models(config, n_classes)
    out = {}
    for name, link in models.items():
        apart = travelled = 0.0
        for path, param in link.namedparams():
            key = module.SNAPSHOT_PATHS[name] + path.lstrip('/')
            if bn_cancelled(key, a.files):
                continue
            x = a[key].astype(np.float64)
            apart += np.sum((x - b[key]) ** 2)
            travelled += np.sum((x - param.array) ** 2)
        out[name] = float(np.sqrt(apart / travelled))
    return out


def final_snapshot(run_dir):
    found = sorted(run_dir.glob('snapshot_iter_*'),
                   key=lambda p: int(p.name.rsplit('_', 1)[1]))
    return np.load(found[-1]), found[-1].name


@pytest.mark.parametrize('exp_id', IDS)
def test_two_ranks_train_as_one_process(exp_id, tmp_path):
    config = derived_config(exp_id, tmp_path, epochs=1)
    run_ok(vox_run(config, tmp_path, 'one'))
    stdout = run_ok(vox_run(config, tmp_path, 'two', ranks=2))
    assert 'vox: distributed: 2 ranks, ChainerMN communicator naive' \
        in stdout
    assert ('rank-local second-order terms' in stdout) == \
        (exp_id in GP_THROUGH_BN)
    one, two = tmp_path / exp_id / 'one', tmp_path / exp_id / 'two'
    compare_logs(training_log(one), training_log(two),
                 GP_THROUGH_BN.get(exp_id))
    a, name_a = final_snapshot(one)
    b, name_b = final_snapshot(two)
    assert name_a == name_b
    for key in a.files:
        if key.startswith('updater/iterator:') or 'epoch' in key or \
                key.endswith('/iteration'):
            assert np.array_equal(a[key], b[key]), key  # bookkeeping
    drift = parameter_drift(one, a, b)
    print(f'{exp_id}: |one - two| / |one - initial| = {drift}')
    for name, ratio in drift.items():
        assert ratio <= PARAM_TOL.get(exp_id, PARAM_TOL[None]), (name, ratio)
    # Only rank 0 wrote the folder: one log, one report, one set of PNGs.
    assert (two / 'report.html').exists()
    assert not list(two.glob('nonfinite_*'))


def test_refuses_a_minibatch_that_does_not_split(tmp_path):
    out = subprocess.run(
        [MPIEXEC, '-n', '2', sys.executable, '-m', 'vox.cli', 'run',
         'cfcefd21', '--profile', 'test', '--distributed', '--results',
         str(tmp_path)], cwd=REPO, capture_output=True, text=True,
        timeout=TIMEOUT)
    assert out.returncode != 0
    assert not list(tmp_path.iterdir())  # refused before any folder
    assert 'train.batch_size=5 is the global minibatch and does not split ' \
        'over 2 ranks; run with NPROC (mpiexec -n) one of 1, 5' in out.stderr


def test_without_mpi4py_says_what_to_install(monkeypatch):
    from vox.base.errors import VoxError
    from vox.training import distributed
    monkeypatch.setitem(sys.modules, 'mpi4py', None)
    monkeypatch.setitem(sys.modules, 'mpi4py.MPI', None)
    with pytest.raises(VoxError, match=r'pip install -e \.\[mpi\]'):
        distributed.start('@numpy')


def test_shares_are_the_single_process_minibatch():
    from vox.training.distributed import ScatteredIterator, SingleProcess
    data = list(range(23))

    def make(rank=None, size=2, repeat=True):
        rng = np.random.RandomState(0)
        if repeat:
            it = SingleProcess().train_iterator(data, 6, rng)
        else:
            it = SingleProcess().validation_iterator(data, 6)
        return it if rank is None else ScatteredIterator(it, rank, size)
    single, ranks = make(), [make(0), make(1)]
    for _ in range(12):  # across epoch ends (23 is not a multiple of 6)
        batch = single.next()
        shares = [r.next() for r in ranks]
        assert shares[0] + shares[1] == batch
        assert len(shares[0]) == len(shares[1]) == 3
        for r in ranks:
            assert (r.epoch, r.is_new_epoch, r.epoch_detail) == \
                (single.epoch, single.is_new_epoch, single.epoch_detail)
    # Validation: 23 = 3 x 6 + 5; the last batch loses 1 (5 % 2).
    shares = [list(make(r, repeat=False)) for r in (0, 1)]
    union = [x for b0, b1 in zip(*shares) for x in b0 + b1]
    assert union == data[:22]


# ---------------------------------------------------------------------------
# Survival

def rank_pids(proc):
    """{rank: pid} of the python ranks under an mpiexec process."""
    found, todo = {}, [proc.pid]
    while todo:
        pid = todo.pop()
        try:
            children = Path(f'/proc/{pid}/task/{pid}/children').read_text()
        except OSError:
            continue
        for child in map(int, children.split()):
            todo.append(child)
            try:
                env = Path(f'/proc/{child}/environ').read_bytes()
                cmd = Path(f'/proc/{child}/cmdline').read_bytes()
            except OSError:
                continue
            if b'vox.cli' in cmd:
                for var in env.split(b'\0'):
                    if var.startswith(b'PMI_RANK='):
                        found[int(var[9:])] = child
    return found


@pytest.fixture(scope='module')
def survival(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('survival')
    config = derived_config('cfcefd21', tmp)
    run_ok(vox_run(config, tmp, 'whole', ranks=2))
    return tmp, config


def test_kill_9_of_one_rank_ends_the_job_and_rerun_resumes(survival):
    tmp, config = survival
    cmd = vox_run(config, tmp, 'killed', ranks=2)
    with subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        for line in proc.stdout:
            if line.startswith('vox: wrote snapshot_iter_'):
                pids = rank_pids(proc)
                assert sorted(pids) == [0, 1], pids
                os.kill(pids[1], signal.SIGKILL)
                break
        proc.stdout.read()
        status = proc.wait(timeout=TIMEOUT)  # no hang: the job ends
    assert status != 0
    for pid in pids.values():
        assert not Path(f'/proc/{pid}').exists() or \
            'Z' in Path(f'/proc/{pid}/stat').read_text().split()[2]
    run_dir = tmp / 'cfcefd21' / 'killed'
    kept = sorted(run_dir.glob('snapshot_iter_*'))
    assert kept and not (run_dir / 'summary.json').exists()
    stdout = run_ok(cmd)
    assert f'vox: resumed from {kept[-1].name}' in stdout
    assert training_log(run_dir) == \
        training_log(tmp / 'cfcefd21' / 'whole')


NAN_ON_RANK_1 = '''
import sys
from mpi4py import MPI
from vox.data.dataset import SpectrogramCropDataset
import numpy as np
original = SpectrogramCropDataset.get_example
calls = [0]
def corrupt(self, i):
    example = original(self, i)
    if self.train and MPI.COMM_WORLD.rank == 1:
        calls[0] += 1
        if calls[0] > {after}:
            example = (example[0] * np.nan,) + example[1:]
    return example
SpectrogramCropDataset.get_example = corrupt
from vox.cli import main
sys.exit(main(sys.argv[1:]))
'''


def test_nan_on_one_rank_stops_every_rank(survival, tmp_path):
    tmp, config = survival
    after = 6 * 3  # clean for 3 iterations (every rank reads all 6)
    script = tmp_path / 'nan_on_rank_1.py'
    script.write_text(NAN_ON_RANK_1.replace('{after}', str(after)))
    cmd = vox_run(config, tmp_path, 'nan', ranks=2)
    cmd[cmd.index('-m'):cmd.index('vox.cli') + 1] = [str(script)]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.returncode != 0
    assert 'non-finite dis/loss_' in out.stderr, out.stderr[-3000:]
    assert 'at iteration 4;' in out.stderr
    run_dir = tmp_path / 'cfcefd21' / 'nan'
    assert not list(run_dir.glob('snapshot_iter_*'))
    assert (run_dir / 'nonfinite_batch_iter_4_rank1.npz').exists()
