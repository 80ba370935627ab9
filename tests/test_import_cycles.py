"""No import cycle in the package: a test that walks every module's imports.

Every ``import``/``from ... import`` of a package module counts, also those inside
functions (a deferred import hides a cycle, it does not remove it), except under
``if TYPE_CHECKING:`` (never executed). ``from X import name`` is an edge to
``X.name`` when that is a module, else to ``X``; a module's implicit import of its
parent packages is not an edge.
"""
import ast
import os.path as osp
from typing import Dict, List, Set

import incomplete_fusion

ROOT = osp.dirname(incomplete_fusion.__file__)
PACKAGE = 'incomplete_fusion'


def _modules() -> Dict[str, str]:
    """Module name → file, for every .py file of the package."""
    import glob
    modules = {}
    for path in glob.glob(osp.join(ROOT, '**', '*.py'), recursive=True):
        parts = osp.relpath(path, ROOT)[:-3].split(osp.sep)
        if parts[-1] == '__init__':
            parts = parts[:-1]
        modules['.'.join([PACKAGE] + parts)] = path
    return modules


def _type_checking_only(tree: ast.AST) -> Set[int]:
    """ids of the nodes under ``if TYPE_CHECKING:``."""
    skipped = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and 'TYPE_CHECKING' in ast.unparse(node.test):
            for child in node.body:
                skipped.update(id(n) for n in ast.walk(child))
    return skipped


def import_graph() -> Dict[str, Set[str]]:
    """Module → the package modules it imports."""
    modules = _modules()
    graph = {}
    for name, path in modules.items():
        is_package = path.endswith('__init__.py')
        package = name if is_package else name.rsplit('.', 1)[0]
        edges = set()
        tree = ast.parse(open(path).read(), path)
        skipped = _type_checking_only(tree)
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in modules)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split('.')
                    base = base[:len(base) - node.level + 1]
                    target = '.'.join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ''
                for alias in node.names:
                    full = f'{target}.{alias.name}'
                    if full in modules:
                        edges.add(full)
                    elif target in modules:
                        edges.add(target)
        edges.discard(name)
        graph[name] = edges
    return graph


def find_cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return cycles


def test_the_walker_finds_a_cycle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert find_cycles(graph) == [['a', 'b', 'c']]
    assert find_cycles({'a': {'b'}, 'b': set()}) == []


def test_the_walker_sees_deferred_and_relative_imports():
    graph = import_graph()
    # write_reconstructions imports the panel renderer inside the function
    deferred = [m for m, e in graph.items() if 'incomplete_fusion.visualization' in e]
    assert 'incomplete_fusion.apis.reconstruct' in deferred
    assert 'incomplete_fusion.apis.scene.engine' in graph['incomplete_fusion.apis.inference']
    assert 'incomplete_fusion.apis.model' in graph['incomplete_fusion.apis.scene.engine']


def test_no_import_cycle_in_the_package():
    cycles = find_cycles(import_graph())
    assert not cycles, 'import cycles: ' + '; '.join(' <-> '.join(c) for c in cycles)
