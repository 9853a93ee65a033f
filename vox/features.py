"""Feature extraction with an on-disk cache keyed by the front end.

One ``.npz`` per utterance holds the raw 256-bin magnitude (T x 256,
float32) and the voiced-frame mask.  The key hashes the front-end
parameters with the file's path, size and mtime, so changing either the
front end or the file rebuilds exactly what changed.  Writes go to a temp
file renamed into place: an interrupted run never leaves half a file.
"""
import dataclasses
import hashlib
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from vox import audio
from vox.progress import progress


@dataclasses.dataclass
class Features:
    utterance: object           # vox.corpus.manifest.Utterance
    magnitude: np.ndarray       # (T, 256) float32, raw [0, inf)
    voiced: np.ndarray          # (T,) bool


def _key(path):
    st = os.stat(path)
    blob = json.dumps([audio.FRONT_END, str(Path(path).resolve()),
                       st.st_size, st.st_mtime_ns], sort_keys=True)
    return hashlib.sha1(blob.encode()).hexdigest()[:20]


def extract(path):
    wave = audio.load_wav(path)
    return audio.magnitude(wave), audio.voiced_frames(wave)


def _atomic_savez(path, **arrays):
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix='.tmp.npz')
    os.close(fd)
    try:
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_features(utterances, cache_dir):
    """Features for every utterance, computed once and cached."""
    cache = Path(cache_dir) / 'features'
    cache.mkdir(parents=True, exist_ok=True)
    out = [None] * len(utterances)
    todo = []
    for i, utt in enumerate(utterances):
        file = cache / f'{_key(utt.path)}.npz'
        if file.exists():
            with np.load(file) as z:
                out[i] = Features(utt, z['magnitude'], z['voiced'])
        else:
            todo.append((i, utt, file))
    for i, utt, file in progress(todo, label='vox: extracting features'):
        mag, voiced = extract(utt.path)
        _atomic_savez(file, magnitude=mag, voiced=voiced)
        out[i] = Features(utt, mag, voiced)
    return out
