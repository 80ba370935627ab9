"""The examples in README.md and docs/ build, and their commands parse.

Every fenced ``python`` block that defines a component (``dict(type=...)``) or a
modality spec is executed as a config would be (``_base_`` resolved as if the file sat
in ``configs/fusionvit/``): each component is built through the registries (models,
transforms, hooks, metrics) or, where it needs a runner or data (loops, datasets,
schedulers), its keys are checked against the class's constructor; specs are parsed.
Other blocks (API calls that need a checkpoint or files) are checked statically: calls
of this package's functions bind to their signatures. Every shell line that runs a
script of this repository names an existing script and only ``--flags`` its parser
accepts; config paths exist. A block preceded by ``<!-- no-test: reason -->`` is not
executed (its calls and ``dict(type=...)`` keys are still checked statically).
"""
import argparse
import ast
import glob
import importlib
import importlib.util
import inspect
import os
import os.path as osp
import re
import shlex
from typing import Dict, Iterator, List, Optional, Set, Tuple

import pytest
from mmengine.config import Config
from mmengine.registry import (DATA_SAMPLERS, DATASETS, EVALUATOR, HOOKS, LOOPS, METRICS,
                               MODELS, OPTIM_WRAPPERS, OPTIMIZERS, PARAM_SCHEDULERS,
                               TASK_UTILS, TRANSFORMS, VISBACKENDS, VISUALIZERS,
                               WEIGHT_INITIALIZERS)

import incomplete_fusion  # noqa: F401  (registers the components)
from incomplete_fusion.modalities import parse_modalities

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PAGES = sorted(['README.md', *(osp.relpath(p, ROOT) for p in glob.glob(
    osp.join(ROOT, 'docs', '**', '*.md'), recursive=True)),
    *(osp.relpath(p, ROOT) for p in glob.glob(osp.join(ROOT, 'configs', '*', 'README.md')))])
FENCE = re.compile(r'^( *)```(\w*)\s*$')
NO_TEST = re.compile(r'<!--\s*no-test\b')
BUILT = (MODELS, TRANSFORMS, HOOKS, METRICS, EVALUATOR, TASK_UTILS)
CHECKED = (LOOPS, DATASETS, PARAM_SCHEDULERS, OPTIM_WRAPPERS, OPTIMIZERS, DATA_SAMPLERS,
           VISUALIZERS, VISBACKENDS, WEIGHT_INITIALIZERS)
CONTEXT = {'pipeline': TRANSFORMS, 'hooks': HOOKS, 'train_cfg': LOOPS, 'val_cfg': LOOPS,
           'test_cfg': LOOPS, 'evaluator': METRICS, 'dataset': DATASETS,
           'param_scheduler': PARAM_SCHEDULERS, 'optim_wrapper': OPTIM_WRAPPERS,
           'optimizer': OPTIMIZERS, 'sampler': DATA_SAMPLERS, 'model': MODELS,
           'backbone': MODELS, 'neck': MODELS, 'head': MODELS, 'preprocessor': MODELS}
SCOPES = ('mmseg', 'mmdet', 'mmpretrain')


def blocks(page: str) -> Iterator[Tuple[int, str, str, bool]]:
    """``(line, language, text, marked no-test)`` of each fenced block of ``page``."""
    lines, start = open(osp.join(ROOT, page), encoding='utf-8').read().splitlines(), None
    for i, line in enumerate(lines):
        match = FENCE.match(line)
        if match and start is None:
            start, indent, lang = i, len(match[1]), match[2]
        elif match:
            marked = any(NO_TEST.search(x) for x in lines[max(0, start - 2):start])
            yield start + 1, lang, '\n'.join(x[indent:] for x in lines[start + 1:i]), marked
            start = None


def snippets(langs: Tuple[str, ...]) -> List[Tuple[str, str, bool]]:
    return [(f'{page}:{line}', text, marked) for page in PAGES
            for line, lang, text, marked in blocks(page) if lang in langs]


PYTHON, SHELL = snippets(('python', 'py')), snippets(('bash', 'sh', 'shell', ''))



def accepted_keys(cls) -> Optional[Set[str]]:
    """Keyword names ``cls(...)`` accepts, following ``**kwargs`` up the MRO (None: any)."""
    names: Set[str] = set()
    inits = [k.__init__ for k in inspect.getmro(cls) if '__init__' in vars(k)
             and k is not object] if inspect.isclass(cls) else [cls]  # a registered function
    for init in inits:
        params = inspect.signature(init).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            return names
    return None


def candidates(name: str, context: str) -> List[Tuple[object, type, str]]:
    """``(registry, class, scope)`` for each scope where ``name`` is registered, the
    registry the context key (``train_pipeline``, ``custom_hooks``...) implies first."""
    preferred = [reg for key, reg in CONTEXT.items() if key in context]
    found = []
    for scope in SCOPES:
        for registry in (*preferred, *BUILT, *CHECKED):
            with registry.switch_scope_and_registry(scope) as reg:
                cls = reg.get(name)
            if cls is not None:
                found.append((registry, cls, scope))
                break
    return found


def fitting(found: list, keys: Set[str], where: str) -> list:
    """The candidates that accept every key; fails naming the keys none accepts."""
    allowed = [accepted_keys(cls) for _, cls, _ in found]
    misfits = [set() if a is None else keys - a for a in allowed]
    assert any(not m for m in misfits), \
        f'{where}: {found[0][1].__name__} does not accept {sorted(min(misfits, key=len))}'
    return [c for c, m in zip(found, misfits) if not m]


def check_dict(cfg: dict, context: str, build: bool) -> None:
    """Build ``cfg`` (a ``dict(type=...)``) through its registry, or check its keys."""
    found = candidates(cfg['type'], context)
    assert found, f'{context}: type {cfg["type"]!r} is not registered'
    found = fitting(found, {k for k in cfg if k not in ('type', '_delete_', '_scope_')},
                    context)
    if build and found[0][0] in BUILT:
        errors = []
        for registry, _, scope in found:
            try:
                with registry.switch_scope_and_registry(scope) as reg:
                    reg.build({k: v for k, v in cfg.items() if k != '_delete_'})
                return
            except Exception as exc:  # reported below if no scope builds it
                errors.append(f'{scope}: {type(exc).__name__}: {exc}')
        raise AssertionError(f'{context}: {cfg["type"]} does not build: {errors}')
    for key, value in cfg.items():
        walk(value, f'{context}.{key}', build=False)


def walk(value, context: str, build: bool) -> None:
    if isinstance(value, dict):
        if isinstance(value.get('type'), str):
            check_dict(value, context, build)
        elif {'name', 'channels'} <= set(value):
            parse_modalities([value])
        else:
            for key, item in value.items():
                walk(item, f'{context}.{key}', build)
    elif isinstance(value, (list, tuple)):
        if value and all(isinstance(v, dict) and {'name', 'channels'} <= set(v)
                         for v in value):
            parse_modalities(list(value))
        else:
            for i, item in enumerate(value):
                walk(item, f'{context}[{i}]', build)


def check_calls(tree: ast.AST, where: str) -> None:
    """Calls of names imported from ``incomplete_fusion`` and ``dict(type=...)`` calls
    bind to their signatures."""
    imported: Dict[str, object] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or '').startswith('incomplete_'):
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f'{where}: {node.module} has no {alias.name}'
                imported[alias.asname or alias.name] = getattr(module, alias.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
            continue
        if any(isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords):
            continue
        target = imported.get(node.func.id)
        if target is not None and callable(target):
            args = [None] * len(node.args)
            kwargs = {k.arg: None for k in node.keywords}
            try:
                inspect.signature(target).bind(*args, **kwargs)
            except TypeError as exc:
                raise AssertionError(f'{where}:{node.lineno}: {node.func.id}(...): {exc}')
        if node.func.id == 'dict':
            kind = [k.value.value for k in node.keywords if k.arg == 'type'
                    and isinstance(k.value, ast.Constant) and isinstance(k.value.value, str)]
            if kind:
                found = candidates(kind[0], '')
                assert found, f'{where}:{node.lineno}: {kind[0]!r} is not registered'
                fitting(found, {k.arg for k in node.keywords} - {'type', '_delete_', '_scope_'},
                        f'{where}:{node.lineno}')


def builds(tree: ast.AST) -> bool:
    """Whether a snippet defines a component (``dict(type=...)``) or a modality spec."""
    return any(isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id == 'dict'
               and ({'type'} <= {k.arg for k in n.keywords}
                    or {'name', 'channels'} <= {k.arg for k in n.keywords})
               for n in ast.walk(tree))


@pytest.fixture(scope='module')
def config_dir(tmp_path_factory) -> str:
    """A ``configs/fusionvit/`` stand-in whose ``../<layer>`` links to the real configs."""
    root = tmp_path_factory.mktemp('configs')
    for name in os.listdir(osp.join(ROOT, 'configs')):
        if osp.isdir(osp.join(ROOT, 'configs', name)) and name != 'fusionvit':
            os.symlink(osp.join(ROOT, 'configs', name), root / name)
    (root / 'fusionvit').mkdir()
    return str(root / 'fusionvit')


@pytest.mark.parametrize('where,text,marked', PYTHON, ids=[w for w, _, _ in PYTHON])
def test_python_snippet_builds(where: str, text: str, marked: bool, config_dir: str) -> None:
    try:
        tree = ast.parse(text)
    except SyntaxError as exc:
        assert marked, f'{where}: not valid Python ({exc}); fix it or mark it <!-- no-test -->'
        return
    check_calls(tree, where)
    if marked or not builds(tree):
        return
    # bare expressions (a spec, a dict) become variables, so that they are checked too
    for i, node in enumerate(tree.body):
        if isinstance(node, ast.Expr) and isinstance(node.value, (ast.Call, ast.Dict)):
            tree.body[i] = ast.Assign([ast.Name(f'_expr_{i}', ast.Store())], node.value)
    path = osp.join(config_dir, 'snippet_' + re.sub(r'\W', '_', where) + '.py')
    with open(path, 'w', encoding='utf-8') as f:
        f.write(ast.unparse(ast.fix_missing_locations(tree)))
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        cfg = Config.fromfile(path)  # ConfigDicts: mmdet reads nested keys as attributes
    finally:
        os.chdir(cwd)
    # only what the snippet itself assigns (a `_base_` brings whole stock configs)
    assigned = {t.id for node in tree.body if isinstance(node, ast.Assign)
                for t in node.targets if isinstance(t, ast.Name)} - {'_base_'}
    for key in sorted(assigned & set(cfg)):
        walk(cfg[key], f'{where}: {key}', build=True)


SCRIPT = re.compile(r'^(?:\./)?((?:tools|benchmarks)/[\w.-]+\.(?:py|sh))$')
_PARSERS: Dict[str, Set[str]] = {}


class _Parsed(Exception):
    def __init__(self, parser: argparse.ArgumentParser):
        self.parser = parser


def script_flags(script: str) -> Set[str]:
    """The ``--flags`` a script of this repository accepts."""
    if script in _PARSERS:
        return _PARSERS[script]
    path = osp.join(ROOT, script)
    if script.endswith('.sh'):
        text = open(path, encoding='utf-8').read()
        flags = set(re.findall(r'^\s*(--[\w-]+)\)', text, re.M))
        for name in set(re.findall(r'([\w/]+\.py)\b', text)):  # the scripts it runs
            target = next((t for t in (osp.join(osp.dirname(script), osp.basename(name)),
                                       name) if SCRIPT.match(t) and osp.isfile(osp.join(ROOT, t))),
                          None)
            if target:
                flags |= script_flags(target)
    else:
        spec = importlib.util.spec_from_file_location('_doc_' + osp.basename(script)[:-3], path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        original = argparse.ArgumentParser.parse_known_args
        argparse.ArgumentParser.parse_known_args = lambda self, *a, **k: (_ for _ in ()).throw(
            _Parsed(self))
        try:
            entry = getattr(module, 'parse_args', None) or module.main
            entry(*(['--help'] if inspect.signature(entry).parameters else []))
        except _Parsed as parsed:
            flags = {s for action in parsed.parser._actions for s in action.option_strings}
        else:
            raise AssertionError(f'{script}: no argparse parser found')
        finally:
            argparse.ArgumentParser.parse_known_args = original
    _PARSERS[script] = flags
    return flags


def commands(text: str) -> Iterator[List[str]]:
    """Each command of a shell block as tokens (continuations joined, comments cut)."""
    for line in text.replace('\\\n', ' ').splitlines():
        try:
            tokens = shlex.split(line, comments=True)
        except ValueError:
            continue
        command: List[str] = []
        for token in tokens + [';']:
            if token in (';', '&&', '||', '|', '&'):
                if command:
                    yield command
                command = []
            else:
                command.append(token)


@pytest.mark.parametrize('where,text,_', SHELL, ids=[w for w, _, _ in SHELL])
def test_shell_commands_parse(where: str, text: str, _: bool) -> None:
    for tokens in commands(text):
        scripts = [(i, m[1]) for i, m in enumerate(map(SCRIPT.match, tokens)) if m]
        for token in tokens:
            if re.match(r'^configs/[\w/.-]+\.py$', token):
                assert osp.isfile(osp.join(ROOT, token)), f'{where}: {token} does not exist'
        if tokens[:1] == ['make'] and len(tokens) > 1:
            makefile = open(osp.join(ROOT, 'Makefile'), encoding='utf-8').read()
            assert re.search(rf'^{tokens[1]}:', makefile, re.M), f'{where}: no make {tokens[1]}'
        if not scripts:
            continue
        index, script = scripts[0]
        assert osp.isfile(osp.join(ROOT, script)), f'{where}: {script} does not exist'
        used = {t.split('=', 1)[0] for t in tokens[index + 1:]
                if t.startswith('--') and len(t) > 2}
        accepted = script_flags(script) if used else set()
        assert used <= accepted, f'{where}: {script} does not accept {sorted(used - accepted)}'
