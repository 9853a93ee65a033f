"""``vox check ID``: the blog's diagram against the model vox builds.

``experiments/<ID>/seed.yaml`` transcribes the seed's mermaid diagram(s)
as data (docs/faithfulness.md).  The check builds the model at the blog's
sizes (``vox.faithfulness.diagram.describe_experiment``) and lists every disagreement:

- a box's kind, channels, ksize, stride, pad, activation, BatchNormalization
  and the order of its steps;
- the shape on every labelled edge (the real output of the edge's source),
  the shape and range of every input / output / tensor box, a repeat's tile;
- boxes drawn but not built, built but not drawn, and edges drawn but not
  wired (or wired but not drawn).

Each disagreement must be explained by an entry of ``experiments/<ID>/
ERRATA.md`` whose ``## <where>`` heading names its place (a box id, a range
``a..b`` in the diagram's order or an edge ``a -> b``, optionally after the
graph's name, optionally followed by ``(aspect)`` naming what it explains);
every entry must have the four fields ``- Blog:``, ``- Arithmetic:``,
``- vox:`` and ``- Why:``.  The check fails otherwise.
"""
import dataclasses
import re
from typing import List, Optional

from vox.base.errors import VoxError
from vox.base.labels import BLOG_N_CLASSES
from vox.config import ConfigError, load_config
from vox.faithfulness.diagram import (NoDiagram, describe_experiment,
                                      experiment_dir, fmt_shape,
                                      known_experiments, no_diagram_reason,
                                      parse_shape, raw_config, read_seed)
from vox.training.registry import TRAINERS

ERRATA_FIELDS = ('Blog', 'Arithmetic', 'vox', 'Why')
NODE_TYPES = ('input', 'output', 'tensor', 'op', 'block')
NODE_KEYS = {'type', 'label', 'vox', 'shape', 'range', 'kind', 'channels',
             'ksize', 'stride', 'pad', 'layers', 'op', 'tile'}
EDGE_RE = re.compile(r'^\s*(\S+)\s*->\s*(\S+)\s*(?:\|\s*(.*?)\s*)?$')
BN = 'BatchNormalization'

#: Words in an ERRATA heading's ``(aspect)`` that say which fields of a
#: disagreement the entry explains (an entry without an aspect explains
#: every field at its places).
ASPECT_WORDS = {
    'kind': ('box name', 'kind', 'deconvolution'),
    'channels': ('channel', 'label count'),
    'ksize': ('kernel', 'ksize'),
    'stride': ('stride',),
    'pad': ('pad',),
    'activation': ('activation', 'softmax', 'relu', 'sigmoid', 'tanh',
                   'softplus'),
    'bn': ('batchnorm',),
    'order': ('order', 'batchnorm'),
    'shape': ('shape', 'size', 'length'),
    'range': ('range',),
    'tile': ('repeat', 'tile', 'shape', 'size'),
    'missing': ('missing', 'not built'),
    'extra': ('missing', 'added', 'not drawn', 'extra'),
    'edge': ('edge', 'wiring', 'connection', 'skip'),
}


@dataclasses.dataclass
class Disagreement:
    graph: str
    where: str           # a box id or 'a -> b'
    field: str           # a key of ASPECT_WORDS
    blog: str
    vox: str
    explained_by: Optional[str] = None

    def __str__(self):
        text = (f'{self.graph} {self.where}: {self.field}: blog '
                f'{self.blog}, vox {self.vox}')
        if self.explained_by:
            text += f'  [ERRATA: {self.explained_by}]'
        return text


@dataclasses.dataclass
class ErrataEntry:
    heading: str
    line: int
    fields: dict
    targets: list        # (graph or None, 'node', id) / (..., 'edge', (a, b))
    aspect: Optional[str]

    @property
    def missing(self):
        return [f for f in ERRATA_FIELDS if not self.fields.get(f)]


@dataclasses.dataclass
class CheckResult:
    exp_id: str
    status: str          # 'ok' | 'fail' | 'no-diagram'
    disagreements: List[Disagreement] = dataclasses.field(
        default_factory=list)
    problems: List[str] = dataclasses.field(default_factory=list)
    notes: List[str] = dataclasses.field(default_factory=list)
    reason: str = ''

    @property
    def unexplained(self):
        return [d for d in self.disagreements if not d.explained_by]

    @property
    def ok(self):
        return self.status != 'fail'

    def line(self):
        """The one line of ``vox check --all``."""
        if self.status == 'no-diagram':
            return (f'{self.exp_id:10s} --   no diagram to check '
                    f'({self.reason})')
        n = len(self.disagreements)
        if self.status == 'ok':
            text = ('no disagreements' if n == 0 else
                    f'{n} disagreement{"s" * (n != 1)}, all explained in '
                    f'ERRATA.md')
            return f'{self.exp_id:10s} OK   {text}'
        parts = [f'{len(self.unexplained)} of {n} disagreements '
                 f'unexplained'] if self.unexplained else []
        parts += [str(d) for d in self.unexplained]
        parts += self.problems
        return f'{self.exp_id:10s} FAIL ' + '; '.join(parts)

    def report(self):
        """The full listing of ``vox check ID``."""
        if self.status == 'no-diagram':
            return f'{self.exp_id}: no diagram to check ({self.reason})\n'
        lines = [f'{self.exp_id}: {len(self.disagreements)} disagreements '
                 f'between seed.yaml (the blog) and the built model']
        for d in self.disagreements:
            mark = '  ok ' if d.explained_by else '  !! '
            lines.append(mark + str(d))
        for p in self.problems:
            lines.append(f'  !! {p}')
        for n in self.notes:
            lines.append(f'  note: {n}')
        if self.status == 'ok':
            lines.append(f'{self.exp_id}: OK')
        else:
            lines.append(f'{self.exp_id}: FAIL ({len(self.unexplained)} '
                         f'unexplained, {len(self.problems)} other problems)')
        return '\n'.join(lines) + '\n'


# ------------------------------------------------------------- seed.yaml


def parse_pair(value):
    """``4`` / ``'3x4'`` -> ``(time, frequency)``."""
    parts = [int(p) for p in str(value).replace(' ', '').split('x')]
    return tuple(parts) if len(parts) == 2 else (parts[0], parts[0])


def norm_shape(shape):
    """Shapes compare with trailing 1s dropped: ``1421 == 1421 x 1 x 1``."""
    shape = list(shape)
    while len(shape) > 1 and shape[-1] == 1:
        shape.pop()
    return tuple(shape)


def norm_range(text):
    return str(text).replace(' ', '').replace('inf', '∞')


def parse_edges(graph, where):
    edges = []
    for e in graph['edges']:
        m = EDGE_RE.match(str(e))
        if not m:
            raise ConfigError(f"{where}: edge {e!r}: expected 'a -> b' or "
                              f"'a -> b | label'")
        a, b, label = m.groups()
        for n in (a, b):
            if n not in graph['nodes']:
                raise ConfigError(f'{where}: edge {e!r}: no node {n!r}')
        edges.append((a, b, label or None))
    return edges


def validate_seed(seed, where):
    """Strict checks of the transcription's format; raises ConfigError."""
    for g in seed['graphs']:
        gw = f"{where} graph {g['name']}"
        for nid, node in g['nodes'].items():
            if not isinstance(node, dict) or node.get('type') not in \
                    NODE_TYPES:
                raise ConfigError(f'{gw} node {nid}: type must be one of '
                                  f'{", ".join(NODE_TYPES)}')
            unknown = set(node) - NODE_KEYS
            if unknown:
                raise ConfigError(f'{gw} node {nid}: unknown keys '
                                  f'{sorted(unknown)}; valid keys: '
                                  f'{sorted(NODE_KEYS)}')
            if node['type'] == 'block':
                for key in ('kind', 'channels', 'ksize', 'stride', 'pad'):
                    if key not in node:
                        raise ConfigError(f'{gw} node {nid}: a block needs '
                                          f'{key!r}')
        parse_edges(g, gw)


def fields_from_label(node_type, label):
    """What a box's verbatim mermaid text says, as seed.yaml fields.

    Used to check that a transcription's fields agree with its own
    ``label`` (the text copied from the seed).
    """
    parts = [p for p in str(label).split('<br/>')]
    out = {}
    if node_type == 'block':
        out['kind'] = parts[0].strip()
        names = {'n': 'channels', 'ch': 'channels', 'k': 'ksize',
                 'ksize': 'ksize', 'stride': 'stride', 'pad': 'pad',
                 'padding': 'pad'}
        for kv in parts[1].split(','):
            key, _, value = kv.partition(':')
            key = names.get(key.strip(), key.strip())
            value = value.strip()
            out[key] = int(value) if value.isdigit() else value
        out['layers'] = [p.strip() for p in parts[2:]]
    elif node_type == 'op':
        out['op'] = parts[0].strip()
        if len(parts) > 1:
            out['tile'] = parts[1].strip()
    else:
        for p in parts:
            p = p.strip()
            if re.fullmatch(r'\d+( x \d+)*', p):
                out['shape'] = p
            elif p[:1] in '([{':
                out['range'] = p
    return out


def transcription_problems(seed):
    """Fields of seed.yaml that disagree with their own ``label`` text."""
    problems = []
    for g in seed['graphs']:
        for nid, node in g['nodes'].items():
            if 'label' not in node:
                continue
            for key, value in fields_from_label(node['type'],
                                                node['label']).items():
                have = node.get(key)
                if key in ('ksize', 'stride', 'pad') and have is not None:
                    same = str(have).replace(' ', '') == \
                        str(value).replace(' ', '')
                else:
                    same = have == value
                if not same:
                    problems.append(
                        f"seed.yaml {g['name']} {nid}: {key} is {have!r} "
                        f"but its label says {value!r}")
    return problems


# ------------------------------------------------------------ comparison

_MISSING = object()


def _alias(graph, edges, built, nid, seen=()):
    """The built node that carries seed node ``nid``'s tensor.

    None: outside vox's model (``vox: null``); _MISSING: not built.
    """
    node = graph['nodes'][nid]
    if 'vox' in node:
        return node['vox'] if node['vox'] is None or node['vox'] in built \
            else _MISSING
    if node['type'] in ('output', 'tensor'):
        sources = [a for a, b, _ in edges if b == nid]
        if len(sources) == 1 and sources[0] not in seen:
            return _alias(graph, edges, built, sources[0], seen + (nid,))
        return _MISSING
    return nid if nid in built else _MISSING


def _layers_text(layers):
    return ', '.join(layers) if layers else 'none'


def _compare_block(gname, nid, node, b):
    out = []

    def add(field, blog, vox_):
        out.append(Disagreement(gname, nid, field, str(blog), str(vox_)))
    if b['type'] != 'block':
        add('kind', node['kind'], f"a {b['type']} ({b.get('op')})")
        return out
    if str(node['kind']) != b['kind']:
        add('kind', node['kind'], b['kind'])
    if 'channels' in b and int(node['channels']) != b['channels']:
        add('channels', node['channels'], b['channels'])
    for key in ('ksize', 'stride', 'pad'):
        if key in b and parse_pair(node[key]) != tuple(b[key]):
            vox_ = b[key][0] if b[key][0] == b[key][1] else \
                f'{b[key][0]}x{b[key][1]}'
            add(key, node[key], vox_)
    seed_layers = [str(s).strip() for s in node.get('layers', [])]
    built_layers = list(b['steps'][1:])
    seed_acts = [s for s in seed_layers if s != BN]
    built_acts = [s for s in built_layers if s != BN]
    if seed_acts != built_acts:
        add('activation', _layers_text(seed_acts), _layers_text(built_acts))
    seed_bn, built_bn = BN in seed_layers, BN in built_layers
    if seed_bn != built_bn:
        add('bn', 'BatchNormalization' if seed_bn else 'no BatchNormalization',
            'BatchNormalization' if built_bn else 'no BatchNormalization')
    elif seed_bn and seed_layers.index(BN) != built_layers.index(BN):
        add('order', ' -> '.join([node['kind']] + seed_layers),
            ' -> '.join(b['steps']))
    return out


def compare_graph(gseed, gbuilt):
    """Every disagreement between one transcribed graph and its model."""
    name = gseed['name']
    edges = parse_edges(gseed, f'seed.yaml graph {name}')
    built = {n['id']: n for n in gbuilt['nodes'] if n['type'] != 'output'}
    alias = {nid: _alias(gseed, edges, built, nid) for nid in gseed['nodes']}
    out = []
    for nid, node in gseed['nodes'].items():
        a = alias[nid]
        if a is _MISSING:
            if node['type'] in ('block', 'op', 'input'):
                out.append(Disagreement(name, nid, 'missing',
                                        'drawn', 'not built'))
            continue
        if a is None:
            continue
        b = built[a]
        if node['type'] == 'block':
            out += _compare_block(name, nid, node, b)
        if 'tile' in node and 'tile' in b and \
                parse_shape(node['tile']) != tuple(b['tile']):
            out.append(Disagreement(name, nid, 'tile', node['tile'],
                                    fmt_shape(b['tile'])))
        if 'shape' in node and \
                norm_shape(parse_shape(node['shape'])) != \
                norm_shape(b['shape']):
            out.append(Disagreement(name, nid, 'shape', node['shape'],
                                    fmt_shape(b['shape'])))
        if 'range' in node and b.get('range') and \
                norm_range(node['range']) != norm_range(b['range']):
            out.append(Disagreement(name, nid, 'range', node['range'],
                                    b['range']))
    for a, b, label in edges:
        src = alias[a]
        if label is None or src is None or src is _MISSING:
            continue
        if norm_shape(parse_shape(label)) != norm_shape(built[src]['shape']):
            out.append(Disagreement(name, f'{a} -> {b}', 'shape', label,
                                    fmt_shape(built[src]['shape'])))
    # Wiring: drawn edges (through the tensor boxes) against traced ones.
    valid = {k: v for k, v in alias.items()
             if v is not None and v is not _MISSING}
    drawn = {}
    for a, b, _ in edges:
        if a in valid and b in valid and valid[a] != valid[b]:
            drawn.setdefault((valid[a], valid[b]), f'{a} -> {b}')
    wired = {(e['from'], e['to']) for e in gbuilt['edges']
             if e['to'] in built}
    drawn_ids = set(valid.values())
    for pair, where in drawn.items():
        if pair not in wired:
            out.append(Disagreement(name, where, 'edge', 'drawn',
                                    'not wired'))
    for nid, n in built.items():
        if nid not in drawn_ids:
            desc = n.get('kind') or n.get('op') or n['type']
            out.append(Disagreement(name, nid, 'extra', 'not drawn',
                                    f'{desc} -> {fmt_shape(n["shape"])}'))
    for pair in sorted(wired - set(drawn)):
        if pair[0] in drawn_ids and pair[1] in drawn_ids:
            out.append(Disagreement(name, f'{pair[0]} -> {pair[1]}', 'edge',
                                    'not drawn', 'wired'))
    return out


# ------------------------------------------------------------- ERRATA.md


def _expand(token, graphs, graph):
    """A heading token -> [(graph, 'node', id)] or [] when not an id."""
    names = [graph] if graph else list(graphs)
    found = []
    if '..' in token:
        first, _, last = token.partition('..')
        for g in names:
            order = graphs[g]
            if first in order and last in order:
                i, j = order.index(first), order.index(last)
                found += [(graph, 'node', n) for n in order[i:j + 1]]
        return found
    if any(token in graphs[g] for g in names):
        return [(graph, 'node', token)]
    return []


def parse_heading(heading, graphs):
    """``(targets, aspect)`` of an ERRATA heading.

    ``graphs``: graph name -> the node ids it knows (seed order first).
    A heading naming no box or edge (``LeakyReLU slope``) has no targets:
    it records a decision but explains no disagreement.
    """
    aspect = None
    m = re.match(r'^(.*?)\s*\(([^()]*)\)\s*$', heading)
    body = heading
    if m and m.group(1):
        body, aspect = m.group(1), m.group(2)
    targets = []
    graph = None
    for part in body.split(','):
        words = part.split()
        if len(words) > 1 and words[0] in graphs:  # 'generator conv1'
            graph = words[0]
            words = words[1:]
        text = ' '.join(words)
        if '->' in text:
            a, _, b = text.partition('->')
            a, b = a.strip(), b.strip()
            if a and b:
                targets.append((graph, 'edge', (a, b)))
            continue
        if len(words) == 1:
            targets += _expand(words[0], graphs, graph)
    return targets, aspect


def parse_errata(text, graphs):
    """The ``## <where>`` entries of an ERRATA.md."""
    entries = []
    current = None
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith('## '):
            heading = line[3:].strip()
            targets, aspect = parse_heading(heading, graphs)
            current = ErrataEntry(heading, number, {}, targets, aspect)
            entries.append(current)
            continue
        if line.startswith('# '):
            current = None
            continue
        m = re.match(r'^- (Blog|Arithmetic|vox|Why):\s*(.*)$', line)
        if m and current is not None:
            current.fields[m.group(1)] = m.group(2).strip()
    return entries


def aspect_covers(aspect, field):
    if aspect is None:
        return True
    text = ' '.join(re.findall(r'[a-z]+', aspect.lower()))
    return any(w in text for w in ASPECT_WORDS.get(field, ()))


def explain(disagreement, entries):
    d = disagreement
    if '->' in d.where:
        a, _, b = d.where.partition('->')
        place = ('edge', (a.strip(), b.strip()))
    else:
        place = ('node', d.where)
    for e in entries:
        for graph, kind, target in e.targets:
            if graph not in (None, d.graph):
                continue
            if (kind, target) == place and aspect_covers(e.aspect, d.field):
                return e.heading
    return None


# ------------------------------------------------------------------ check


def trainer_links(exp_id):
    """Classes the experiment's trainer builds, or (None, why not)."""
    config_raw = raw_config(exp_id)
    if not config_raw:
        return None, 'no config.yaml'
    module = TRAINERS.get(config_raw.get('kind'))
    if module is None:
        return None, f"no trainer for kind {config_raw.get('kind')!r}"
    try:
        config = load_config(exp_id)
    except VoxError as e:
        return None, f'trainer not checked ({e})'
    for name in ('model', 'generator', 'discriminator'):
        section = getattr(config, name, None)
        if section is not None and hasattr(section, 'width'):
            section.width = 1 / 64  # the classes are all that is compared
    models = module.build_models(config, (3, 3, 2))
    return {f'{type(m).__module__}.{type(m).__name__}'
            for m in models.values()}, None


def check(exp_id, seed_path=None, errata_path=None):
    """Checks one experiment; returns a CheckResult."""
    folder = experiment_dir(exp_id)
    reason = no_diagram_reason(exp_id)
    if reason and seed_path is None:
        return CheckResult(exp_id, 'no-diagram', reason=reason)
    seed_path = seed_path or folder / 'seed.yaml'
    errata_path = errata_path or folder / 'ERRATA.md'
    result = CheckResult(exp_id, 'ok')
    if not seed_path.exists():
        result.status = 'fail'
        result.problems.append(f'{exp_id} has a model but no seed.yaml '
                               f'transcription of the blog\'s diagram')
        return result
    seed = read_seed(seed_path)
    validate_seed(seed, str(seed_path))
    result.problems += transcription_problems(seed)
    built = describe_experiment(exp_id, width=1.0, n_classes=tuple(
        seed.get('n_classes') or BLOG_N_CLASSES), seed_path=seed_path)
    by_name = {g['name']: g for g in built['graphs']}
    for g in seed['graphs']:
        result.disagreements += compare_graph(g, by_name[g['name']])
    graphs = {g['name']: list(g['nodes']) + [
        n['id'] for n in by_name[g['name']]['nodes']]
        for g in seed['graphs']}
    entries = []
    if errata_path.exists():
        entries = parse_errata(errata_path.read_text(), graphs)
    elif result.disagreements:
        result.problems.append(f'no {errata_path.name} to explain them')
    for e in entries:
        if e.missing:
            result.problems.append(
                f"{errata_path.name}:{e.line} '## {e.heading}' lacks "
                f"{', '.join('- ' + f + ':' for f in e.missing)}")
    for d in result.disagreements:
        d.explained_by = explain(d, entries)
    links, why = trainer_links(exp_id)
    seed_links = {g['link'] for g in seed['graphs']}
    if links is None:
        result.notes.append(f'trainer models not compared: {why}')
    elif links != seed_links:
        result.problems.append(
            f"seed.yaml draws {sorted(seed_links)} but the trainer builds "
            f"{sorted(links)}")
    if result.unexplained or result.problems:
        result.status = 'fail'
    return result


def check_all():
    return [check(exp_id) for exp_id in known_experiments()]


__all__ = ['check', 'check_all', 'CheckResult', 'Disagreement', 'NoDiagram']
