"""Grid arithmetic for sliding-window inference: snapping, overlaps, tiles."""
import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from ...datasets.geo_io import RasterGrid

Bounds = Tuple[float, float, float, float]  # left, bottom, right, top

__all__ = ['Bounds', 'Tile', 'format_bounds', 'intersect_bounds', 'plan_tiles', 'snapped_grid']


def intersect_bounds(a: Bounds, b: Bounds) -> Optional[Bounds]:
    """The overlap of two (left, bottom, right, top) boxes, ``None`` if they do not overlap."""
    left, bottom = max(a[0], b[0]), max(a[1], b[1])
    right, top = min(a[2], b[2]), min(a[3], b[3])
    if right <= left or top <= bottom:
        return None
    return left, bottom, right, top


def format_bounds(bounds: Bounds) -> str:
    """Bounds for messages, 6 significant digits."""
    return '(' + ', '.join(f'{v:.6g}' for v in bounds) + ')'


def snapped_grid(bounds: Bounds, crs: CRS, origin: Tuple[float, float],
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
        return grid.window(self.window())

    def extent(self, grid: RasterGrid) -> Tuple[int, int]:
        """(rows, cols) of the tile that lie inside ``grid`` (less at the bottom/right edge)."""
        return min(self.size, grid.height - self.y0), min(self.size, grid.width - self.x0)


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
