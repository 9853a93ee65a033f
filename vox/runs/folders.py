"""Run folders: where a run writes, who may write there, what it records.

``<results>/<ID>/<run>/`` is chosen here (a new timestamped folder, a named
one, or the unfinished run to resume), created and proved writable, locked
for the process's lifetime, checked for disk space, and given the files
every run folder needs to be rerun: ``config.yaml`` (the resolved config),
``command.txt`` and ``environment.json``.  Used by the Trainer run loop
(vox/runs/runner.py) and the blur-mask runs (vox/blurmask/run.py).

Where a run may be written, one rule: ``<results>/<ID>/<RUN>`` with ID and
RUN single folder names (so never outside the results root, nor at its
top), into a folder that is new, empty or already a vox run
(:func:`is_run_folder`); RESUME= continues only in a vox run folder.
"""
import datetime
import fcntl
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

import yaml

from vox import cpu_fast
from vox.base import snapshot_name
from vox.base.errors import VoxError
from vox.base.files import MARKER, foreign_files, made_by
from vox.base.paths import REPO, git_revision
from vox.config import load_yaml, ExperimentConfig, from_dict, to_dict


def environment(device):
    """What environment.json records: Python, platform, packages, git."""
    versions = {}
    for pkg in ('chainer', 'numpy', 'scipy', 'pyworld', 'soundfile',
                'matplotlib', 'pyyaml', 'cupy-cuda12x', 'cupy-cuda13x'):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    return {'python': platform.python_version(), 'platform':
            platform.platform(), 'processor': platform.processor(),
            'cpu_count': os.cpu_count(), 'device': str(device),
            'packages': versions, 'git_revision': git_revision(),
            # vox's CPU kernels in place of Chainer's (the run installs
            # them; VOX_CHAINER_CPU_FAST=0: Chainer's own)
            'chainer_cpu_fast': cpu_fast.installed()}


def results_root(results=None):
    """RESULTS=dir, else $VOX_RESULTS, else results/ in the checkout."""
    return Path(results or os.environ.get('VOX_RESULTS', REPO / 'results'))


#: What :data:`vox.base.files.MARKER` says in a run folder.
RUN_MAKER = 'vox run'

#: The files every run folder holds (write_provenance): a folder with all
#: three, or with a config.yaml and a Trainer snapshot, is a vox run even
#: without the marker (one written before vox wrote it).
RUN_FILES = ('config.yaml', 'command.txt', 'environment.json')


def is_run_folder(folder):
    """Whether ``folder`` is one vox made for a run (or recognisably one)."""
    folder = Path(folder)
    if made_by(folder) == RUN_MAKER:
        return True
    if not (folder / 'config.yaml').is_file():
        return False
    return all((folder / name).is_file() for name in RUN_FILES) or \
        any(p.is_file() for p in folder.glob(snapshot_name.GLOB))


def check_name(name, what, example):
    """Refuses a ``name`` that is not one folder name: a run is written at
    ``<results>/<ID>/<RUN>``, never outside the results root or at its top."""
    name = str(name)
    if name in ('', '.', '..') or '/' in name or '\0' in name \
            or len(os.fsencode(name)) > 200:
        raise VoxError(f'{what} {name!r}: not a folder name (one name of at '
                       f'most 200 bytes, no "/", not "." or ".."); nothing '
                       f'was written; give e.g. {example}')
    return name


def run_base(results, exp_id):
    """``<results>/<ID>``, the ID checked as one folder name."""
    check_name(exp_id, 'experiment id', 'the id: of experiments/<ID>/'
               'config.yaml')
    return results_root(results) / exp_id


def run_folder(results, exp_id, run_name, profile):
    """``<results>/<ID>/<RUN>``, or a new timestamped folder without RUN."""
    base = run_base(results, exp_id)
    if run_name is None:
        return new_run_dir(base, profile)
    return base / check_name(run_name, 'RUN=', 'RUN=my-run')


def _profile_of(run_dir):
    """The profile recorded in the folder's config.yaml, or None when it
    cannot be read (such a run is not resumed, and does not stop others)."""
    try:
        raw = load_yaml(run_dir / 'config.yaml')
    except VoxError:
        return None
    return raw.get('profile') if isinstance(raw, dict) else None


def unfinished_runs(results, exp_id, profile):
    """Run folders of this ID and profile with snapshots but no summary."""
    runs = []
    for d in run_base(results, exp_id).glob('*'):
        if d.is_dir() and not (d / 'summary.json').exists() \
                and any(d.glob(snapshot_name.GLOB)) and is_run_folder(d):
            recorded = _profile_of(d)
            if recorded == (profile or 'faithful'):
                runs.append(d)
            elif recorded is None:
                print(f'vox: warning: {d}/config.yaml cannot be read; that '
                      f'unfinished run is not resumed', file=sys.stderr)
    return sorted(runs, key=lambda d: d.stat().st_mtime)


def choose_run_dir(results, exp_id, run_name, profile, fresh=False,
                   resume=None):
    """(run folder, snapshot to resume from or None, what happens, in words).

    RESUME=snapshot continues in that snapshot's folder; RUN=name uses (and
    resumes) that folder; otherwise the newest unfinished run of the same
    ID and profile is resumed unless FRESH=1; a new folder gets a timestamp.
    """
    if resume:
        return resume_from(resume, run_name, fresh)
    run_dir = run_folder(results, exp_id, run_name, profile)
    if run_name is not None:
        if fresh and foreign_files(run_dir):
            raise VoxError(f'RUN={run_name} with FRESH=1: {run_dir} already '
                           f'holds a run and FRESH=1 asks for a new one; '
                           f'nothing was written; give a new RUN=name, or '
                           f'drop FRESH=1 to resume it')
        if any(run_dir.glob(snapshot_name.GLOB)):
            return run_dir, None, f'resuming run {run_name}'
        return run_dir, None, f'starting run {run_name}'
    if not fresh:
        previous = unfinished_runs(results, exp_id, profile)
        if previous:
            return previous[-1], None, (
                f'resuming the unfinished run {previous[-1].name} '
                f'(FRESH=1 starts a new one)')
    return run_dir, None, f'starting run {run_dir.name}'


def resume_from(resume, run_name, fresh):
    """RESUME=snapshot: continues in the snapshot's own run folder, so a
    RUN= naming another folder, or FRESH=1, would be ignored: refused."""
    snapshot = Path(resume)
    if not snapshot.is_file():
        raise VoxError(f'RESUME={resume}: no such snapshot file')
    if fresh:
        raise VoxError(f'RESUME={resume} with FRESH=1: RESUME= continues a '
                       f'run, FRESH=1 starts a new one; give one of them')
    if run_name is not None and run_name != snapshot.parent.name:
        raise VoxError(f'RESUME={resume} continues in {snapshot.parent}, '
                       f'not RUN={run_name}; drop RUN= (or RESUME= to '
                       f'start or resume RUN={run_name})')
    if not is_run_folder(snapshot.parent):
        raise VoxError(f'RESUME={resume}: {snapshot.parent} is not a vox '
                       f'run folder (no {", ".join(RUN_FILES)}); nothing '
                       f'was written; give a {snapshot_name.GLOB} file of a run')
    return snapshot.parent, snapshot, f'resuming from {snapshot}'


def new_run_dir(base, profile):
    """``base/<timestamp>[-profile][-n]``: a folder no other run has."""
    stamp = datetime.datetime.now().strftime('%Y%m%d-%H%M%S')
    name = stamp if profile in (None, 'faithful') else f'{stamp}-{profile}'
    run_dir, n = base / name, 1
    while run_dir.exists():  # two runs never share a folder
        n += 1
        run_dir = base / f'{name}-{n}'
    return run_dir


def make_run_dir(run_dir):
    """Creates the folder and proves it is writable before any training;
    refuses a folder that holds anything but a vox run (a user's folder
    given as RUN=) before writing a byte into it.

    Touches nothing a running job owns: the probe has a name of its own,
    and leftovers are removed only under the lock (:func:`remove_leftovers`).
    """
    if run_dir.is_dir() and foreign_files(run_dir) and \
            not is_run_folder(run_dir):
        raise VoxError(f'{run_dir} is not a vox run folder (it holds '
                       f'{", ".join(foreign_files(run_dir))}); nothing was '
                       f'written; give a new RUN=name')
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not foreign_files(run_dir):  # new or empty: vox's from now on
            (run_dir / MARKER).write_text(RUN_MAKER + '\n')
        fd, probe = tempfile.mkstemp(dir=run_dir, prefix='.write-test-')
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise VoxError(f'cannot write results into {run_dir}: {e.strerror}; '
                       f'choose another folder with RESULTS=dir') from None
    return run_dir


def lock_run_dir(run_dir):
    """Holds an exclusive lock for the process's lifetime."""
    try:
        handle = open(run_dir / '.lock', 'a')
    except OSError as e:
        raise VoxError(f'cannot write results into {run_dir}: {e.strerror}; '
                       f'choose another folder with RESULTS=dir') from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise VoxError(f'{run_dir} is in use by another vox process; wait '
                       f'for it or give another RUN=name') from None
    return handle


def remove_leftovers(run_dir):
    """Snapshot writes cut by a kill; only ever called under the lock (a
    second launch must not delete the running job's snapshot in progress)."""
    for leftover in run_dir.glob(snapshot_name.TMP_GLOB):
        shutil.rmtree(leftover, ignore_errors=True)


#: What a run folder holds before its first iteration: nothing worth keeping.
BEFORE_TRAINING = {MARKER, '.lock', 'config.yaml', 'command.txt', 'environment.json',
                   'labels.json', 'speakers.json'}


def remove_if_untrained(created):
    """Removes the folders this process created (innermost first) when they
    hold nothing but what is written before training."""
    for folder in created:
        try:
            names = {p.name for p in folder.iterdir()}
        except OSError:
            return
        if not names <= BEFORE_TRAINING:
            return
        shutil.rmtree(folder, ignore_errors=True)


def check_recorded_config(run_dir, config):
    """Refuses to continue a run folder recorded under another config."""
    recorded = run_dir / 'config.yaml'
    if not recorded.exists():
        return
    try:
        raw = load_yaml(recorded) or {}
        if not isinstance(raw, dict):
            raise VoxError('not a mapping')
        raw.pop('corpus', None)  # run facts written beside the config
        old = to_dict(from_dict(ExperimentConfig, raw, str(recorded)))
    except VoxError as e:
        raise VoxError(f'{recorded}: unreadable ({e}); give a new RUN=name '
                       f'for a new run') from None
    new = to_dict(config)
    if old != new:
        keys = differing_keys(old, new)
        raise VoxError(
            f'{run_dir} holds a run of {old["id"]} ({old["profile"]}), not '
            f'{new["id"]} ({new["profile"]}) as configured now (differs in '
            f'{", ".join(keys[:5])}{" ..." if len(keys) > 5 else ""}); '
            f'nothing was written; give a new RUN=name for a new run')


def differing_keys(a, b, prefix=''):
    keys = []
    for k in sorted(set(a) | set(b), key=str):
        x, y = a.get(k), b.get(k)
        if isinstance(x, dict) and isinstance(y, dict):
            keys += differing_keys(x, y, f'{prefix}{k}.')
        elif x != y:
            keys.append(f'{prefix}{k}')
    return keys


def check_recorded_labels(run_dir, labels):
    """Refuses to continue a run on a corpus with other classes."""
    recorded = run_dir / 'labels.json'
    if not recorded.exists():
        return
    try:
        with open(recorded) as f:
            old = json.load(f)
        sizes = tuple(len(v) for v in old.values())
    except (OSError, UnicodeDecodeError, ValueError, TypeError,
            AttributeError) as e:
        raise VoxError(f'{recorded}: unreadable ({e}); give a new RUN=name '
                       f'for a new run') from None
    if old != labels.names:
        raise VoxError(
            f'{run_dir} was trained on a corpus with classes '
            f'{sizes}, this corpus has '
            f'{labels.n_classes} (or other names); nothing was written; '
            f'give the run\'s corpus (see its config.yaml), or a new '
            f'RUN=name for a new run')


def check_disk_space(run_dir, trainer, snapshots_kept):
    """Refuses to start when the snapshots cannot fit on the disk."""
    n_bytes = 0
    for opt in trainer.updater.get_all_optimizers().values():
        n_bytes += sum(p.size * p.dtype.itemsize
                       for p in opt.target.params() if p.array is not None)
    # parameters + RMSprop state + BatchNorm statistics, per snapshot
    needed = 2.2 * n_bytes * (snapshots_kept + 1) + 50 * 2 ** 20
    free = shutil.disk_usage(run_dir).free
    if free < needed:
        raise VoxError(
            f'{run_dir}: {free / 2 ** 20:.0f} MiB free but the snapshots '
            f'need about {needed / 2 ** 20:.0f} MiB; free some space or use '
            f'RESULTS=dir on a larger disk')


def write_provenance(run_dir, resolved, device, argv):
    """config.yaml (the resolved config, as a dict), command.txt and
    environment.json: what every run folder needs to be rerun."""
    with open(run_dir / 'config.yaml', 'w') as f:
        yaml.safe_dump(resolved, f, sort_keys=False)
    (run_dir / 'command.txt').write_text(
        ' '.join(shlex.quote(a) for a in argv) + '\n')
    with open(run_dir / 'environment.json', 'w') as f:
        json.dump(environment(device), f, indent=2)


def write_run_info(run_dir, config, data, device, argv):
    resolved = to_dict(config)
    resolved['corpus'] = {'manifest': str(data.manifest),
                          'n_classes': list(data.labels.n_classes),
                          'train_crops': len(data.train),
                          'validation_crops': len(data.validation)}
    write_provenance(run_dir, resolved, device, argv)
    with open(run_dir / 'labels.json', 'w') as f:
        json.dump(data.labels.names, f, indent=1)
