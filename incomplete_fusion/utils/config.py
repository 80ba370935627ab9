"""Config helpers: make the top-level modality variables take effect everywhere.

An mmengine config variable such as ``modalities`` is substituted into the dicts
that use it when the config FILE is parsed; overriding it afterwards with
``--cfg-options modalities=[sar,dsm]`` changes only the top-level key. The same
holds for a child config that redefines ``modality_specs`` or ``data_root``
declared in its base. :func:`apply_modalities` is the one place that writes the
validated top-level modality values into every component that consumes them,
:func:`sync_data_root` does the same for ``data_root``, and :func:`load_config`
(used by the tools) applies both.
"""
import copy
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config, ConfigDict

from ..modalities import parse_modalities, resolve_active

# Component type -> (argument receiving the ACTIVE names, argument receiving the
# declared specs). ``None`` means the component does not take that value.
# Extend with :func:`register_modality_consumer` for new components.
MODALITY_CONSUMERS: Dict[str, Tuple[Optional[str], Optional[str]]] = {
    'SelectModalities': ('modalities', 'modality_specs'),
    'LoadMultimodalImages': (None, 'modality_specs'),
    'ModalityDropoutHook': ('modalities', 'modality_specs'),
    'FusionViT': (None, 'modalities'),
    'MultimodalDetDataPreprocessor': (None, 'modality_specs'),
    'MultimodalSegDataPreprocessor': (None, 'modality_specs'),
}


def register_modality_consumer(type_name: str, active_arg: Optional[str] = None,
                               specs_arg: Optional[str] = None) -> None:
    """Declare that components of ``type_name`` receive the active names and/or specs."""
    MODALITY_CONSUMERS[type_name] = (active_arg, specs_arg)


def _type_name(node: dict) -> Optional[str]:
    t = node.get('type')
    if isinstance(t, str):
        return t.split('.')[-1]  # drop a scope prefix such as 'mmdet.'
    if isinstance(t, type):
        return t.__name__
    return None


def iter_dicts(node: Any) -> Iterator[dict]:
    """Every dict nested anywhere in ``node`` (dataset wrappers, pipelines, hooks...)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from iter_dicts(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            yield from iter_dicts(value)


def find_components(cfg: Any, type_name: str) -> List[dict]:
    """All nested config dicts whose ``type`` is ``type_name`` (scope ignored)."""
    return [d for d in iter_dicts(cfg) if _type_name(d) == type_name]


def _plain(value):
    if isinstance(value, ConfigDict):
        return value.to_dict()
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def apply_modalities(cfg: Config, modalities: Optional[Sequence[str]] = None) -> Tuple[str, ...]:
    """Validate the active modalities and write them (and the specs) everywhere.

    Call after merging ``--cfg-options`` and before building the runner. Uses
    ``cfg.modality_specs`` (declared, ordered) and ``modalities`` if given, else
    ``cfg.modalities`` (else all declared).

    Returns:
        The active names in declared order (also stored in ``cfg.modalities``).

    Raises:
        UnknownModalityError: a name that is not declared (message lists the declared).
        KeyError: the config declares no ``modality_specs``.
    """
    if 'modality_specs' not in cfg:
        raise KeyError('the config declares no top-level `modality_specs`')
    specs = [dict(s) for s in _plain(cfg.modality_specs)]
    parse_modalities(specs)  # validates
    if modalities is None:
        modalities = cfg.get('modalities', None)
    if isinstance(modalities, str):
        # `--cfg-options modalities=sar` arrives as a plain string
        modalities = [m for m in modalities.split(',') if m]
    active = resolve_active(None if modalities is None else list(modalities), specs)
    cfg.modalities = list(active)
    for node in iter_dicts(cfg._cfg_dict):
        consumer = MODALITY_CONSUMERS.get(_type_name(node))
        if consumer is None:
            continue
        active_arg, specs_arg = consumer
        if active_arg is not None:
            node[active_arg] = list(active)
        if specs_arg is not None:
            node[specs_arg] = copy.deepcopy(specs)
    return active


def sync_data_root(cfg: Config) -> int:
    """Make the top-level ``data_root`` the one every dataset and path uses.

    ``data_root`` is copied into dataset dicts and concatenated into paths (the
    COCO metric's ``ann_file``) when a config FILE is parsed. A child config or
    ``--cfg-options`` that sets a new ``data_root`` therefore leaves the
    inherited datasets pointing at the old folder. If all dataset dicts share
    one ``data_root`` that differs from the top-level one, that old root is
    replaced by the new one in every string that starts with it. (Datasets
    with several distinct roots are left alone.) Returns the number of values changed.
    """
    new_root = cfg.get('data_root', None)
    if not isinstance(new_root, str) or not new_root:
        return 0
    roots = {d['data_root'] for d in iter_dicts(cfg._cfg_dict)
             if isinstance(d.get('data_root'), str) and d.get('type') is not None}
    if len(roots) != 1:
        return 0
    old_root = roots.pop()
    old_base, new_base = old_root.rstrip('/'), new_root.rstrip('/')
    if not old_base or old_base == new_base:
        return 0
    changed = 0

    def visit(node, top=False):
        nonlocal changed
        items = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        for key, value in items:
            if top and key == 'data_root':
                continue
            if isinstance(value, str) and (value == old_base or value.startswith(old_base + '/')):
                node[key] = new_base + value[len(old_base):]
                changed += 1
            elif isinstance(value, (dict, list)):
                visit(value)

    visit(cfg._cfg_dict, top=True)
    return changed


def load_config(path: str, cfg_options: Optional[dict] = None) -> Config:
    """``Config.fromfile`` + ``--cfg-options`` + propagation of the top-level variables.

    This is what ``tools/train.py`` and ``tools/test.py`` do; use it from Python
    to get the same config they would run.
    """
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    sync_data_root(cfg)
    if 'modality_specs' in cfg:
        apply_modalities(cfg)
    return cfg


def describe_modalities(cfg: Config) -> str:
    """One line for the start of a run: active, inactive and declared modalities."""
    specs = parse_modalities([dict(s) for s in _plain(cfg.modality_specs)]) \
        if 'modality_specs' in cfg else ()
    if not specs:
        return 'modalities: (this config declares no modality_specs)'
    active = resolve_active(cfg.get('modalities', None), [s.__dict__ for s in specs])
    declared = ', '.join(f'{s.name}[{s.channels}]' for s in specs)
    inactive = [s.name for s in specs if s.name not in active]
    line = f'active modalities: {", ".join(active)} (declared: {declared})'
    if inactive:
        line += f'; inactive (all-NaN, files not read): {", ".join(inactive)}'
    return line
