"""Reading one modality's GeoTIFF onto a target pixel grid, nodata as NaN.

Used by the loading transform (:class:`~incomplete_fusion.datasets.transforms.
LoadMultimodalImages`) for training tiles and, with a target grid and window, for
the windows of big scenes (sliding-window inference): only the part of the source
that covers the target grid is read, and a source on another grid (resolution,
extent or CRS) is resampled with rasterio (nearest for categorical maps).
"""
import math
import os
from dataclasses import dataclass
from typing import Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import rasterio
from affine import Affine
from rasterio.enums import Resampling
from rasterio.errors import RasterioError
from rasterio.warp import reproject, transform_bounds
from rasterio.windows import Window, from_bounds

from ..modalities import ModalitySpec
from . import value_checks
from .value_checks import ComplexRasterError  # noqa: F401  (raised here, re-exported)


class ModalityReadError(OSError):
    """A modality file exists but cannot be read (corrupt, not a raster)."""


class ChannelCountError(ValueError):
    """A modality file has a different number of bands than its spec declares."""


@dataclass(frozen=True)
class RasterGrid:
    """A pixel grid: CRS, affine transform (pixel → CRS coordinates) and shape."""

    crs: Optional[rasterio.crs.CRS]
    transform: Affine
    height: int
    width: int

    @property
    def shape(self) -> Tuple[int, int]:
        return self.height, self.width

    @property
    def bounds(self) -> Tuple[float, float, float, float]:
        """(left, bottom, right, top) in CRS units."""
        return _bounds(self)

    def same_as(self, other: 'RasterGrid', tol: float = 1e-6) -> bool:
        return (self.shape == other.shape and self.crs == other.crs
                and self.transform.almost_equals(other.transform, precision=tol))

    @classmethod
    def of(cls, src, window: Optional[Window] = None) -> 'RasterGrid':
        """The grid of an open dataset, or of a window of it."""
        if window is None:
            return cls(src.crs, src.transform, src.height, src.width)
        return cls(src.crs, src.window_transform(window), int(window.height), int(window.width))

    @classmethod
    def coerce(cls, value: Union['RasterGrid', Mapping]) -> 'RasterGrid':
        """A grid from a :class:`RasterGrid` or a mapping with ``crs``, ``transform``
        (an Affine or its 6 coefficients) and ``shape`` (or ``height``/``width``)."""
        if isinstance(value, cls):
            return value
        if not isinstance(value, Mapping):
            raise TypeError(f'expected a RasterGrid or a dict(crs, transform, shape), '
                            f'got {type(value).__name__}')
        crs = value.get('crs')
        if crs is not None and not isinstance(crs, rasterio.crs.CRS):
            crs = rasterio.crs.CRS.from_user_input(crs)
        transform = value['transform']
        if not isinstance(transform, Affine):
            transform = Affine(*list(transform)[:6])
        height, width = value['shape'] if 'shape' in value else (value['height'], value['width'])
        return cls(crs, transform, int(height), int(width))

    def window(self, window: Union[Window, Sequence[int]]) -> 'RasterGrid':
        """The grid of a pixel window ``(col_off, row_off, width, height)`` of this grid;
        the window may reach past the grid's edges."""
        col_off, row_off, width, height = _window_ints(window)
        return RasterGrid(self.crs, self.transform @ Affine.translation(col_off, row_off),
                          height, width)

    def inside(self, window: Union[Window, Sequence[int]]) -> Tuple[slice, slice]:
        """(rows, cols) of ``window``'s own pixels that lie inside this grid."""
        col_off, row_off, width, height = _window_ints(window)
        rows = slice(min(max(0, -row_off), height), max(0, min(height, self.height - row_off)))
        cols = slice(min(max(0, -col_off), width), max(0, min(width, self.width - col_off)))
        return rows, cols


def _window_ints(window: Union[Window, Sequence[int]]) -> Tuple[int, int, int, int]:
    if isinstance(window, Window):
        window = (window.col_off, window.row_off, window.width, window.height)
    col_off, row_off, width, height = (int(v) for v in window)
    return col_off, row_off, width, height


def _bounds(grid: RasterGrid) -> Tuple[float, float, float, float]:
    t = grid.transform
    corners = ((0, 0), (grid.width, 0), (0, grid.height), (grid.width, grid.height))
    xs = [t.a * c + t.b * r + t.c for c, r in corners]
    ys = [t.d * c + t.e * r + t.f for c, r in corners]
    return min(xs), min(ys), max(xs), max(ys)


def file_exists(path: Optional[str]) -> bool:
    return bool(path) and os.path.exists(path)


def _open(path: str, spec: ModalitySpec):
    try:
        return rasterio.open(path)
    except RasterioError as exc:
        raise ModalityReadError(f'cannot read {spec.name!r} file {path}: {exc}') from exc


def _to_float_with_nan(raw: np.ndarray, nodata: Optional[float]) -> np.ndarray:
    """(C, H, W) raw band values → float32 with nodata and non-finite values as NaN."""
    out = raw.astype(np.float32)
    if nodata is not None and not np.isnan(nodata):
        value = np.asarray(nodata).astype(raw.dtype)
        if value == nodata:  # a nodata value the dtype cannot hold matches nothing
            out[raw == value] = np.nan
    out[np.isinf(out)] = np.nan
    return out


def band_indexes(path: str, spec: ModalitySpec, count: int) -> list:
    """The 1-based band indexes of ``path`` (``count`` bands) that ``spec`` reads."""
    if spec.bands is None:
        if count != spec.channels:
            raise ChannelCountError(
                f'{path}: modality {spec.name!r} expects {spec.channels} channel(s), found '
                f'{count} band(s); to read some of them, select them in the modality spec, '
                f'e.g. bands={list(range(count, count - spec.channels, -1))[::-1]} '
                '(1-based, as GDAL), or per input in tools/infer.py: '
                f'--input {spec.name}=FILE:{count}')
        return list(range(1, count + 1))
    if max(spec.bands) > count:
        raise ChannelCountError(f'{path}: modality {spec.name!r} selects bands '
                                f'{list(spec.bands)} (1-based) but the file has {count}')
    return list(spec.bands)


def read_modality(path: str,
                  spec: ModalitySpec,
                  grid: Optional[RasterGrid] = None,
                  window: Optional[Window] = None,
                  resampling: str = 'bilinear',
                  check_values: bool = True) -> Tuple[np.ndarray, RasterGrid]:
    """Read one modality file as float32 (H, W, C), nodata → NaN, not normalised.

    Args:
        path: the GeoTIFF.
        spec: its modality spec (channel count, bands, categorical or not, nodata
            override, units).
        grid: target grid; ``None`` reads the file (or ``window`` of it) on its own grid.
        window: with ``grid=None``, the pixel window of the file to read.
        resampling: rasterio resampling for continuous modalities on another grid;
            categorical modalities always use nearest.
        check_values: on the first read of a file, check its values against
            ``spec.units`` (:mod:`.value_checks`; nothing when no units are declared).

    Returns:
        The array and the grid it lies on.

    Raises:
        ModalityReadError: the file cannot be opened or read (message names the file).
        ComplexRasterError: the file is complex-valued.
        ChannelCountError: band count differs from ``spec.channels`` (no ``bands``),
            or ``spec.bands`` names a band the file does not have.
        ValueRangeError: values impossible for, or off the scale of, ``spec.units``.
    """
    with _open(path, spec) as src:
        value_checks.check_not_complex(path, spec.name, src.dtypes)
        indexes = band_indexes(path, spec, src.count)
        nodata = spec.nodata if spec.nodata is not None else src.nodata
        check = value_checks.needs_check(path, spec) if check_values else None
        try:
            own = RasterGrid.of(src, window)
            if grid is None or grid.same_as(own):
                data = _to_float_with_nan(src.read(indexes, window=window), nodata)
                if check:  # the whole file was read: check it, else a decimated read
                    _check(src, path, spec, indexes, nodata, check,
                           data if window is None else None)
                return data.transpose(1, 2, 0), own
            if check:
                _check(src, path, spec, indexes, nodata, check)
            return _read_onto(src, spec, indexes, grid, nodata, resampling), grid
        except RasterioError as exc:
            raise ModalityReadError(f'cannot read {spec.name!r} file {path}: {exc}') from exc


def check_file_values(path: str, spec: ModalitySpec) -> None:
    """Check a file's values against ``spec.units`` now (decimated read; see
    :mod:`.value_checks`), e.g. before a scene is tiled; remembered as checked."""
    key = value_checks.needs_check(path, spec)
    if key is None:
        return
    with _open(path, spec) as src:
        value_checks.check_not_complex(path, spec.name, src.dtypes)
        indexes = band_indexes(path, spec, src.count)
        nodata = spec.nodata if spec.nodata is not None else src.nodata
        _check(src, path, spec, indexes, nodata, key)


def _check(src, path: str, spec: ModalitySpec, indexes: list, nodata, key: tuple,
           data: Optional[np.ndarray] = None) -> None:
    """Check the values of ``src`` against ``spec.units``: ``data`` (C, H, W) when the
    whole file was read, else a decimated read (overviews when it has them)."""
    if data is None:
        height, width = value_checks.decimated_shape(src.height, src.width)
        raw = src.read(indexes, out_shape=(len(indexes), height, width),
                       resampling=Resampling.nearest)
        data = _to_float_with_nan(raw, nodata)
    value_checks.check_values(data, spec, path, src.dtypes[indexes[0] - 1], key=key)


def _read_onto(src, spec: ModalitySpec, indexes: list, grid: RasterGrid, nodata,
               resampling: str) -> np.ndarray:
    """Read only the part of ``src`` covering ``grid`` and resample it onto ``grid``."""
    dst = np.full((spec.channels, grid.height, grid.width), np.nan, dtype=np.float32)
    src_crs = src.crs if src.crs is not None else grid.crs
    dst_crs = grid.crs if grid.crs is not None else src_crs
    if src_crs is None:  # neither is georeferenced: compare pixel grids in one frame
        src_crs = dst_crs = rasterio.crs.CRS.from_epsg(3857)
    left, bottom, right, top = _bounds(grid)
    if src_crs != dst_crs:
        left, bottom, right, top = transform_bounds(dst_crs, src_crs, left, bottom, right, top)
    win = from_bounds(left, bottom, right, top, transform=src.transform)
    # Round outwards with a small margin so that interpolation kernels see their neighbours.
    col0, row0 = math.floor(win.col_off) - 2, math.floor(win.row_off) - 2
    col1 = math.ceil(win.col_off + win.width) + 2
    row1 = math.ceil(win.row_off + win.height) + 2
    col0, row0 = max(col0, 0), max(row0, 0)
    col1, row1 = min(col1, src.width), min(row1, src.height)
    if col1 <= col0 or row1 <= row0:
        return dst.transpose(1, 2, 0)  # no overlap: all missing
    win = Window(col0, row0, col1 - col0, row1 - row0)
    source = _to_float_with_nan(src.read(indexes, window=win), nodata)
    method = Resampling.nearest if spec.is_categorical else Resampling[resampling]
    reproject(
        source=source,
        destination=dst,
        src_transform=src.window_transform(win),
        src_crs=src_crs,
        src_nodata=np.nan,
        dst_transform=grid.transform,
        dst_crs=dst_crs,
        dst_nodata=np.nan,
        resampling=method)
    return dst.transpose(1, 2, 0)
