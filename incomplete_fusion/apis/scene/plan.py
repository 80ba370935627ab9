"""Planning a scene: its inputs checked and its reference grid decided, from file headers.

Everything here reads headers (plus, for specs declaring ``units``, one decimated
read per file: the value check), so a bad input (unknown modality, complex values,
no CRS, wrong band count, impossible values, footprints that do not overlap) is
reported before a model is built or a tile is read. Default grid: the CRS, pixel
size and alignment of the finest-resolution input over the union of the input
footprints; ``reference``, ``extent`` and ``resolution`` change it (:func:`plan_scene`).
See docs/user_guides/3_inference.md.
"""
import os
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Tuple, Union

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import CRSError, RasterioError
from rasterio.warp import calculate_default_transform, transform_bounds

from ...datasets.geo_io import ChannelCountError, RasterGrid, band_indexes, check_file_values
from ...datasets.value_checks import ComplexRasterError, check_not_complex, check_spec_units
from ...modalities import ModalitySet, ModalitySpec, UnknownModalityError
from .tiles import Bounds, format_bounds, intersect_bounds, snapped_grid

PathLike = Union[str, os.PathLike]

__all__ = ['SceneInputError', 'InputRaster', 'ScenePlan', 'plan_scene']


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
    """What :func:`plan_scene` decided: the modalities, the present inputs and the grid."""

    modality_set: ModalitySet
    inputs: Dict[str, InputRaster]
    grid: RasterGrid
    reference_name: Optional[str] = None
    ignored: Tuple[str, ...] = field(default_factory=tuple)

    @property
    def specs(self) -> Tuple[ModalitySpec, ...]:
        return self.modality_set.specs

    @property
    def missing(self) -> Tuple[str, ...]:
        """Declared modalities without a file (they are all-NaN in every tile)."""
        return tuple(n for n in self.modality_set.names if n not in self.inputs)

    @property
    def paths(self) -> Dict[str, str]:
        """``modality_paths`` of the scene's tiles: the files read, by modality."""
        return {name: raster.path for name, raster in self.inputs.items()}


def _inspect(name: str, path: PathLike, spec: ModalitySpec) -> InputRaster:
    path = os.fspath(path)
    if not os.path.exists(path):
        raise SceneInputError(f'modality {name!r}: file not found: {path}')
    try:
        with rasterio.open(path) as src:
            crs, transform = src.crs, src.transform
            width, height, count, dtypes = src.width, src.height, src.count, src.dtypes
    except RasterioError as exc:
        raise SceneInputError(f'modality {name!r}: cannot open {path} as a raster: {exc}') from exc
    try:  # complex data first: an SLC is also on a rotated/slant grid
        check_not_complex(path, name, dtypes)
        band_indexes(path, spec, count)
    except (ComplexRasterError, ChannelCountError) as exc:
        raise SceneInputError(str(exc)) from exc
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
               modality_set: ModalitySet,
               reference: Union[None, str, PathLike, RasterGrid] = None,
               extent: str = 'union',
               resolution: Union[None, float, Tuple[float, float]] = None,
               check_values: bool = True) -> ScenePlan:
    """Validate the scene's inputs and decide the reference grid; reads headers only.

    Args:
        inputs: modality name → GeoTIFF path, or ``None`` for a missing modality.
            Declared modalities not listed are missing too.
        modality_set: the run's declared and active modalities (e.g.
            ``modality_set_of(cfg)``, or ``.with_active(names)``); files of inactive
            modalities are ignored (listed in ``ScenePlan.ignored``).
        reference: ``None`` (finest input, see module docstring), a modality name,
            a raster path or a :class:`RasterGrid`.
        extent: ``'union'`` or ``'intersection'`` of the input footprints (only
            for ``reference=None``).
        resolution: output pixel size in reference-CRS units (``None`` = keep).
        check_values: read each file (decimated) to check its values against the
            declared units; ``False``: headers only (the grid does not depend on
            values; e.g. ranks other than 0 planning the same scene).

    Raises:
        UnknownModalityError: a name that the config does not declare.
        SceneInputError: no input, missing file, complex values, no/unknown CRS, band
            count differing from the spec (or its ``bands``), footprints not
            overlapping the reference grid.
        ValueRangeError: values impossible for a spec's declared ``units`` (the one
            pixel read of planning: a decimated read of each file, see
            :mod:`~incomplete_fusion.datasets.value_checks`).
    """
    if not isinstance(modality_set, ModalitySet):
        raise TypeError('plan_scene takes a ModalitySet (e.g. ModalitySet.from_config(specs, '
                        f'active)), got {type(modality_set).__name__}')
    mset = modality_set
    declared = list(mset.names)
    unknown = [n for n in inputs if n not in declared]
    if unknown:
        raise UnknownModalityError(
            f'unknown modality name(s) {unknown}; the config declares {declared}')
    for spec in mset.specs:
        check_spec_units(spec)
    active_names = mset.active
    given = {n: p for n, p in inputs.items() if p is not None and os.fspath(p) != ''}
    ignored = tuple(n for n in declared if n in given and n not in active_names)
    rasters = {
        n: _inspect(n, given[n], mset.spec(n))
        for n in declared if n in given and n in active_names
    }
    for name, raster in rasters.items():  # values vs declared units: a decimated read
        if check_values:
            check_file_values(raster.path, mset.spec(name))
    if not rasters:
        raise SceneInputError(
            f'no input file for any active modality (active: {list(active_names)}, '
            f'given: {sorted(given)})')
    if extent not in ('union', 'intersection'):
        raise ValueError(f"extent must be 'union' or 'intersection', got {extent!r}")

    reference_name = None
    if isinstance(reference, RasterGrid):
        grid = reference
    elif isinstance(reference, str) and reference in declared:
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
                box = intersect_bounds(box, other)
                if box is None:
                    raise SceneInputError(
                        'the input footprints have no common area (extent="intersection"): ' +
                        '; '.join(f'{n}: {format_bounds(b)}' for n, b in footprints.items()))
        t = ref_raster.transform
        res = (abs(t.a), abs(t.e))
        grid = snapped_grid(box, ref_crs, (t.c, t.f), res)
    else:
        footprints = {n: _bounds_in(r, grid.crs) for n, r in rasters.items()}
        _check_overlap(rasters, footprints, grid.bounds, 'the reference grid')
    if resolution is not None:
        res = (resolution, resolution) if np.isscalar(resolution) else tuple(resolution)
        if min(res) <= 0:
            raise ValueError(f'resolution must be positive, got {resolution}')
        t = grid.transform
        grid = snapped_grid(grid.bounds, grid.crs, (t.c, t.f), (float(res[0]), float(res[1])))
    return ScenePlan(mset, rasters, grid, reference_name, ignored)


def _check_overlap(rasters: Mapping[str, InputRaster], footprints: Mapping[str, Bounds],
                   target: Bounds, what: str) -> None:
    disjoint = [n for n, b in footprints.items() if intersect_bounds(b, target) is None]
    if disjoint:
        detail = '; '.join(f'{n} ({rasters[n].path}): {format_bounds(footprints[n])}'
                           for n in disjoint)
        raise SceneInputError(
            f'input footprint(s) do not overlap {what} {format_bounds(target)}: {detail} '
            '(wrong file or wrong CRS?)')
