"""Make the top-level ``data_root`` of a run the root every dataset and metric uses.

``data_root`` is copied into dataset dicts and concatenated into paths (mmdet's COCO
metric ``ann_file``) when a config FILE is parsed, so ``--cfg-options data_root=...``
or a child config that sets a new one leaves the inherited datasets pointing at the
old folder. The loops (:mod:`.loops`) call :func:`rebase_data_root` on the dataloader
and evaluator dicts they are given, before building them.
"""
import copy
from typing import Any, Iterator, Optional, Tuple


def iter_dicts(node: Any) -> Iterator[dict]:
    """Every dict nested anywhere in a config node (dataset wrappers, pipelines, ...)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from iter_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from iter_dicts(value)


def stale_data_root(cfg: Any) -> Optional[Tuple[str, str]]:
    """``(old, new)`` when every dataset dict shares one root that differs from ``cfg.data_root``.

    Datasets with several distinct roots are a deliberate setup and are left alone
    (``None``), as are configs without a top-level ``data_root``.
    """
    new_root = cfg.get('data_root', None)
    if not isinstance(new_root, str) or not new_root:
        return None
    roots = {d['data_root'] for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')
             for d in iter_dicts(cfg.get(key)) if isinstance(d.get('data_root'), str)
             and d.get('type') is not None}
    if len(roots) != 1:
        return None
    old = roots.pop().rstrip('/')
    new = new_root.rstrip('/')
    return None if not old or old == new else (old, new)


def rebase_data_root(node: Any, roots: Optional[Tuple[str, str]]) -> Any:
    """A copy of ``node`` with every string under the old root moved under the new one."""
    if roots is None or not isinstance(node, (dict, list, tuple)):
        return node
    old, new = roots

    def visit(value):
        if isinstance(value, str) and (value == old or value.startswith(old + '/')):
            return new + value[len(old):]
        if isinstance(value, dict):
            for key in list(value):
                value[key] = visit(value[key])
        elif isinstance(value, list):
            value[:] = [visit(v) for v in value]
        return value

    return visit(copy.deepcopy(node))
