"""The one GeoTIFF writer of every raster this package produces.

Scene predictions (class or instance-id rasters), blended scores and
reconstructed modalities all go through :class:`GeoTiffWriter`: deflate
compression (floating-point predictor for floats), NaN nodata for floats,
striped layout (``strip_rows`` rows per strip, so a scene written in blocks of
that many rows writes every compressed strip exactly once) and BigTIFF when the
file may exceed 4 GB.
"""
import os
from typing import Mapping, Optional, Union

import numpy as np
import rasterio
from rasterio.windows import Window

__all__ = ['GeoTiffWriter', 'write_geotiff', 'STRIP_ROWS']

STRIP_ROWS = 16
PathLike = Union[str, os.PathLike]


class GeoTiffWriter:
    """A georeferenced raster opened for writing, filled in blocks of whole rows.

    Args:
        path: output file (its folder is created).
        height, width, count: raster size and number of bands.
        dtype: numpy/rasterio dtype name.
        crs, transform: georeferencing (``None``: not georeferenced).
        nodata: nodata value; default NaN for floating-point rasters, none otherwise.
        tags: dataset tags (e.g. units, source).
        strip_rows: rows per strip.

    Use as a context manager; :meth:`write_rows` writes ``(count, rows, width)``
    (or ``(rows, width)`` for one band) starting at row ``row0``.
    """

    def __init__(self, path: PathLike, height: int, width: int, count: int, dtype,
                 crs=None, transform=None, nodata: Optional[float] = None,
                 tags: Optional[Mapping[str, str]] = None, strip_rows: int = STRIP_ROWS):
        self.path = os.fspath(path)
        dtype = np.dtype(dtype).name
        floating = np.issubdtype(np.dtype(dtype), np.floating)
        if nodata is None and floating:
            nodata = float('nan')
        self.profile = dict(driver='GTiff', width=int(width), height=int(height),
                            count=int(count), dtype=dtype, compress='deflate', tiled=False,
                            blockysize=min(int(strip_rows), int(height)), BIGTIFF='IF_SAFER')
        if floating:
            self.profile['predictor'] = 3
        if crs is not None:
            self.profile['crs'] = crs
        if transform is not None:
            self.profile['transform'] = transform
        if nodata is not None:
            self.profile['nodata'] = nodata
        self.tags = dict(tags or {})
        self.dst = None

    def __enter__(self) -> 'GeoTiffWriter':
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or '.', exist_ok=True)
        self.dst = rasterio.open(self.path, 'w', **self.profile)
        if self.tags:
            self.dst.update_tags(**self.tags)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.dst is not None:
            self.dst.close()
            self.dst = None

    def write_rows(self, row0: int, block: np.ndarray) -> None:
        """Write rows ``[row0, row0 + block rows)`` of every band."""
        block = block[None] if block.ndim == 2 else block
        if block.shape[1] == 0:
            return
        window = Window(0, row0, block.shape[-1], block.shape[1])
        self.dst.write(block.astype(self.profile['dtype'], copy=False), window=window)


def write_geotiff(path: PathLike, data: np.ndarray, crs=None, transform=None,
                  nodata: Optional[float] = None,
                  tags: Optional[Mapping[str, str]] = None) -> str:
    """Write a whole ``(count, H, W)`` (or ``(H, W)``) array; returns the path."""
    data = data[None] if data.ndim == 2 else data
    count, height, width = data.shape
    with GeoTiffWriter(path, height, width, count, data.dtype, crs=crs, transform=transform,
                       nodata=nodata, tags=tags) as writer:
        writer.write_rows(0, data)
    return writer.path
