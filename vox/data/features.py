"""Feature extraction with an on-disk cache keyed by the front end.

One ``.npz`` per utterance holds the raw 256-bin magnitude (T x 256,
float32) and the voiced-frame mask.  The key hashes the front-end
parameters with the file's path, size and mtime, so changing either the
front end or the file rebuilds exactly what changed.  Writes go to a temp
file renamed into place: an interrupted run never leaves half a file.
"""
import dataclasses
import fcntl
import hashlib
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from vox.base.leftovers import remove_abandoned
from vox.base.progress import progress
from vox.data import audio


@dataclasses.dataclass
class Features:
    utterance: object           # vox.data.corpus.manifest.Utterance
    magnitude: np.ndarray       # (T, 256) float32, raw [0, inf)
    voiced: np.ndarray          # (T,) bool


def _key(path):
    st = os.stat(path)
    blob = json.dumps([audio.FRONT_END, str(Path(path).resolve()),
                       st.st_size, st.st_mtime_ns], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def extract(path):
    """(magnitude, voiced, notes); bad audio raises AudioError (the checks
    of :func:`vox.data.audio.load_checked`, the one audio reader)."""
    wave, notes = audio.load_checked(path)
    return audio.magnitude(wave), audio.voiced_frames(wave), notes


def cache_file(cache_dir, path):
    return Path(cache_dir) / 'features' / f'{_key(path)}.npz'


def _atomic_savez(path, **arrays):
    """Byte-reproducible .npz (fixed zip timestamps) written atomically.  The
    writer holds an flock on its temp file until the rename, so a temp file
    nobody holds locked is left over from a killed writer and is removed by
    :func:`clean_stale_temps`."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f'.{os.getpid()}.',
                               suffix='.tmp')
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with zipfile.ZipFile(tmp, 'w', zipfile.ZIP_STORED) as z:
            for name in sorted(arrays):
                info = zipfile.ZipInfo(name + '.npy', (1980, 1, 1, 0, 0, 0))
                with z.open(info, 'w', force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(arrays[name]),
                                              allow_pickle=False)
        os.replace(tmp, path)
    except OSError as e:  # a full disk: name the cache, not the caller's
        raise OSError(e.errno, e.strerror or str(e), str(path)) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
        os.close(fd)


def save_entry(file, mag, voiced, notes):
    _atomic_savez(file, magnitude=mag, voiced=voiced,
                  notes=np.array(list(notes), dtype=str))


def clean_stale_temps(feature_dir):
    """Remove temp files left by killed writers: a live writer holds an
    flock on its temp file (:func:`_atomic_savez`)."""
    remove_abandoned(Path(feature_dir).glob('.*.tmp'), os.unlink)


def read_entry(file):
    """(magnitude, voiced) of a cache entry, or None when it is damaged (cut
    by a crash or a full disk, changed by hand): the entry is then a cache
    miss, recomputed and rewritten, and the user is told."""
    try:
        # The file opened here, not by np.load: NumPy leaves its own file
        # open when the zip in it does not read.
        with open(file, 'rb') as f, np.load(f) as z:
            mag, voiced = z['magnitude'], z['voiced']
        if mag.ndim == 2 and mag.shape[1] == audio.N_BINS and \
                voiced.shape == mag.shape[:1]:
            return mag, voiced
        problem = f'arrays of shape {mag.shape} and {voiced.shape}'
    except Exception as e:  # not a zip, bad CRC, truncated, keys missing
        problem = str(e).splitlines()[0] if str(e) else type(e).__name__
    print(f'vox: feature cache entry {file} is damaged ({problem}); '
          f'recomputing it', file=sys.stderr)
    return None


def load_features(utterances, cache_dir):
    """Features for every utterance, computed once and cached."""
    cache = Path(cache_dir) / 'features'
    cache.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(cache)
    out = [None] * len(utterances)
    todo = []
    for i, utt in enumerate(utterances):
        file = cache / f'{_key(utt.path)}.npz'
        entry = read_entry(file) if file.exists() else None
        if entry is None:
            todo.append((i, utt, file))
        else:
            out[i] = Features(utt, *entry)
    for i, utt, file in progress(todo, label='vox: extracting features'):
        try:
            mag, voiced, notes = extract(utt.path)
        except audio.AudioError as e:  # reported; the dataset skips it
            print(f'\nvox: skipped {e}', file=sys.stderr)
            out[i] = Features(utt, np.zeros((0, audio.N_BINS), np.float32),
                              np.zeros(0, bool))
            continue
        save_entry(file, mag, voiced, notes)
        out[i] = Features(utt, mag, voiced)
    return out
