"""Published figures to print beside ours, each with its source (JSON files here).

A reference file holds ``source`` (where the numbers come from), ``metric`` (the
key of our metric they compare with) and ``rows``: ``{dataset: {subset: value}}``
with subsets written as ``a+b`` in declared order.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Optional

from ..subset_table import SubsetTable, metric_label

HERE = osp.dirname(osp.abspath(__file__))


def load_reference(name: str) -> dict:
    """The reference file ``<name>.json`` of this folder (error lists the available)."""
    path = osp.join(HERE, name + '.json')
    if not osp.isfile(path):
        known = sorted(f[:-5] for f in os.listdir(HERE) if f.endswith(".json"))
        raise FileNotFoundError(f'no reference {name!r}; available: {known}')
    with open(path) as f:
        return json.load(f)


def markdown_with_reference(table: SubsetTable, reference: dict, dataset: str,
                            title: Optional[str] = None) -> str:
    """The table as markdown with a column of published figures (— where none)."""
    published: Dict[str, float] = reference['rows'].get(dataset, {})
    if not published:
        raise KeyError(f'the reference has no rows for {dataset!r}; it has '
                       f'{sorted(reference["rows"])}')
    keys = table.columns
    header = ['subset'] + [metric_label(k) for k in keys] + [
        f'published {metric_label(reference["metric"])}']
    lines: List[str] = [f'### {title}', ''] if title else []
    lines += ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for subset, metrics in table.rows:
        key = '+'.join(subset)
        values = [f'{metrics.get(k, float("nan")):.2f}' for k in keys]
        ref = published.get(key)
        lines.append('| ' + ' | '.join([key] + values + ['—' if ref is None else f'{ref:.2f}'])
                     + ' |')
    lines.append('')
    lines.append(f'Published figures: {reference["source"]}.')
    return '\n'.join(lines) + '\n'
