"""Planning a scene for sliding-window inference: inputs, reference grid, tiles.

Everything here runs on file headers only, so a bad input (unknown modality,
no CRS, wrong band count, footprints that do not overlap) is reported before a
model is built or a single tile is read. Pixels are read later, one tile at a
time, with the data layer's :func:`~incomplete_fusion.datasets.geo_io.read_modality`
(the same nodata/resampling rules as the training loader) and normalised with
the data layer's :func:`~incomplete_fusion.datasets.normalization.normalize`.

Reference grid (the grid of the output raster), by default:

* CRS, pixel size and pixel alignment of the **finest-resolution** input
  (ties: declared modality order), so the sharpest sensor is never resampled;
* extent = the **union** of all input footprints (transformed into that CRS and
  snapped outwards to its pixels), so every place seen by at least one sensor
  gets a prediction; pixels seen by none are written as nodata.

``reference='<modality>'`` uses that input's grid exactly, ``reference=<path>``
the grid of any raster, ``reference=RasterGrid(...)`` a given grid;
``extent='intersection'`` keeps only the area seen by every input and
``resolution=`` changes the pixel size (e.g. to the ground sampling distance
the model was trained at).
"""
import math
import os
from dataclasses import dataclass, field
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import calculate_default_transform, transform_bounds
from rasterio.windows import Window

from ..datasets.geo_io import RasterGrid, read_modality
from ..datasets.normalization import normalize, resolve_norm
from ..modalities import (ModalitySpec, UnknownModalityError, channel_slices, parse_modalities,
                          resolve_active, total_channels)

PathLike = Union[str, os.PathLike]
Bounds = Tuple[float, float, float, float]

__all__ = [
    'SceneInputError', 'InputRaster', 'ScenePlan', 'Tile', 'plan_scene', 'plan_tiles',
    'read_tile'
]


class SceneInputError(ValueError):
    """The scene's input files cannot be used together (raised before any compute)."""


@dataclass(frozen=True)
class InputRaster:
    """Header facts of one modality file."""

    name: str
    path: str
    crs: CRS
    transform: Affine
    width: int
    height: int
    count: int

    @property
    def grid(self) -> RasterGrid:
        return RasterGrid(self.crs, self.transform, self.height, self.width)

    @property
    def bounds(self) -> Bounds:
        return self.grid.bounds


@dataclass
class ScenePlan:
    """What :func:`plan_scene` decided: the specs, the present inputs and the grid."""

    specs: Tuple[ModalitySpec, ...]
    inputs: Dict[str, InputRaster]
    grid: RasterGrid
    reference_name: Optional[str] = None
    ignored: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def missing(self) -> Tuple[str, ...]:
        """Declared modalities without a file (they are all-NaN in every tile)."""
        return tuple(s.name for s in self.specs if s.name not in self.inputs)


@dataclass(frozen=True)
class Tile:
    """One inference window of the reference grid (``size`` × ``size`` pixels).

    ``y0, x0`` is its top-left pixel; it may extend past the grid's bottom/right
    edge when the grid is smaller than a tile (those pixels are NaN padding).
    ``core`` = (y0, y1, x0, x1) is the part of the grid this tile owns: the tiles'
    cores partition the grid, cut half-way through each overlap.
    ``neighbours`` = (top, bottom, left, right) flags telling on which sides
    another tile overlaps it (the blending weight tapers only there).
    """

    row: int
    col: int
    y0: int
    x0: int
    size: int
    core: Tuple[int, int, int, int]
    neighbours: Tuple[bool, bool, bool, bool]

    def window(self) -> Window:
        return Window(self.x0, self.y0, self.size, self.size)

    def grid(self, grid: RasterGrid) -> RasterGrid:
        """The tile's own pixel grid (same CRS and pixel size as ``grid``)."""
        transform = grid.transform @ Affine.translation(self.x0, self.y0)
        return RasterGrid(grid.crs, transform, self.size, self.size)


def _inspect(name: str, path: PathLike, spec: ModalitySpec) -> InputRaster:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SceneInputError(f'modality {name!r}: file not found: {path}')
    try:
        with rasterio.open(path) as src:
            crs, transform = src.crs, src.transform
            width, height, count = src.width, src.height, src.count
    except RasterioError as exc:
        raise SceneInputError(f'modality {name!r}: cannot open {path} as a raster: {exc}') from exc
    if crs is None:
        raise SceneInputError(
            f'modality {name!r}: {path} has no CRS (not georeferenced); assign one, '
            f'e.g. `gdal_edit.py -a_srs EPSG:XXXX {path}`')
    try:
        crs.to_wkt()
        if not (crs.is_projected or crs.is_geographic):
            raise SceneInputError(
                f'modality {name!r}: {path} has a CRS that is neither projected nor '
                f'geographic ({crs.to_string() or crs.wkt[:80]}); it cannot be reprojected')
    except CRSError as exc:
        raise SceneInputError(f'modality {name!r}: {path} has an unknown CRS: {exc}') from exc
    if transform.is_identity:
        raise SceneInputError(f'modality {name!r}: {path} has no geotransform (identity)')
    if count != spec.channels:
        raise SceneInputError(
            f'modality {name!r}: {path} has {count} band(s) but the config declares '
            f'{spec.channels} channel(s) for {name!r}')
    return InputRaster(name, path, crs, transform, width, height, count)


def _bounds_in(raster: InputRaster, crs: CRS) -> Bounds:
    """Footprint of ``raster`` in ``crs`` (densified, so curved edges are covered)."""
    if raster.crs == crs:
        return raster.bounds
    try:
        return transform_bounds(raster.crs, crs, *raster.bounds, densify_pts=21)
    except (CRSError, RasterioError, ValueError) as exc:
        raise SceneInputError(
            f'modality {raster.name!r}: cannot transform the footprint of {raster.path} from '
            f'{raster.crs} to {crs}: {exc}') from exc


def _resolution_in(raster: InputRaster, crs: CRS) -> Tuple[float, float]:
    """(x, y) pixel size of ``raster`` expressed in units of ``crs``."""
    if raster.crs == crs:
        return abs(raster.transform.a), abs(raster.transform.e)
    try:
        transform, _, _ = calculate_default_transform(raster.crs, crs, raster.width,
                                                      raster.height, *raster.bounds)
    except (CRSError, RasterioError, ValueError) as exc:
        raise SceneInputError(
            f'modality {raster.name!r}: cannot reproject {raster.path} from {raster.crs} '
            f'to {crs}: {exc}') from exc
    return abs(transform.a), abs(transform.e)


def _intersection(a: Bounds, b: Bounds) -> Optional[Bounds]:
    left, bottom = max(a[0], b[0]), max(a[1], b[1])
    right, top = min(a[2], b[2]), min(a[3], b[3])
    if right <= left or top <= bottom:
        return None
    return left, bottom, right, top


def _fmt(bounds: Bounds) -> str:
    return '(' + ', '.join(f'{v:.6g}' for v in bounds) + ')'


def _snapped_grid(bounds: Bounds, crs: CRS, origin: Tuple[float, float],
                  res: Tuple[float, float]) -> RasterGrid:
    """North-up grid covering ``bounds``, its pixel edges aligned to ``origin``."""
    xres, yres = res
    ox, oy = origin
    eps = 1e-6
    left = ox + math.floor((bounds[0] - ox) / xres + eps) * xres
    right = ox + math.ceil((bounds[2] - ox) / xres - eps) * xres
    top = oy - math.floor((oy - bounds[3]) / yres + eps) * yres
    bottom = oy - math.ceil((oy - bounds[1]) / yres - eps) * yres
    width = max(1, int(round((right - left) / xres)))
    height = max(1, int(round((top - bottom) / yres)))
    return RasterGrid(crs, Affine(xres, 0.0, left, 0.0, -yres, top), height, width)


def _grid_of_file(path: PathLike) -> RasterGrid:
    try:
        with rasterio.open(os.fspath(path)) as src:
            grid = RasterGrid(src.crs, src.transform, src.height, src.width)
    except RasterioError as exc:
        raise SceneInputError(f'cannot open reference raster {path}: {exc}') from exc
    if grid.crs is None:
        raise SceneInputError(f'reference raster {path} has no CRS')
    return grid


def plan_scene(inputs: Mapping[str, Optional[PathLike]],
               modality_specs: Sequence[Union[dict, ModalitySpec]],
               active: Optional[Sequence[str]] = None,
               reference: Union[None, str, PathLike, RasterGrid] = None,
               extent: str = 'union',
               resolution: Union[None, float, Tuple[float, float]] = None) -> ScenePlan:
    """Validate the scene's inputs and decide the reference grid; reads headers only.

    Args:
        inputs: modality name → GeoTIFF path, or ``None`` for a missing modality.
            Declared modalities not listed are missing too.
        modality_specs: the config's declared modality specs.
        active: the config's active subset (``cfg.modalities``); files of inactive
            modalities are ignored (listed in ``ScenePlan.ignored``). ``None`` = all.
        reference: ``None`` (finest input, see module docstring), a modality name,
            a raster path or a :class:`RasterGrid`.
        extent: ``'union'`` or ``'intersection'`` of the input footprints (only
            for ``reference=None``).
        resolution: output pixel size in reference-CRS units (``None`` = keep).

    Raises:
        UnknownModalityError: a name that the config does not declare.
        SceneInputError: no input, missing file, no/unknown CRS, band count differing
            from the spec, footprints not overlapping the reference grid.
    """
    specs = parse_modalities(modality_specs)
    by_name = {s.name: s for s in specs}
    declared = [s.name for s in specs]
    unknown = [n for n in inputs if n not in by_name]
    if unknown:
        raise UnknownModalityError(
            f'unknown modality name(s) {unknown}; the config declares {declared}')
    for spec in specs:
        resolve_norm(spec.norm)
    active_names = resolve_active(active, specs)
    given = {n: p for n, p in inputs.items() if p is not None and os.fspath(p) != ''}
    ignored = tuple(n for n in declared if n in given and n not in active_names)
    rasters = {
        n: _inspect(n, given[n], by_name[n])
        for n in declared if n in given and n in active_names
    }
    if not rasters:
        raise SceneInputError(
            f'no input file for any active modality (active: {list(active_names)}, '
            f'given: {sorted(given)})')
    if extent not in ('union', 'intersection'):
        raise ValueError(f"extent must be 'union' or 'intersection', got {extent!r}")

    reference_name = None
    if isinstance(reference, RasterGrid):
        grid = reference
    elif isinstance(reference, str) and reference in by_name:
        if reference not in rasters:
            raise SceneInputError(f'reference modality {reference!r} has no input file')
        reference_name = reference
        grid = rasters[reference].grid
    elif reference is not None:
        grid = _grid_of_file(reference)
    else:
        first = next(iter(rasters.values()))
        areas = {n: np.prod(_resolution_in(r, first.crs)) for n, r in rasters.items()}
        reference_name = min(rasters, key=lambda n: (areas[n], declared.index(n)))
        grid = None
    if grid is not None and (grid.transform.b != 0 or grid.transform.d != 0):
        raise SceneInputError('the reference grid is rotated; only north-up grids are supported')

    ref_raster = rasters.get(reference_name) if reference_name else None
    if grid is None:
        ref_crs = ref_raster.crs
        if ref_raster.transform.b != 0 or ref_raster.transform.d != 0:
            raise SceneInputError(
                f'reference modality {reference_name!r} ({ref_raster.path}) is rotated; pass '
                'reference=<north-up grid or raster>')
        footprints = {n: _bounds_in(r, ref_crs) for n, r in rasters.items()}
        _check_overlap(rasters, footprints, footprints[reference_name],
                       f'the reference modality {reference_name!r} ({ref_raster.path})')
        boxes = list(footprints.values())
        if extent == 'union':
            box = (min(b[0] for b in boxes), min(b[1] for b in boxes),
                   max(b[2] for b in boxes), max(b[3] for b in boxes))
        else:
            box = boxes[0]
            for other in boxes[1:]:
                box = _intersection(box, other)
                if box is None:
                    raise SceneInputError(
                        'the input footprints have no common area (extent="intersection"): ' +
                        '; '.join(f'{n}: {_fmt(b)}' for n, b in footprints.items()))
        t = ref_raster.transform
        res = (abs(t.a), abs(t.e))
        grid = _snapped_grid(box, ref_crs, (t.c, t.f), res)
    else:
        footprints = {n: _bounds_in(r, grid.crs) for n, r in rasters.items()}
        _check_overlap(rasters, footprints, grid.bounds, 'the reference grid')
    if resolution is not None:
        res = (resolution, resolution) if np.isscalar(resolution) else tuple(resolution)
        if min(res) <= 0:
            raise ValueError(f'resolution must be positive, got {resolution}')
        t = grid.transform
        grid = _snapped_grid(grid.bounds, grid.crs, (t.c, t.f), (float(res[0]), float(res[1])))
    return ScenePlan(specs, rasters, grid, reference_name, ignored)


def _check_overlap(rasters: Mapping[str, InputRaster], footprints: Mapping[str, Bounds],
                   target: Bounds, what: str) -> None:
    disjoint = [n for n, b in footprints.items() if _intersection(b, target) is None]
    if disjoint:
        detail = '; '.join(f'{n} ({rasters[n].path}): {_fmt(footprints[n])}' for n in disjoint)
        raise SceneInputError(
            f'input footprint(s) do not overlap {what} {_fmt(target)}: {detail} '
            '(wrong file or wrong CRS?)')


def _starts(length: int, size: int, stride: int) -> List[int]:
    if length <= size:
        return [0]
    starts = list(range(0, length - size, stride))
    starts.append(length - size)  # last tile flush with the edge
    return starts


def _cores(starts: Sequence[int], size: int, length: int) -> List[Tuple[int, int]]:
    cuts = [0]
    for current, following in zip(starts[:-1], starts[1:]):
        cuts.append((following + min(current + size, length)) // 2)
    cuts.append(length)
    return list(zip(cuts[:-1], cuts[1:]))


def plan_tiles(height: int, width: int, tile_size: int, overlap: int) -> List[Tile]:
    """Row-major tiles covering a ``height`` × ``width`` grid.

    Consecutive tiles overlap by at least ``overlap`` pixels; the last tile of a
    row/column is moved flush with the grid edge (overlapping more), so no tile
    needs padding unless the grid is smaller than one tile.
    """
    if tile_size <= 0:
        raise ValueError(f'tile_size must be positive, got {tile_size}')
    if not 0 <= overlap < tile_size:
        raise ValueError(f'overlap must be in [0, tile_size), got {overlap} for {tile_size}')
    stride = tile_size - overlap
    ys, xs = _starts(height, tile_size, stride), _starts(width, tile_size, stride)
    y_cores, x_cores = _cores(ys, tile_size, height), _cores(xs, tile_size, width)
    tiles = []
    for r, (y0, yc) in enumerate(zip(ys, y_cores)):
        for c, (x0, xc) in enumerate(zip(xs, x_cores)):
            neighbours = (r > 0, r < len(ys) - 1, c > 0, c < len(xs) - 1)
            tiles.append(Tile(r, c, y0, x0, tile_size, (yc[0], yc[1], xc[0], xc[1]), neighbours))
    return tiles


def read_tile(plan: ScenePlan, tile: Tile) -> np.ndarray:
    """The normalised model input of one tile: float32 (C, size, size), NaN = missing.

    Each present modality is read onto the tile's grid (only the source window
    covering the tile is read; other resolutions/CRSs are resampled, nearest for
    categorical), then normalised with its spec; missing modalities and pixels
    outside the reference grid are NaN. Per-tile statistics (``zscore='tile'``)
    are those of this tile, as the model saw per training tile.
    """
    grid = plan.grid
    tile_grid = tile.grid(grid)
    h = min(tile.size, grid.height - tile.y0)
    w = min(tile.size, grid.width - tile.x0)
    out = np.full((total_channels(plan.specs), tile.size, tile.size), np.nan, dtype=np.float32)
    slices = channel_slices(plan.specs)
    for spec in plan.specs:
        raster = plan.inputs.get(spec.name)
        if raster is None:
            continue
        data, _ = read_modality(raster.path, spec, tile_grid)
        data[h:, :] = np.nan  # outside the reference grid
        data[:, w:] = np.nan
        out[slices[spec.name]] = normalize(data, spec.norm).transpose(2, 0, 1)
    return out
