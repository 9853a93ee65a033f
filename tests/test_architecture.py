"""The layers of docs/architecture.md, checked over vox/'s imports (ast).

Data flows one way: a module imports only from its own layer or below,
the import graph has no cycle, and an import inside a function only
defers a heavy or optional module, with a comment saying so.
"""
import ast
from pathlib import Path

import pytest

VOX = Path(__file__).resolve().parent.parent / 'vox'

#: Lowest first.  Prefixes of module names; every module of vox/ is in one.
LAYERS = [
    ('vox', 'vox.compat', 'vox.cpu_fast', 'vox.base'),
    ('vox.config',),
    ('vox.data', 'vox.evaluation.content'),
    ('vox.links', 'vox.functions', 'vox.updaters'),
    ('vox.inference',),
    ('vox.extensions',),
    ('vox.training',),
    ('vox.faithfulness', 'vox.reports'),
    ('vox.runs',),
    ('vox.blurmask', 'vox.evaluation'),
    ('vox.commands', 'vox.cli'),
]

#: Packages an import inside a function may defer: optional (CuPy, MPI),
#: or heavy and needed by few paths (matplotlib, pyworld, pkg_resources).
DEFERRABLE = {'cupy', 'cupyx', 'mpi4py', 'chainermn', 'matplotlib',
              'pyworld', 'pkg_resources'}
#: The command modules defer everything: vox/cli.py imports each of them to
#: build its parser, and `vox --help` should not load Chainer.
DEFERS_ALL = ('vox.commands',)


def module_name(path):
    parts = list(path.relative_to(VOX.parent).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


MODULES = {module_name(p): p for p in sorted(VOX.rglob('*.py'))}


def layer_of(name):
    best = None
    for i, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + '.'):
                if best is None or len(prefix) > best[1]:
                    best = (i, len(prefix))
    return None if best is None else best[0]


class Import:
    def __init__(self, source, target, node, local, lines):
        self.source, self.target, self.node = source, target, node
        self.local, self.lines = local, lines

    def __repr__(self):
        return (f'{MODULES[self.source].relative_to(VOX.parent)}:'
                f'{self.node.lineno} imports {self.target}')


def imports_of(name):
    """Every import statement of module ``name``, resolved to module names
    (``from vox.data import audio`` -> vox.data.audio)."""
    path = MODULES[name]
    text = path.read_text()
    tree = ast.parse(text)
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            local = in_function or isinstance(
                child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append(Import(name, alias.name, child, in_function,
                                        text.splitlines()))
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = package.split('.')
                    base = base[:len(base) - child.level + 1]
                    module = '.'.join(base + ([child.module]
                                              if child.module else []))
                else:
                    module = child.module
                for alias in child.names:
                    sub = f'{module}.{alias.name}'
                    found.append(Import(name, sub if sub in MODULES
                                        else module, child, in_function,
                                        text.splitlines()))
            visit(child, local)

    visit(tree, False)
    return found


ALL_IMPORTS = [i for name in MODULES for i in imports_of(name)]
VOX_IMPORTS = [i for i in ALL_IMPORTS
               if i.target == 'vox' or i.target.startswith('vox.')]


def test_every_module_is_in_a_layer():
    assert [n for n in MODULES if layer_of(n) is None] == []


def test_no_import_points_up_a_layer():
    upward = [f'{i} (layer {layer_of(i.source)} -> {layer_of(i.target)})'
              for i in VOX_IMPORTS if layer_of(i.target) > layer_of(i.source)]
    assert upward == []


def test_imports_name_existing_modules():
    assert [i for i in VOX_IMPORTS if i.target not in MODULES] == []


def find_cycle(edges):
    """One cycle of the directed graph ``{node: {node, ...}}``, or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = 'open'
        stack.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 'open':
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                cycle = visit(nxt)
                if cycle:
                    return cycle
        state[node] = 'done'
        stack.pop()
        return None

    for node in sorted(edges):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_cycle():
    edges = {}
    for i in VOX_IMPORTS:
        if i.target != i.source:
            edges.setdefault(i.source, set()).add(i.target)
    cycle = find_cycle(edges)
    assert cycle is None, ' -> '.join(cycle)


def test_find_cycle_finds_one():
    assert find_cycle({'a': {'b'}, 'b': {'c'}, 'c': {'a'}}) == [
        'a', 'b', 'c', 'a']
    assert find_cycle({'a': {'b', 'c'}, 'b': {'c'}}) is None


def _commented(imp):
    """A comment on the import's lines or in the paragraph of lines just
    above it (one comment may cover a short run of imports)."""
    last = getattr(imp.node, 'end_lineno', imp.node.lineno)
    i = imp.node.lineno - 1
    while i > 0 and imp.lines[i - 1].strip() and not imp.lines[
            i - 1].lstrip().startswith(('def ', 'class ', 'async def ')):
        i -= 1
    return any('#' in line for line in imp.lines[i:last])


def test_function_local_imports_only_defer_heavy_or_optional_modules():
    bad = []
    for i in ALL_IMPORTS:
        if not i.local:
            continue
        if any(i.source == p or i.source.startswith(p + '.')
               for p in DEFERS_ALL):
            continue
        if i.target.split('.')[0] not in DEFERRABLE:
            bad.append(f'{i}: not a heavy or optional module')
        elif not _commented(i):
            bad.append(f'{i}: no comment saying why it is deferred')
    assert bad == []


def _imports_compat_first(name):
    """Whether module ``name`` imports vox.compat at top level before its
    first top-level ``import chainer``."""
    for i in imports_of(name):
        if i.local:
            continue
        if i.target == 'vox.compat':
            return True
        if i.target == 'chainer' or i.target.startswith('chainer.'):
            return False
    return False


def test_chainer_is_imported_after_vox_compat():
    # `import vox` runs nothing (tests/test_import_side_effects.py), so a
    # module that imports Chainer needs vox.compat first: itself, or a
    # package above it (Python imports the packages first).
    late = []
    for name in MODULES:
        if name in ('vox.compat',):
            continue
        if not any(not i.local and (i.target == 'chainer' or
                                    i.target.startswith('chainer.'))
                   for i in imports_of(name)):
            continue
        parts = name.split('.')
        packages = ['.'.join(parts[:k]) for k in range(2, len(parts))]
        if not any(p in MODULES and _imports_compat_first(p)
                   for p in packages) and not _imports_compat_first(name):
            late.append(name)
    assert late == []


def test_the_commands_say_why_they_defer():
    text = (VOX / 'commands' / '__init__.py').read_text()
    assert 'inside its functions' in text and 'vox --help' in text


@pytest.mark.parametrize('source,target,ok', [
    ('vox.runs.runner', 'vox.training.store', True),
    ('vox.training.store', 'vox.runs.runner', False),
    ('vox.data.features', 'vox.data.audio', True),
    ('vox.inference.conversion', 'vox.extensions.samples', False),
    ('vox.extensions.conversion_samples', 'vox.inference.conversion', True),
])
def test_layer_order_examples(source, target, ok):
    assert (layer_of(target) <= layer_of(source)) == ok
