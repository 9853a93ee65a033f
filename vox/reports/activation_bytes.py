"""The bytes a loss's graph keeps for backward: the "activations" part of a
training step's memory, device-independent (a finding's bench figure, and
tools/bench.py's VRAM estimate)."""
from vox import compat  # noqa: F401  (before chainer: Chainer today)
import chainer
import numpy


def _buffer(a):
    """(key, nbytes) of the buffer an array lives in (views share it)."""
    base = a
    while isinstance(getattr(base, 'base', None), type(a)):
        base = base.base
    if hasattr(base, 'data') and hasattr(base.data, 'ptr'):  # CuPy
        return ('cupy', base.data.ptr), int(base.nbytes)
    return ('host', id(base)), int(base.nbytes)


def _arrays_in(value):
    if isinstance(value, numpy.ndarray) or (
            type(value).__module__.startswith('cupy')
            and hasattr(value, 'nbytes') and hasattr(value, 'shape')):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _arrays_in(v)


def saved_activation_bytes(loss, exclude=()):
    """Bytes of the arrays ``loss``'s graph keeps for backward.

    Counts, once per buffer: every function node's retained inputs and
    outputs and the arrays it keeps as attributes (e.g. BatchNorm's
    statistics).  Buffers of ``exclude`` (arrays or Links whose parameters
    are counted elsewhere) are left out.
    """
    skip = set()
    for item in exclude:
        if isinstance(item, chainer.Link):
            for p in item.params():
                if p.array is not None:
                    skip.add(_buffer(p.array)[0])
        else:
            skip.add(_buffer(item)[0])
    buffers = {}
    seen = set()
    stack = [loss.creator_node]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        held = []
        for i in node._input_indexes_to_retain or ():
            held.append(node.inputs[i].data)
        held.extend(node._retained_output_data or ())
        for value in vars(node).values():
            held.extend(_arrays_in(value))
        for a in held:
            if a is None:
                continue
            key, nbytes = _buffer(a)
            if key not in skip:
                buffers[key] = nbytes
        for v in node.inputs:
            if v.creator_node is not None:
                stack.append(v.creator_node)
    return sum(buffers.values())
