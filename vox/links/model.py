"""What every vox model is: a Chain whose child links are its diagram's nodes.

A model declares its nodes in ``__init__`` once, in the order its plain
``forward`` applies them, as Chainer's examples do; the boxes are
``ConvBlock``/``ResBlock``/bare convolutions, and the drawn circles that
are no box (``repeat``, ``concat``) are parameterless ``Operation`` links,
so that they too are named once and seen when called.  A child that is a
``Model`` itself (the AutoEncoder's encoder and decoder) contributes its
own nodes.

The shapes ``vox diagram`` and ``vox check`` need are read while
``forward`` runs, by ``NodeRecorder``: a ``chainer.LinkHook`` whose
``forward_postprocess`` gets ``args.link`` (the link called) and
``args.out`` (what its ``forward`` returned), after every link call inside
its ``with`` block (Chainer's ``LinkHook`` reference,
https://docs.chainer.org/en/stable/reference/generated/chainer.LinkHook.html,
and ``Link.__call__`` in chainer/link.py of Chainer 7.8.1).
"""
import chainer
import chainer.functions as F

from vox.links.blocks import describe


class Operation(chainer.Link):
    """A drawn node that is no box: no parameters, one function.

    ``op`` is what the diagrams write in its circle; ``node_id``, where
    set, is its node id when the attribute cannot carry it.
    """

    op = None
    node_id = None


class RepeatLabels(Operation):
    """The diagrams' ``repeat``: labels ``(B, n)`` tiled over ``spatial =
    (H, W)`` -> ``(B, n, H, W)``."""

    op = 'repeat'
    # Chain.repeat is a method, so the attribute is ``repeat_labels``.
    node_id = 'repeat'

    def forward(self, c, spatial):
        b, n = c.shape
        return F.broadcast_to(F.reshape(c, (b, n, 1, 1)),
                              (b, n) + tuple(spatial))


class Concat(Operation):
    """The diagrams' ``concat``: its inputs joined on the channel axis, in
    the order given (the order of the drawn edges)."""

    op = 'concat'

    def forward(self, *xs):
        return F.concat(xs, axis=1)


class Model(chainer.Chain):
    """A model as the blog draws it: ``nodes``, ``blocks``, ``describe``
    and ``trace`` for every model alike; ``forward`` stays plain."""

    def nodes(self):
        """``[(node id, link), ...]`` in the order ``forward`` applies them.

        ``Chain.children()`` sorts by name; the instance's ``__dict__``
        keeps the order the children were declared in.
        """
        out = []
        for name, value in vars(self).items():
            if name not in self._children:
                continue
            if isinstance(value, Model):
                out += value.nodes()
            else:
                out.append((getattr(value, 'node_id', None) or name, value))
        return out

    def blocks(self):
        """``[(node id, link), ...]`` of the boxes (nodes that are no
        ``Operation``), in order."""
        return [(name, link) for name, link in self.nodes()
                if not isinstance(link, Operation)]

    def describe(self):
        """``[(node id, box description), ...]`` (see ``blocks.describe``)."""
        return [(name, describe(link)) for name, link in self.blocks()]

    def trace(self, *inputs):
        """``[(node id, output), ...]`` of every node, in the order run."""
        with NodeRecorder(self) as recorder:
            self(*inputs)
        return recorder.record


class NodeRecorder(chainer.LinkHook):
    """Records ``(node id, output)`` of every call of ``model``'s nodes
    made inside its ``with`` block, in the order the calls return."""

    name = 'VoxNodeRecorder'

    def __init__(self, model):
        self.names = {id(link): name for name, link in model.nodes()}
        self.record = []

    def forward_postprocess(self, args):
        name = self.names.get(id(args.link))
        if name is not None:
            self.record.append((name, args.out))
