"""ISPRS colour-coded label rasters ↔ class indices (table in :mod:`.isprs_layout`)."""
import numpy as np

from .isprs_layout import BOUNDARY_COLOUR, CLASSES, IGNORE_INDEX, PALETTE


def _codes(rgb: np.ndarray) -> np.ndarray:
    """24-bit integer code per colour; ``rgb`` is (3, ...) (r << 16 | g << 8 | b)."""
    rgb = rgb.astype(np.int64)
    return (rgb[0] << 16) | (rgb[1] << 8) | rgb[2]


_TABLE = np.array(PALETTE + [list(BOUNDARY_COLOUR)], np.int64)  # (7, 3)
_TABLE_INDEX = np.array(list(range(len(PALETTE))) + [IGNORE_INDEX], np.uint8)
_ORDER = np.argsort(_codes(_TABLE.T))
_SORTED_CODES = _codes(_TABLE.T)[_ORDER]


def colours_to_index(rgb: np.ndarray, unknown: str = 'error', where: str = 'label') -> np.ndarray:
    """(3, H, W) ISPRS label colours → (H, W) uint8 class indices (black → 255).

    ``unknown`` says what a colour outside the table becomes: ``'error'`` (raise,
    naming ``where`` and the most frequent offending colours), ``'ignore'`` (255) or
    ``'nearest'`` (the closest table colour, for copies re-saved with lossy
    compression).
    """
    if unknown not in ('error', 'ignore', 'nearest'):
        raise ValueError(f"unknown must be 'error', 'ignore' or 'nearest', got {unknown!r}")
    codes = _codes(np.asarray(rgb)[:3])
    pos = np.clip(np.searchsorted(_SORTED_CODES, codes), 0, len(_SORTED_CODES) - 1)
    known = _SORTED_CODES[pos] == codes
    out = _TABLE_INDEX[_ORDER[pos]]
    if known.all():
        return out
    bad = ~known
    if unknown == 'error':
        values, counts = np.unique(codes[bad], return_counts=True)
        top = np.argsort(-counts)[:5]
        shown = ', '.join(f'{tuple(int(v) >> s & 255 for s in (16, 8, 0))} ×{counts[i]}'
                          for i, v in zip(top, values[top]))
        table = ', '.join(f'{c} {tuple(p)}' for c, p in zip(CLASSES, PALETTE))
        raise ValueError(
            f'{where}: {int(bad.sum())} pixel(s) have colours that are not ISPRS classes '
            f'({shown}); classes: {table}, boundary {BOUNDARY_COLOUR}. Pass '
            "unknown_colour='nearest' (snap to the closest class colour) or 'ignore' (→ 255)")
    if unknown == 'ignore':
        out[bad] = IGNORE_INDEX
    else:
        pixels = np.asarray(rgb)[:3][:, bad].astype(np.int64).T  # (N, 3)
        dist = np.abs(pixels[:, None, :] - _TABLE[None]).sum(-1)
        out[bad] = _TABLE_INDEX[dist.argmin(1)]
    return out


def index_to_colours(index: np.ndarray) -> np.ndarray:
    """(H, W) class indices → (3, H, W) uint8 ISPRS colours (255 → black boundary)."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(PALETTE)] = PALETTE
    return lut[np.asarray(index, np.uint8)].transpose(2, 0, 1).copy()
