"""ISPRS Potsdam / Vaihingen release → aligned per-modality patches + label indices.

Writes ``{out}/{split}/{modality,label,label_eroded}/{name}.tif``,
``{out}/splits/{split}.txt`` and ``{out}/isprs_meta.json`` (options, sources per
tile, channel statistics), read by the ISPRS datasets. Guaranteed: every file of a
patch is cut from the same pixel window of its tile (one grid for all modalities
and both labels), georeferenced from the tile's first georeferenced source; sources
are read window by window; clutter keeps its own index (5).
See docs/user_guides/datasets/isprs.md.
"""
import json
import os
import os.path as osp
import warnings
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np
import rasterio
from affine import Affine
from rasterio.errors import NotGeoreferencedWarning
from rasterio.windows import Window
from rasterio.windows import transform as window_transform

from .isprs_labels import colours_to_index
from .isprs_layout import (CLASSES, IGNORE_INDEX, CityLayout, ISPRSLayoutError, ReleaseIndex,
                           get_layout, index_release)

LABEL_DIRS = {'label': 'label', 'label_eroded': 'label_eroded'}


def patch_starts(length: int, size: int, stride: int) -> List[int]:
    """Window offsets along one axis: every ``stride``, the last one flush with the edge.

    All windows are ``size`` long (the whole axis if it is shorter), as in mmseg's
    converters, so no patch is padded.
    """
    if size <= 0 or stride <= 0:
        raise ValueError(f'size and stride must be positive, got {size}, {stride}')
    if length <= size:
        return [0]
    starts = list(range(0, length - size + 1, stride))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


def _resolve_recipes(layout: CityLayout, modalities: Sequence[str]) -> Dict[str, Tuple]:
    unknown = [m for m in modalities if m not in layout.recipes]
    if unknown:
        raise ValueError(f'{layout.name} has no modality {unknown}; available: '
                         + ', '.join(f'{k} ({r.doc})' for k, r in layout.recipes.items()))
    return {m: layout.recipes[m] for m in modalities}


def plan_splits(index: ReleaseIndex, splits: Mapping[str, Sequence[str]],
                modalities: Sequence[str], eroded: bool = True
                ) -> Dict[str, List[Tuple[str, Dict[str, str]]]]:
    """Per split, the tiles to convert with the source file of each output.

    A listed tile with no file at all is absent from this copy (skipped with one
    warning); a tile that has some files but lacks one the request needs is an
    error whose message names the tile, the modality and what was found.
    """
    layout = index.layout
    recipes = _resolve_recipes(layout, modalities)
    needs = {m: r.sources for m, r in recipes.items()}
    needs['label'] = (layout.label_sources[0], )
    if eroded:
        needs['label_eroded'] = (layout.label_sources[1], )
    plan, problems, absent = {}, [], []
    for split, tiles in splits.items():
        plan[split] = []
        for tile in tiles:
            found = index.files.get(tile)
            if not found:
                absent.append(f'{split}:{tile}')
                continue
            chosen = {}
            for out, sources in needs.items():
                have = [s for s in sources if s in found]
                if have:
                    chosen[out] = found[have[0]]
                else:
                    problems.append(_missing_message(index, split, tile, out, sources))
            plan[split].append((tile, chosen))
    if problems:
        more = f'\n({len(problems) - 5} more)' if len(problems) > 5 else ''
        raise ISPRSLayoutError('\n'.join(problems[:5]) + more)
    if absent:
        warnings.warn(f'{layout.name}: {len(absent)} listed tile(s) have no file in {index.root} '
                      f'and are skipped: {", ".join(absent)}')
    for split, tiles in plan.items():
        if not tiles:
            raise ISPRSLayoutError(
                f'{layout.name} split {split!r}: none of its tiles {list(splits[split])} is in '
                f'{index.root}; tiles found: {sorted(index.files) or "none"}; folders: '
                f'{index.folders[:20]}')
    return plan


def _missing_message(index: ReleaseIndex, split: str, tile: str, out: str,
                     sources: Sequence[str]) -> str:
    layout = index.layout
    expected = ' or '.join(f'{layout.example(s, tile)} (file pattern '
                           f'{" | ".join(layout.sources[s].files)})' for s in sources)
    others = sorted({t for s in sources for t in index.tiles_with(s)})
    elsewhere = (f"'{sources[0]}' files exist for {len(others)} other tile(s), e.g. "
                 f'{others[:3]}' if others else
                 f"no '{sources[0]}' file for any tile; folders seen: {index.folders[:12]}")
    return (f'{layout.name} tile {tile} (split {split}) is missing modality {out!r}: '
            f'expected {expected} under {index.root}. Found for this tile: '
            f'{index.describe_tile(tile)}. {elsewhere}')


def _grid(sources: Iterable) -> Tuple[Optional[rasterio.crs.CRS], Affine]:
    """CRS and transform of the first georeferenced source, else a pixel grid."""
    for src in sources:
        if src.crs is not None:
            return src.crs, src.transform
    return None, Affine.identity()


def _convert_tile(job: dict) -> dict:
    """Cut one tile into patches for every output; returns names and channel sums."""
    tile, files, out_dir, split = job['tile'], job['files'], job['out_dir'], job['split']
    size, stride, whole = job['size'], job['stride'], job['whole']
    recipes: Dict[str, Tuple[int, ...]] = job['bands']
    stats = {m: np.zeros((3, len(b)), np.float64) for m, b in recipes.items()}
    names: List[str] = []
    pixels = np.zeros(256, np.int64)
    with ExitStack() as stack, warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        srcs = {k: stack.enter_context(rasterio.open(p)) for k, p in files.items()}
        shapes = {k: (s.height, s.width) for k, s in srcs.items()}
        ref_shape = next(iter(shapes.values()))
        if any(s != ref_shape for s in shapes.values()):
            raise ISPRSLayoutError(f'tile {tile}: sources differ in size (height, width): '
                                   + ', '.join(f'{k} {s} {files[k]}' for k, s in shapes.items()))
        crs, transform = _grid(srcs.values())
        h, w = ref_shape
        if whole:  # one output file per source, filled block by block
            windows = [Window(x, y, min(size, w - x), min(size, h - y))
                       for y in range(0, h, size) for x in range(0, w, size)]
            dsts = {k: stack.enter_context(_create(out_dir, split, k, tile, srcs[k], recipes,
                                                   crs, transform, h, w)) for k in files}
            names.append(tile)
        else:
            ys, xs = patch_starts(h, size, stride), patch_starts(w, size, stride)
            windows = [Window(x, y, min(size, w), min(size, h)) for y in ys for x in xs]
        for win in windows:
            with ExitStack() as per_patch:
                if not whole:
                    names.append(f'{tile}_y{win.row_off}_x{win.col_off}')
                    dsts = {k: per_patch.enter_context(_create(
                        out_dir, split, k, names[-1], srcs[k], recipes, crs,
                        window_transform(win, transform), win.height, win.width)) for k in files}
                for key, dst in dsts.items():
                    data = _read(srcs[key], key, recipes, win, job['unknown_colour'])
                    dst.write(data, window=win if whole else None)
                    if key in stats:
                        _accumulate(stats[key], data, srcs[key].nodata)
                    elif key == 'label':
                        pixels += np.bincount(data.ravel(), minlength=256)
    return dict(split=split, tile=tile, names=names, pixels=pixels.tolist(),
                stats={k: v.tolist() for k, v in stats.items()})


def _read(src, key: str, recipes: Mapping[str, Tuple[int, ...]], win: Window,
          unknown: str) -> np.ndarray:
    if key in recipes:
        bands = list(recipes[key])
        if max(bands) > src.count:
            raise ISPRSLayoutError(f'{src.name}: {key!r} needs bands {recipes[key]}, the file '
                                   f'has {src.count}')
        return src.read(bands, window=win)
    if src.count < 3:
        raise ISPRSLayoutError(f'{src.name}: expected a colour-coded RGB label raster, found '
                               f'{src.count} band(s)')
    rgb = src.read([1, 2, 3], window=win)
    return colours_to_index(rgb, unknown, where=f'{src.name} window {win.flatten()}')[None]


def _create(out_dir: str, split: str, key: str, name: str, src, recipes: dict, crs,
            transform: Affine, height: int, width: int):
    is_label = key not in recipes
    folder = osp.join(out_dir, split, LABEL_DIRS.get(key, key))
    os.makedirs(folder, exist_ok=True)
    profile = dict(driver='GTiff', height=int(height), width=int(width),
                   count=1 if is_label else len(recipes[key]),
                   dtype='uint8' if is_label else src.dtypes[0], crs=crs, transform=transform,
                   nodata=IGNORE_INDEX if is_label else src.nodata, compress='deflate')
    if height >= 256 and width >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    return rasterio.open(osp.join(folder, name + '.tif'), 'w', **profile)


def _accumulate(acc: np.ndarray, data: np.ndarray, nodata) -> None:
    x = data.reshape(data.shape[0], -1).astype(np.float64)
    valid = np.isfinite(x) if nodata is None else np.isfinite(x) & (x != nodata)
    acc[0] += valid.sum(1)
    acc[1] += np.where(valid, x, 0).sum(1)
    acc[2] += np.where(valid, x * x, 0).sum(1)


def convert_isprs(release_dir: str, out_dir: str, city: str, *, size: int = 512,
                  stride: Optional[int] = None, modalities: Optional[Sequence[str]] = None,
                  splits: Optional[Mapping[str, Sequence[str]]] = None,
                  whole_tiles: Sequence[str] = (), eroded: bool = True,
                  unknown_colour: str = 'error', patterns: Optional[Mapping] = None,
                  workers: int = 0) -> dict:
    """Convert a release folder; returns (and writes as ``isprs_meta.json``) a summary.

    Args:
        release_dir: the unpacked release (any nesting; files matched by pattern).
        out_dir: where patches, split lists and the summary go.
        city: ``'potsdam'`` or ``'vaihingen'``.
        size, stride: patch size and step in pixels (stride default = size: no overlap).
        modalities: output modalities (default ``rgir``, ``ndsm``); see the city's recipes.
        splits: split name → tile ids (default: mmseg's train/val lists).
        whole_tiles: splits written as whole tiles (for slide inference) instead of patches.
        eroded: also write the eroded (noBoundary) labels; they are then required.
        unknown_colour: ``'error'``, ``'ignore'`` or ``'nearest'`` for label colours
            outside the ISPRS table.
        patterns: source → extra file-name regexes tried first (copies with odd names).
        workers: processes for tiles (0: in this process).
    """
    layout = get_layout(city)
    stride = stride or size
    if patterns:
        layout = layout.with_patterns(patterns)
    modalities = list(modalities or layout.default_modalities)
    splits = {k: list(v) for k, v in (splits or layout.splits).items()}
    unknown_splits = set(whole_tiles) - set(splits)
    if unknown_splits:
        raise ValueError(f'whole_tiles names unknown split(s) {sorted(unknown_splits)}')
    index = index_release(release_dir, layout)
    plan = plan_splits(index, splits, modalities, eroded)
    bands = {m: layout.recipes[m].bands for m in modalities}
    jobs = [dict(tile=tile, split=split, out_dir=out_dir, size=size, stride=stride,
                 whole=split in whole_tiles, bands=bands, unknown_colour=unknown_colour,
                 files=chosen)
            for split, tiles in plan.items() for tile, chosen in tiles]
    if workers > 0:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_convert_tile, jobs))
    else:
        results = [_convert_tile(job) for job in jobs]
    return _write_summary(out_dir, layout, plan, results, dict(
        city=layout.name, size=size, stride=stride, modalities=modalities,
        whole_tiles=list(whole_tiles), eroded=eroded, unknown_colour=unknown_colour,
        release_dir=osp.abspath(release_dir)))


def _write_summary(out_dir: str, layout: CityLayout, plan: dict, results: List[dict],
                   options: dict) -> dict:
    os.makedirs(osp.join(out_dir, 'splits'), exist_ok=True)
    summary = dict(options, classes=list(CLASSES), ignore_index=IGNORE_INDEX,
                   label_encoding='0-5 = classes in order (clutter 5), 255 = eroded boundary',
                   modality_docs={m: layout.recipes[m].doc for m in options['modalities']},
                   splits={}, stats={})
    for split in plan:
        mine = [r for r in results if r['split'] == split]
        names = [n for r in mine for n in r['names']]
        with open(osp.join(out_dir, 'splits', f'{split}.txt'), 'w') as f:
            f.writelines(f'{split}/{n}\n' for n in names)
        pixels = np.sum([r['pixels'] for r in mine], axis=0)
        summary['splits'][split] = dict(
            tiles={r['tile']: dict(plan[split])[r['tile']] for r in mine},
            num_samples=len(names),
            label_pixels=dict({c: int(pixels[i]) for i, c in enumerate(CLASSES)},
                              ignored=int(pixels[IGNORE_INDEX])))
    stat_split = 'train' if 'train' in plan else next(iter(plan))
    for m in options['modalities']:
        acc = sum(np.asarray(r['stats'][m]) for r in results if r['split'] == stat_split)
        n = np.maximum(acc[0], 1)
        mean = acc[1] / n
        std = np.sqrt(np.maximum(acc[2] / n - mean**2, 0))
        summary['stats'][m] = dict(split=stat_split, mean=mean.round(4).tolist(),
                                   std=std.round(4).tolist())
    with open(osp.join(out_dir, 'isprs_meta.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    return summary
