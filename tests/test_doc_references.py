"""Every document or section that code or docs cite exists.

Checked in every ``*.py``, ``*.md`` and ``*.sh`` file of the repository: a
``docs/....md`` path (with an ``#anchor``, a ``§N`` or a quoted section title after it)
names an existing page and heading; a relative Markdown link names an existing file
(and heading, for ``.md#anchor`` and ``#anchor``); nothing cites a ``DESIGN.md`` that is
not in the repository.
"""
import os
import os.path as osp
import re
from functools import lru_cache
from typing import Dict, List, Tuple

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SKIP_DIRS = {'.git', '.venv', '__pycache__', '.pytest_cache', 'node_modules'}
SKIP_TOP = {'work_dirs', 'data', 'build', 'dist'}  # outputs, at the repository root
DOC_PATH = re.compile(r'(?<![\w/.])(docs/[\w./-]*\.md)(?:#([\w-]+)|,? *§ *(\d+)'
                      r'|,? *["“]([^"”\n]+)["”])?')
LINK = re.compile(r'\]\(([^)\s]+)\)')
FENCE = re.compile(r'^ *```')


def repo_files() -> List[str]:
    found = []
    for top, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith('.egg-info')
                   and not (top == ROOT and d in SKIP_TOP)]
        found += [osp.relpath(osp.join(top, f), ROOT) for f in files
                  if f.endswith(('.py', '.md', '.sh'))]
    found.remove(osp.join('tests', 'test_doc_references.py'))  # its own examples
    return sorted(found)


def slug(title: str) -> str:
    """GitHub's anchor for a heading."""
    title = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', title.strip().lower())
    return re.sub(r'[^\w\- ]', '', title).replace(' ', '-')


@lru_cache(maxsize=None)
def headings(page: str) -> Tuple[Tuple[str, str], ...]:
    """``(title, anchor)`` of every heading of ``page`` outside code blocks."""
    out, seen, fenced = [], {}, False
    for line in open(osp.join(ROOT, page), encoding='utf-8'):
        if FENCE.match(line):
            fenced = not fenced
        match = None if fenced else re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if match:
            anchor = slug(match[1])
            count = seen.get(anchor, 0)
            seen[anchor] = count + 1
            out.append((match[1], anchor if count == 0 else f'{anchor}-{count}'))
    return tuple(out)


def check_section(page: str, anchor: str = None, number: str = None, title: str = None
                  ) -> str:
    """'' if ``page`` exists and has the cited section, else what is wrong."""
    if not osp.exists(osp.join(ROOT, page)):
        return f'{page} does not exist'
    if not page.endswith('.md'):
        return ''
    heads = headings(page)
    if anchor and anchor not in {a for _, a in heads}:
        return f'{page} has no section #{anchor}'
    if number and not any(re.match(rf'{number}[.)\s]', t) for t, _ in heads):
        return f'{page} has no section {number}'
    if title and not any(title.lower().strip(' .') in t.lower() for t, _ in heads):
        return f'{page} has no section titled "{title}"'
    return ''


def references(path: str) -> List[Tuple[int, str]]:
    """``(line, problem)`` for each broken citation in ``path``."""
    problems = []
    text = open(osp.join(ROOT, path), encoding='utf-8', errors='replace').read()
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if 'DESIGN.md' in line and not osp.isfile(osp.join(ROOT, 'DESIGN.md')):
            problems.append((number, 'cites DESIGN.md, which is not in the repository'))
        for match in DOC_PATH.finditer(line):
            title = match[4] if match[4] and len(match[4]) < 60 else None
            problem = check_section(osp.normpath(match[1]), match[2], match[3], title)
            if problem:
                problems.append((number, problem))
        if path.endswith('.md'):
            fenced = fenced != bool(FENCE.match(line))
            for target in ([] if fenced else LINK.findall(line)):
                if re.match(r'^[a-z]+:', target):  # http:, mailto:
                    continue
                file, _, anchor = target.partition('#')
                page = osp.normpath(osp.join(osp.dirname(path), file)) if file else path
                if page.startswith('..'):
                    problems.append((number, f'{target} points outside the repository'))
                    continue
                problem = check_section(page, anchor or None)
                if problem:
                    problems.append((number, problem))
    return problems


FILES = repo_files()


def test_the_scan_sees_the_docs() -> None:
    assert 'README.md' in FILES and 'docs/README.md' in FILES
    assert any(f.startswith('incomplete_fusion/') for f in FILES)


def test_slug_matches_github() -> None:
    assert slug('6. Typical pipelines') == '6-typical-pipelines'
    assert slug('Why the baselines collapsed, and the recipe') == \
        'why-the-baselines-collapsed-and-the-recipe'
    assert slug('Random modality combination: `ModalityDropoutHook`') == \
        'random-modality-combination-modalitydropouthook'
    assert slug('Loading checkpoints on torch >= 2.6 (what `compat.py` allows)') == \
        'loading-checkpoints-on-torch--26-what-compatpy-allows'


def test_a_broken_citation_is_found(tmp_path) -> None:
    assert check_section('docs/README.md') == ''
    assert 'does not exist' in check_section('docs/no_such_page.md')
    assert 'no section #nope' in check_section('docs/README.md', anchor='nope')


@pytest.mark.parametrize('path', FILES)
def test_citations_exist(path: str) -> None:
    problems: Dict[int, str] = dict(references(path))
    assert not problems, '\n'.join(f'{path}:{n}: {p}' for n, p in sorted(problems.items()))
