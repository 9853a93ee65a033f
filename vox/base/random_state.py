"""A ``numpy.random.RandomState`` in a Chainer snapshot.

Chainer serialises arrays and scalars, not generators; both the StarGAN
updater (its target/eps draws) and the RandomStates extension (crop
positions, training order) store a generator as its ``get_state()`` tuple
so a resumed run draws exactly what an uninterrupted one would.
"""
import numpy as np
from vox import compat  # noqa: F401  (before chainer: Chainer today)
from chainer import serializer as chainer_serializer


def serialize_random_state(serializer, random_state,
                           gauss_key='cached_gaussian'):
    """Saves or restores ``random_state`` under ``serializer`` (keys
    ``keys``, ``pos``, ``has_gauss`` and ``gauss_key``; the updater and the
    extension name the last one differently, and old snapshots keep
    loading)."""
    name, keys, pos, has_gauss, cached = random_state.get_state()
    keys = serializer('keys', keys)
    pos = serializer('pos', int(pos))
    has_gauss = serializer('has_gauss', int(has_gauss))
    cached = serializer(gauss_key, float(cached))
    if isinstance(serializer, chainer_serializer.Deserializer):
        random_state.set_state((name, np.asarray(keys, dtype=np.uint32),
                                int(pos), int(has_gauss), float(cached)))
