"""Synthetic stand-ins for the real releases, for tests, the demo and benchmarks.

No real data can be downloaded where this project is developed, so this package
writes small, realistic datasets in the folder layouts of the real releases:
georeferenced GeoTIFFs (EPSG:32632, plausible pixel sizes), realistic dtypes and
value ranges, COCO json with polygon and RLE segmentations. Nothing in the runtime
(datasets, tools that train or test) generates data: generation is an explicit
command, through ONE entry point, :func:`generate`::

    python tools/make_synthetic_data.py dfc2023 data/synthetic/dfc2023

    from incomplete_fusion.testing import generate
    generate('dfc2023', 'data/synthetic/dfc2023', num_train=16, num_val=4, size=256)
    generate('dfc2023', 'work_dirs/scene', scene=True, size=1024)

Layouts: ``dfc2023`` (:mod:`.dfc2023`), ``quadruplet`` (:mod:`.quadruplet`),
``oemsar`` (:mod:`.oemsar`), ``earthmiss`` (:mod:`.earthmiss`) and, where :mod:`.isprs`
is present, ``isprs_potsdam`` / ``isprs_vaihingen``. Everything
is deterministic per seed.
"""
import functools
import importlib
import inspect
import os
import os.path as osp
import shutil
from typing import Callable, Dict, Tuple

from .dfc2023 import make_dfc2023
from .quadruplet import make_quadruplet
from .rasters import polygon_to_rle
from .scene import make_scene

# layout -> (module, function, fixed keyword arguments); imported on first use, so a
# layout whose module is absent does not break the others.
_LAYOUTS: Dict[str, Tuple[str, str, dict]] = {
    'dfc2023': ('.dfc2023', 'make_dfc2023', {}),
    'quadruplet': ('.quadruplet', 'make_quadruplet', {}),
    'isprs_potsdam': ('.isprs', 'make_isprs', dict(city='potsdam')),
    'isprs_vaihingen': ('.isprs', 'make_isprs', dict(city='vaihingen')),
    'oemsar': ('.oemsar', 'make_oemsar', {}),
    'earthmiss': ('.earthmiss', 'make_earthmiss', {}),
}
SCENE_LAYOUTS = ('dfc2023', 'quadruplet')
# The size of the configs' default data (``data/synthetic/<layout>/``), as written by
# ``tools/make_synthetic_data.py <layout> <out>`` without options.
DATASET_DEFAULTS: Dict[str, dict] = {
    'dfc2023': dict(num_train=16, num_val=4, size=256),
    'quadruplet': dict(num_train=16, num_val=4, size=256),
    'oemsar': dict(num_train=16, num_test=4, size=256),
    'earthmiss': dict(per_city=2, size=256),
}


def _module_exists(name: str) -> bool:
    return osp.exists(osp.join(osp.dirname(__file__), name.lstrip('.') + '.py'))


def available_layouts() -> Tuple[str, ...]:
    """The layout names :func:`generate` accepts here."""
    return tuple(name for name, (module, _, _) in _LAYOUTS.items() if _module_exists(module))


def layout_writer(layout: str) -> Callable[..., dict]:
    """The function that writes ``layout`` (``out_dir`` first, then its options)."""
    if layout not in available_layouts():
        raise ValueError(f'unknown synthetic layout {layout!r}; available: '
                         f'{", ".join(available_layouts())}')
    module, function, fixed = _LAYOUTS[layout]
    writer = getattr(importlib.import_module(module, __name__), function)
    return functools.partial(writer, **fixed) if fixed else writer


def _check_options(writer: Callable, layout: str, options: dict) -> None:
    accepted = [p for p in inspect.signature(writer).parameters if p != 'out_dir']
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(f'the {layout} writer takes no option(s) {unknown}; it takes '
                         f'{accepted}')


def generate(layout: str, out_dir: str, *, scene: bool = False, overwrite: bool = False,
             **options) -> dict:
    """Write a synthetic dataset (or, with ``scene=True``, one large scene) to ``out_dir``.

    The data is written to a temporary sibling folder and renamed into place, so
    ``out_dir`` either holds a complete dataset or does not exist (an interrupted run
    leaves nothing half-written that a later run would take for data).

    Args:
        layout: ``dfc2023``, ``quadruplet`` or another of :func:`available_layouts`.
        out_dir: the folder to create; a dataset's ``data_root``.
        scene: write one scene whose modalities lie on different grids
            (:func:`~.scene.make_scene`) instead of a tiled dataset.
        overwrite: replace an existing ``out_dir``; otherwise an existing folder is an
            error (:class:`FileExistsError`).
        **options: the layout writer's options (``num_train``, ``num_val``, ``size``,
            ``seed``, ``cloud_holes``, ...; see :func:`make_dfc2023`,
            :func:`make_quadruplet`, :func:`make_scene`).

    Returns:
        The writer's summary (paths in it point into ``out_dir``): image counts per
        split, or (scene) modality -> file path.
    """
    if scene:
        if layout not in SCENE_LAYOUTS:
            raise ValueError(f'scenes exist for the layouts {SCENE_LAYOUTS}, not {layout!r}')
        write = functools.partial(make_scene, layout=layout)
    else:
        write = layout_writer(layout)
    _check_options(write, layout, options)
    out_dir = osp.normpath(out_dir)
    if osp.exists(out_dir) and not overwrite:
        raise FileExistsError(f'{out_dir} exists; remove it or pass overwrite=True '
                              '(--overwrite on the command line)')
    tmp = f'{out_dir}.tmp-{os.getpid()}'
    shutil.rmtree(tmp, ignore_errors=True)
    parent = osp.dirname(out_dir)
    if parent:
        os.makedirs(parent, exist_ok=True)
    try:
        result = write(tmp, **options)
        if osp.exists(out_dir):
            shutil.rmtree(out_dir)
        os.rename(tmp, out_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return _relocate(result, tmp, out_dir)


def _relocate(value, old: str, new: str):
    """``value`` with paths under ``old`` (the temporary folder) moved under ``new``."""
    if isinstance(value, str) and (value == old or value.startswith(old + os.sep)):
        return new + value[len(old):]
    if isinstance(value, dict):
        return {key: _relocate(item, old, new) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_relocate(item, old, new) for item in value)
    return value


__all__ = ['DATASET_DEFAULTS', 'available_layouts', 'generate', 'layout_writer', 'make_dfc2023',
           'make_quadruplet', 'make_scene', 'polygon_to_rle']
