"""The built model drawn the way the blog draws it (``vox diagram ID``).

The model is built (the Link named by the graph in
``experiments/<ID>/seed.yaml``, at the blog's sizes unless told otherwise),
run once on a batch of one in test mode, and every diagram node (a child
link of the model, ``repeat`` and ``concat`` included) is recorded with its
real output by ``vox.links.model.NodeRecorder``, a ``LinkHook``.  The
edges are not written down anywhere: they are read off Chainer's
computational graph (for each node, the nearest recorded nodes upstream of
it), so a wrongly wired model shows as a wrongly wired diagram.

``describe_experiment`` returns the result as plain data (what
``--format json`` prints and ``vox check`` compares); ``to_mermaid`` draws
one graph as a mermaid ``graph TD`` in the blog's style, every edge labelled
with the real ``C x T x F`` shape.
"""
import copy
import functools
import importlib
import inspect
import json
from pathlib import Path

import numpy as np

import vox.compat  # noqa: F401  (before chainer: Chainer today)
import chainer

from vox.base.errors import VoxError
from vox.base.labels import BLOG_N_CLASSES, GROUPS
from vox.base.scales import SCALES
from vox.config import (EXPERIMENTS_DIR, ConfigError, config_path,
                        known_ids, load_raw, load_yaml, resolve)
from vox.data.audio import N_BINS  # bins 1..256 of a 1024-point FFT
from vox.links.model import Model, NodeRecorder, Operation
from vox.training.registry import TRAINERS

#: The blog's names for vox's activations.
ACTIVATION_NAMES = {'leaky_relu': 'LeakyReLU', 'relu': 'ReLU',
                    'tanh': 'tanh', 'sigmoid': 'sigmoid',
                    'softplus': 'softplus'}
#: The value range after a block's last step, as the blog writes ranges.
STEP_RANGES = {'sigmoid': '(0, 1)', 'tanh': '(-1, 1)', 'softplus': '(0, ∞)',
               'ReLU': '[0, ∞)'}
UNBOUNDED = '(-∞, ∞)'
LABELS_RANGE = '{0, 1}'
SPECTROGRAM = 'input-spectrogram'
LABELS = 'input-labels'


class NoDiagram(VoxError):
    """The experiment has no neural model to draw (e.g. the blur masks)."""


def experiment_dir(exp_id):
    return config_path(exp_id).parent


#: Experiment folders (each has a config.yaml), sorted.
known_experiments = known_ids


def raw_config(exp_id):
    """The faithful config as a plain mapping, or None without one.

    Read raw (not through ``load_config``) so that only the keys used here
    (``kind``, ``data``) have to exist.
    """
    path = EXPERIMENTS_DIR / exp_id / 'config.yaml'
    if not path.exists():
        return None
    return resolve(load_raw(path), None, path)


def load_seed(exp_id):
    """``experiments/<ID>/seed.yaml`` as a mapping, or None without one."""
    path = experiment_dir(exp_id) / 'seed.yaml'
    if not path.exists():
        return None
    return read_seed(path)


def read_seed(path):
    path = Path(path)
    seed = load_yaml(path, what='model seed')
    if not isinstance(seed, dict) or not isinstance(seed.get('graphs'), list):
        raise ConfigError(f'{path}: expected a mapping with a list of graphs')
    for g in seed['graphs']:
        for key in ('name', 'link', 'nodes', 'edges'):
            if key not in g:
                raise ConfigError(f"{path}: graph {g.get('name', '?')!r} "
                                  f"has no '{key}'")
    return seed


def no_diagram_reason(exp_id):
    """Why ``exp_id`` has no model diagram, or None when it has one."""
    config = raw_config(exp_id)
    kind = (config or {}).get('kind')
    if (experiment_dir(exp_id) / 'seed.yaml').exists():
        return None
    if kind in TRAINERS:
        return None  # a model but no transcription: check says FAIL
    return f'kind: {kind or "unknown"}, not a neural model'


def parse_shape(text):
    """``'1 x 64 x 256'`` / ``'16x16'`` / ``1476`` -> a tuple of ints."""
    return tuple(int(p) for p in str(text).replace(' ', '').split('x'))


def fmt_shape(shape):
    return ' x '.join(str(int(s)) for s in shape)


def input_frames(exp_id, seed=None):
    """T of the ``1 x T x 256`` input: the config's ``data.crop_frames``.

    Without a config.yaml, the T of the seed's spectrogram input box.
    """
    config = raw_config(exp_id)
    if config and (config.get('data') or {}).get('crop_frames'):
        return int(config['data']['crop_frames'])
    seed = seed or load_seed(exp_id) or {}
    for graph in seed.get('graphs', []):
        for node in graph['nodes'].values():
            if node.get('type') == 'input' and node.get('vox', SPECTROGRAM) \
                    == SPECTROGRAM and 'shape' in node:
                return parse_shape(node['shape'])[1]
    raise VoxError(f'{exp_id}: no data.crop_frames in config.yaml and no '
                   f'spectrogram input in seed.yaml')


def input_range(exp_id):
    config = raw_config(exp_id)
    scale = ((config or {}).get('data') or {}).get('scale')
    return SCALES.get(scale)


def import_link(path):
    module, _, name = path.rpartition('.')
    try:
        cls = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as e:
        raise VoxError(f'cannot import the model {path}: {e}') from None
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise VoxError(f'{path} is not a vox model (a vox.links.model.Model '
                       f'names its diagram nodes); name one in seed.yaml')
    return cls


def build_link(cls, n_classes, width):
    params = inspect.signature(cls).parameters
    kwargs = {}
    if 'n_classes' in params:
        kwargs['n_classes'] = tuple(n_classes)
    if 'width' in params:
        kwargs['width'] = width
    return cls(**kwargs)


def takes_labels(link):
    params = [p for p in inspect.signature(link.forward).parameters.values()
              if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(params) >= 2


# --------------------------------------------------------------- tracing


def run_traced(link, inputs):
    """``(record, result)``: every node's output and the model's result."""
    with NodeRecorder(link) as recorder:
        result = link(*inputs)
    return recorder.record, result


def _upstream(var_node, traced):
    """Recorded nodes nearest upstream of ``var_node``, in input order."""
    found = []
    seen = set()

    def visit(v):
        if id(v) in seen:
            return
        seen.add(id(v))
        if id(v) in traced:
            if traced[id(v)] not in found:
                found.append(traced[id(v)])
            return
        if v.creator_node is not None:
            for u in v.creator_node.inputs:
                visit(u)

    if var_node.creator_node is not None:
        for u in var_node.creator_node.inputs:
            visit(u)
    return found


def _flatten_result(result, name='output'):
    """``[(output node id, Variable), ...]`` of a model's return value."""
    if isinstance(result, chainer.Variable):
        return [(name, result)]
    if isinstance(result, tuple):
        fields = getattr(result, '_fields', None)
        if fields:
            out = []
            for field, value in zip(fields, result):
                out += _flatten_result(value, f'output-{field}')
            return out
        names = (GROUPS if len(result) == len(GROUPS)
                 else [str(i) for i in range(len(result))])
        prefix = name if name != 'output' else 'output'
        out = []
        for n, value in zip(names, result):
            out += _flatten_result(value, f'{prefix}-{n}')
        return out
    return []


def _block_info(d):
    """The box's parameters from its description (``Model.describe``)."""
    steps = [ACTIVATION_NAMES.get(s, s) for s in d['steps']]
    if d['kind'] == 'ResBlock':  # steps are its first conv's
        steps = ['ResBlock'] + steps[1:]
    return {'kind': d['kind'], 'channels': int(d['out_channels']),
            'ksize': list(d['ksize']), 'stride': list(d['stride']),
            'pad': list(d['pad']), 'steps': steps}


def node_range(node):
    """The value range of a node's output, as the blog writes ranges."""
    if node['type'] == 'block':
        last = node['steps'][-1]
        if node['kind'] == 'ResBlock':
            return UNBOUNDED  # an unactivated sum
        return STEP_RANGES.get(last, UNBOUNDED)
    return node.get('range')


def trace_graph(link, frames, n_classes, scale_range=None):
    """One model as data: ``{'nodes': [...], 'edges': [...]}``."""
    x = chainer.Variable(np.random.RandomState(0).uniform(
        0, 1, (1, 1, frames, N_BINS)).astype(np.float32))
    inputs = [(SPECTROGRAM, x)]
    if takes_labels(link):
        c = np.zeros((1, int(sum(n_classes))), np.float32)
        offset = 0
        for n in n_classes:  # one-hot in every group
            c[0, offset] = 1
            offset += n
        inputs.append((LABELS, chainer.Variable(c)))
    with chainer.using_config('train', False), \
            chainer.using_config('enable_backprop', True):
        record, result = run_traced(link, [v for _, v in inputs])
    blocks = dict(link.describe())
    ops = {name: op.op for name, op in link.nodes()
           if isinstance(op, Operation)}
    traced = {}
    nodes = []
    for name, var in inputs:
        traced[id(var.node)] = name
        node = {'id': name, 'type': 'input',
                'shape': list(var.shape[1:])}
        node['range'] = scale_range if name == SPECTROGRAM else LABELS_RANGE
        nodes.append(node)
    edges = []
    for name, var in record:
        sources = _upstream(var.node, traced)
        traced[id(var.node)] = name
        if name in blocks:
            node = {'id': name, 'type': 'block', **_block_info(blocks[name])}
        else:
            op = ops[name]
            node = {'id': name, 'type': 'op', 'op': op}
            if op == 'repeat':
                node['tile'] = list(var.shape[2:])
        node['shape'] = list(var.shape[1:])
        node['range'] = node_range(node)
        nodes.append(node)
        shapes = {n['id']: n['shape'] for n in nodes}
        for s in sources:
            edges.append({'from': s, 'to': name, 'shape': shapes[s]})
    shapes = {n['id']: n['shape'] for n in nodes}
    ranges = {n['id']: n.get('range') for n in nodes}
    outputs = _flatten_result(result)
    for out_id, var in outputs:
        sources = ([traced[id(var.node)]] if id(var.node) in traced
                   else _upstream(var.node, traced))
        node = {'id': out_id, 'type': 'output', 'shape': list(var.shape[1:]),
                'from': sources,
                'range': ranges.get(sources[0]) if len(sources) == 1
                else None}
        nodes.append(node)
        for s in sources:
            edges.append({'from': s, 'to': out_id, 'shape': shapes[s]})
    return {'nodes': nodes, 'edges': edges}


def graph_width(config, graph_name, width):
    """``width`` as given, else the run config's width for this graph."""
    if width is not None:
        return float(width)
    section = (config or {}).get(graph_name)
    if isinstance(section, dict) and 'width' in section:
        return float(section['width'])
    return float(((config or {}).get('model') or {}).get('width', 1.0))


@functools.lru_cache(maxsize=16)
def _describe(exp_id, width, n_classes, frames, scale_range, graphs):
    out = []
    for name, title, link_path in graphs:
        link = build_link(import_link(link_path), n_classes, width)
        data = trace_graph(link, frames, n_classes, scale_range)
        out.append({'name': name, 'title': title, 'link': link_path,
                    'width': width, **data})
        del link
    return {'id': exp_id, 'n_classes': list(n_classes), 'frames': frames,
            'input': [1, frames, N_BINS], 'graphs': out}


def describe_experiment(exp_id, width=1.0, n_classes=None, frames=None,
                        scale_range=None, seed_path=None):
    """Every model of ``exp_id`` as data, built and traced.

    Defaults are the blog's sizes: width 1.0, n_classes (1421, 53, 2), T
    from the config's ``data.crop_frames``.  ``seed_path`` names another
    seed.yaml (its graphs say which Links to build).  Results are cached
    per process by model and size (the full-size models take seconds to
    build and run).
    """
    reason = no_diagram_reason(exp_id)
    if reason and seed_path is None:
        raise NoDiagram(f'{exp_id} has no model diagram ({reason})')
    seed_path = Path(seed_path or experiment_dir(exp_id) / 'seed.yaml')
    if not seed_path.exists():
        raise VoxError(f'{exp_id}: no seed.yaml, so vox does not know which '
                       f'model draws the blog\'s diagram (see '
                       f'docs/faithfulness.md)')
    seed = read_seed(seed_path)
    n_classes = tuple(int(n) for n in (
        n_classes or seed.get('n_classes') or BLOG_N_CLASSES))
    frames = int(frames or input_frames(exp_id, seed))
    if scale_range is None:
        scale_range = input_range(exp_id)
    graphs = tuple((g['name'], g.get('title'), g['link'])
                   for g in seed['graphs'])
    return copy.deepcopy(_describe(exp_id, float(width), n_classes, frames,
                                   scale_range, graphs))


def describe_run_models(exp_id, config, n_classes):
    """The models of a run folder's resolved ``config`` (a mapping).

    Each graph at the run's own width (``generator.width`` /
    ``discriminator.width`` where the config has them, else
    ``model.width``), T and label counts.
    """
    seed_path = experiment_dir(exp_id) / 'seed.yaml'
    if not seed_path.exists():
        raise NoDiagram(f'{exp_id} has no model diagram '
                        f'({no_diagram_reason(exp_id) or "no seed.yaml"})')
    seed = read_seed(seed_path)
    frames = int(config['data']['crop_frames'])
    scale = SCALES.get(config['data'].get('scale'))
    n_classes = tuple(int(n) for n in n_classes)
    graphs = []
    for g in seed['graphs']:
        width = graph_width(config, g['name'], None)
        d = _describe(exp_id, width, n_classes, frames, scale,
                      ((g['name'], g.get('title'), g['link']),))
        graphs += copy.deepcopy(d['graphs'])
    return {'id': exp_id, 'n_classes': list(n_classes), 'frames': frames,
            'input': [1, frames, N_BINS], 'graphs': graphs}


# --------------------------------------------------------------- drawing


def _pair_text(p):
    return str(p[0]) if p[0] == p[1] else f'{p[0]}x{p[1]}'


def _caption(node_id):
    words = {'input-spectrogram': 'Spectrogram', 'input-labels': 'Labels',
             'output': 'Spectrogram', 'birthplace': 'BirthPlace'}
    if node_id in words:
        return words[node_id]
    last = node_id.split('-')[-1]
    return words.get(last, last.capitalize())


def node_text(node):
    """A node's box text in the blog's style (``<br/>`` between lines)."""
    t = node['type']
    shape = fmt_shape(node['shape'])
    if t in ('input', 'output'):
        head = '&laquo;Input&raquo;' if t == 'input' else \
            '&laquo;Output&raquo;'
        lines = [head, _caption(node['id']), shape]
        if node.get('range'):
            lines.append(node['range'])
        return '<br/>'.join(lines)
    if t == 'op':
        if node['op'] == 'repeat':
            return f"repeat<br/>{fmt_shape(node['tile'])}"
        return node['op']
    if 'channels' not in node:
        return node['kind']
    params = (f"ch: {node['channels']}, ksize: {_pair_text(node['ksize'])}, "
              f"stride: {_pair_text(node['stride'])}, "
              f"padding: {_pair_text(node['pad'])}")
    return '<br/>'.join([node['kind'], params] + node['steps'][1:])


def to_mermaid(graph, title=True):
    """One graph as mermaid ``graph TD`` text, edges labelled by shape."""
    lines = ['graph TD']
    if title:
        lines.append(f"%% {graph.get('title') or graph['name']}: "
                     f"{graph['link']} (width {graph['width']:g})")
    lines.append('')
    for node in graph['nodes']:
        text = node_text(node).replace('"', '#quot;')
        if node['type'] == 'op':
            lines.append(f'{node["id"]}(("{text}"))')
        elif node['type'] == 'block':
            lines.append(f'{node["id"]}["{text}"]')
        else:
            lines.append(f'{node["id"]}("{text}")')
    lines.append('')
    for e in graph['edges']:
        lines.append(f"{e['from']} --> |{fmt_shape(e['shape'])}| {e['to']}")
    return '\n'.join(lines) + '\n'


def select_graphs(exp_id, graph=None):
    """``describe_experiment(exp_id)``, only ``graph`` when one is named."""
    d = describe_experiment(exp_id)
    if graph is not None:
        names = [g['name'] for g in d['graphs']]
        if graph not in names:
            raise VoxError(f"{exp_id} has no graph '{graph}'; its graphs: "
                           f"{', '.join(names)}")
        d['graphs'] = [g for g in d['graphs'] if g['name'] == graph]
    return d


def render(exp_id, fmt='mermaid', graph=None):
    """What ``vox diagram`` prints as text (mermaid or JSON)."""
    d = select_graphs(exp_id, graph)
    if fmt == 'json':
        return json.dumps(d, indent=1, ensure_ascii=False) + '\n'
    return '\n'.join(to_mermaid(g) for g in d['graphs'])
