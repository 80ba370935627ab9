"""The one GeoTIFF writer of every raster this package produces (:class:`GeoTiffWriter`).

Rows are streamed into a deflate-compressed, striped GeoTIFF under a temporary name
(every strip written once; BigTIFF when needed); on a clean close it becomes the
output as is (``format='gtiff'``) or converted by GDAL's COG driver with a bounded
cache (``'cog'``); an interrupted write leaves no output. Class rasters carry a colour
table, band descriptions and the class names (band tags, and GDAL category names with
a raster attribute table in the ``.aux.xml`` sidecar).
See docs/user_guides/3_inference.md.
"""
import json
import os
from typing import Mapping, Optional, Sequence, Tuple, Union
from xml.sax.saxutils import escape

import numpy as np
import rasterio
import rasterio.shutil
from rasterio.windows import Window

__all__ = ['GeoTiffWriter', 'write_geotiff', 'STRIP_ROWS', 'FORMATS', 'COG_CACHE_MB',
           'class_colormap', 'write_category_sidecar']

STRIP_ROWS = 16
FORMATS = ('cog', 'gtiff')
COG_BLOCKSIZE = 512
COG_CACHE_MB = 64  # GDAL block cache while the COG (and its overviews) is built
PathLike = Union[str, os.PathLike]

# Distinct colours for classes without a palette (tab20-like).
_DEFAULT_COLOURS = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40),
                    (148, 103, 189), (140, 86, 75), (227, 119, 194), (127, 127, 127),
                    (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120),
                    (152, 223, 138), (255, 152, 150), (197, 176, 213), (196, 156, 148)]


def class_colormap(num_classes: int, palette: Optional[Sequence[Sequence[int]]] = None,
                   nodata: Optional[int] = None) -> dict:
    """A rasterio colormap ``{value: (r, g, b, a)}``: the dataset ``palette`` (else
    distinct colours) for the classes, transparent for ``nodata``."""
    palette = list(palette or [])
    cmap = {}
    for k in range(num_classes):
        rgb = palette[k] if k < len(palette) else _DEFAULT_COLOURS[k % len(_DEFAULT_COLOURS)]
        cmap[k] = tuple(int(v) for v in rgb[:3]) + (255, )
    if nodata is not None:
        cmap[int(nodata)] = (0, 0, 0, 0)
    return cmap


def write_category_sidecar(path: PathLike, class_names: Sequence[str],
                           colormap: Optional[Mapping[int, Tuple[int, ...]]] = None,
                           band: int = 1) -> str:
    """GDAL PAM ``<path>.aux.xml``: category names and a thematic raster attribute
    table (value, class, r, g, b) of ``band`` (rasterio cannot write either)."""
    colormap = colormap or {}
    fields = [('Value', 0, 5), ('Class', 2, 2), ('Red', 0, 6), ('Green', 0, 7), ('Blue', 0, 8)]
    lines = ['<PAMDataset>', f'  <PAMRasterBand band="{band}">', '    <CategoryNames>']
    lines += [f'      <Category>{escape(str(n))}</Category>' for n in class_names]
    lines += ['    </CategoryNames>', '    <GDALRasterAttributeTable tableType="thematic">']
    for i, (name, kind, usage) in enumerate(fields):
        lines.append(f'      <FieldDefn index="{i}"><Name>{name}</Name><Type>{kind}</Type>'
                     f'<Usage>{usage}</Usage></FieldDefn>')
    for k, name in enumerate(class_names):
        r, g, b = (colormap.get(k) or (0, 0, 0))[:3]
        lines.append(f'      <Row index="{k}"><F>{k}</F><F>{escape(str(name))}</F>'
                     f'<F>{r}</F><F>{g}</F><F>{b}</F></Row>')
    lines += ['    </GDALRasterAttributeTable>', '  </PAMRasterBand>', '</PAMDataset>', '']
    sidecar = os.fspath(path) + '.aux.xml'
    with open(sidecar, 'w') as f:
        f.write('\n'.join(lines))
    return sidecar


def _temporary_path(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f'.{name}.part-{os.getpid()}.tif')


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
        format: ``'gtiff'`` (striped GeoTIFF) or ``'cog'`` (Cloud-Optimized GeoTIFF).
        descriptions: one description per band (e.g. ``'class'``, class names of scores).
        class_names: band 1 holds class indices: names as band tags and GDAL
            category names / attribute table (``.aux.xml``).
        colormap: band 1 colour table ``{value: (r, g, b[, a])}`` (uint8/uint16 only).
        resampling: COG overview resampling (default: ``mode`` with ``class_names``,
            ``nearest`` for other integers, ``average`` for floats).
        row_offset: the raster is rows ``[row_offset, row_offset + height)`` of a
            larger grid (a window written by one process): :meth:`write_rows` takes
            rows of that grid and writes the part inside the window.

    Use as a context manager; :meth:`write_rows` writes ``(count, rows, width)``
    (or ``(rows, width)`` for one band) starting at row ``row0``. The output
    exists only after a close without an exception.
    """

    def __init__(self, path: PathLike, height: int, width: int, count: int, dtype,
                 crs=None, transform=None, nodata: Optional[float] = None,
                 tags: Optional[Mapping[str, str]] = None, strip_rows: int = STRIP_ROWS,
                 format: str = 'gtiff', descriptions: Optional[Sequence[str]] = None,
                 class_names: Optional[Sequence[str]] = None,
                 colormap: Optional[Mapping[int, Sequence[int]]] = None,
                 resampling: Optional[str] = None, row_offset: int = 0):
        if format not in FORMATS:
            raise ValueError(f'format must be one of {FORMATS}, got {format!r}')
        self.path = os.fspath(path)
        self.format = format
        self.height, self.row_offset = int(height), int(row_offset)
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
        self.descriptions = list(descriptions or [])
        self.class_names = list(class_names) if class_names else None
        self.colormap = {int(k): tuple(int(c) for c in v) for k, v in (colormap or {}).items()}
        if resampling is None:
            resampling = 'mode' if self.class_names else ('average' if floating else 'nearest')
        self.resampling = resampling
        self.dst = None
        self.part_path = None

    def __enter__(self) -> 'GeoTiffWriter':
        os.makedirs(os.path.dirname(os.path.abspath(self.path)) or '.', exist_ok=True)
        self.part_path = _temporary_path(self.path)
        self.dst = rasterio.open(self.part_path, 'w', **self.profile)
        if self.tags:
            self.dst.update_tags(**self.tags)
        for band, text in enumerate(self.descriptions, 1):
            self.dst.set_band_description(band, text)
        if self.class_names:
            names = {f'CLASS_{k}': n for k, n in enumerate(self.class_names)}
            self.dst.update_tags(1, CLASS_NAMES=json.dumps(self.class_names), **names)
        if self.colormap:
            self.dst.write_colormap(1, self.colormap)
        return self

    def __exit__(self, exc_type, *exc) -> None:
        self.close(complete=exc_type is None)

    def close(self, complete: bool = True) -> None:
        """Finish the output (``complete``) or discard what was written."""
        if self.dst is None:
            return
        self.dst.close()
        self.dst = None
        try:
            if complete:
                self._finish()
        finally:
            if os.path.exists(self.part_path):
                os.remove(self.part_path)

    def _finish(self) -> None:
        for stale in (self.path, self.path + '.aux.xml'):
            if os.path.exists(stale):
                os.remove(stale)
        if self.format == 'cog':
            tmp = _temporary_path(self.path) + '.cog.tif'
            with rasterio.Env(GDAL_CACHEMAX=COG_CACHE_MB):
                rasterio.shutil.copy(self.part_path, tmp, driver='COG', COMPRESS='DEFLATE',
                                     BLOCKSIZE=COG_BLOCKSIZE, BIGTIFF='IF_SAFER',
                                     OVERVIEW_RESAMPLING=self.resampling.upper(),
                                     PREDICTOR='YES' if 'predictor' in self.profile else 'NO')
            os.replace(tmp, self.path)
        else:
            os.replace(self.part_path, self.path)
        if self.class_names:
            write_category_sidecar(self.path, self.class_names, self.colormap)

    def write_rows(self, row0: int, block: np.ndarray) -> None:
        """Write rows ``[row0, row0 + block rows)`` of every band (rows of the larger
        grid when ``row_offset`` is set; the part outside the raster is dropped)."""
        block = block[None] if block.ndim == 2 else block
        row0 -= self.row_offset
        first, last = max(row0, 0), min(row0 + block.shape[1], self.height)
        if last <= first:
            return
        block = block[:, first - row0:last - row0]
        window = Window(0, first, block.shape[-1], block.shape[1])
        self.dst.write(block.astype(self.profile['dtype'], copy=False), window=window)


def write_geotiff(path: PathLike, data: np.ndarray, crs=None, transform=None,
                  nodata: Optional[float] = None,
                  tags: Optional[Mapping[str, str]] = None, **options) -> str:
    """Write a whole ``(count, H, W)`` (or ``(H, W)``) array; returns the path.
    ``options``: of :class:`GeoTiffWriter` (``format``, ``descriptions``, ...)."""
    data = data[None] if data.ndim == 2 else data
    count, height, width = data.shape
    with GeoTiffWriter(path, height, width, count, data.dtype, crs=crs, transform=transform,
                       nodata=nodata, tags=tags, **options) as writer:
        writer.write_rows(0, data)
    return writer.path
