"""Merging overlapping tile predictions with bounded memory.

Tiles are processed row by row (row-major). Output row ``y`` can no longer change
once every tile covering it is done, i.e. once the next tile row starts below
``y``. :class:`RowBuffer` therefore holds only a strip of rows — at most
``tile_size + flush_rows`` rows of the full scene width — and hands finished
rows to a writer in blocks of ``flush_rows`` (the output's strip height, so
each compressed GeoTIFF strip is written exactly once).
"""
from typing import Iterator, Tuple

import numpy as np

__all__ = ['RowBuffer', 'tile_weight']


def _ramp(size: int, overlap: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """1-D weight: raised cosine over ``overlap`` pixels on tapered sides, 1 elsewhere."""
    w = np.ones(size, dtype=np.float32)
    if overlap <= 0:
        return w
    n = min(overlap, size)
    # strictly positive, rising to 1: tiles that overlap hand over smoothly
    rise = 0.5 - 0.5 * np.cos(np.pi * (np.arange(n, dtype=np.float32) + 1) / (n + 1))
    if taper_start:
        w[:n] = np.minimum(w[:n], rise)
    if taper_end:
        w[size - n:] = np.minimum(w[size - n:], rise[::-1])
    return w


def tile_weight(size: int, overlap: int,
                neighbours: Tuple[bool, bool, bool, bool] = (True, ) * 4) -> np.ndarray:
    """Separable (size, size) blending weight of a tile.

    It tapers (smoothly, never to 0) only on the sides where another tile
    overlaps (``neighbours`` = top, bottom, left, right), so pixels covered by a
    single tile keep weight 1 and their prediction equals that tile's.
    """
    top, bottom, left, right = neighbours
    wy = _ramp(size, overlap, top, bottom)
    wx = _ramp(size, overlap, left, right)
    return wy[:, None] * wx[None, :]


class RowBuffer:
    """A strip of ``channels`` × rows × ``width`` accumulators over a tall raster.

    Args:
        channels: leading dimension (classes for semantic scores, 1 for ids).
        width: raster width.
        height: raster height.
        capacity: rows held at once (``tile_size + flush_rows`` suffices).
        dtype: accumulator dtype.
        flush_rows: finished rows are released in multiples of this.
    """

    def __init__(self, channels: int, width: int, height: int, capacity: int, dtype=np.float32,
                 flush_rows: int = 16):
        self.width, self.height = width, height
        self.capacity = min(capacity, height)
        self.flush_rows = max(1, flush_rows)
        self.start = 0  # first raster row held
        self.data = np.zeros((channels, self.capacity, width), dtype=dtype)

    @property
    def nbytes(self) -> int:
        return self.data.nbytes

    def view(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Writable view of raster rows ``[y0, y1)`` and columns ``[x0, x1)``."""
        if y0 < self.start or y1 > self.start + self.capacity:
            raise IndexError(f'rows [{y0}, {y1}) outside the held strip '
                             f'[{self.start}, {self.start + self.capacity})')
        return self.data[:, y0 - self.start:y1 - self.start, x0:x1]

    def release(self, until: int) -> Iterator[Tuple[int, np.ndarray]]:
        """Yield ``(row0, block)`` for finished rows before ``until`` and drop them.

        ``until`` is rounded down to a multiple of ``flush_rows`` unless it is
        the raster height (the end). Blocks are copies; the strip then shifts.
        """
        until = min(until, self.height)
        if until < self.height:
            until = (until // self.flush_rows) * self.flush_rows
        if until <= self.start:
            return
        n = until - self.start
        block = self.data[:, :n].copy()
        self.data[:, :self.capacity - n] = self.data[:, n:]
        self.data[:, self.capacity - n:] = 0
        self.start = until
        yield until - n, block
