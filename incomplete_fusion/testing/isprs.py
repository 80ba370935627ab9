"""Synthetic ISPRS Potsdam / Vaihingen releases, in the releases' own folder layout.

:func:`make_isprs` writes the release folders and file names declared in
:mod:`incomplete_fusion.datasets.isprs_layout` (Potsdam: RGBIR/RGB/DSM GeoTIFFs,
nDSM JPEGs, colour-coded labels with and without boundaries; Vaihingen: IRRG
TOPs, DSM, nDSM, plain-TIFF labels), so the converter is tested on the names it
must recognise. Georeferencing as released (Potsdam UTM 33N at 5 cm, Vaihingen UTM
32N at 9 cm; nDSM JPEGs and Vaihingen labels without). The modalities are
complementary: only height separates grey roofs from streets and trees from lawns,
only infrared finds dry grass. See docs/user_guides/datasets/isprs.md.
"""
import os
import os.path as osp
import warnings
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning
from scipy import ndimage

from ..datasets.isprs_labels import index_to_colours
from ..datasets.isprs_layout import IGNORE_INDEX, get_layout
from .rasters import smooth_noise

# class → mean (R, G, B, IR) digital numbers; alternatives drawn per object.
_LOOKS = {
    0: [(124, 124, 128, 92)],                        # impervious: grey
    1: [(124, 124, 128, 92), (168, 86, 70, 105)],    # building: grey (like street) or red roof
    2: [(86, 132, 66, 205), (128, 124, 112, 190)],   # low vegetation: green or dry (grey-ish)
    3: [(76, 120, 60, 200)],                         # tree: green, like the lawn
    5: [(150, 122, 96, 128)],                        # clutter: brownish
}
_GRID = {'potsdam': (25833, 0.05, 366_000.0, 5_810_000.0),
         'vaihingen': (32632, 0.09, 496_800.0, 5_420_000.0)}
_NDSM_SCALE = 10.0  # 8-bit nDSM digital number per metre (saturates at 25.5 m)


def isprs_scene(rng: np.random.Generator, shape: Tuple[int, int]) -> Dict[str, np.ndarray]:
    """Class map (0-5), above-ground height (m) and R, G, B, IR bands of one tile."""
    h, w = shape
    cls = np.where(smooth_noise(rng, shape, 24) > 0.3, 2, 0).astype(np.uint8)
    height = np.zeros(shape, np.float32)
    looks = np.zeros((4, h, w), np.float32)
    looks[:] = np.asarray(_LOOKS[0][0], np.float32)[:, None, None]
    dry = smooth_noise(rng, shape, 40) > 0.4
    looks[:, (cls == 2) & dry] = np.asarray(_LOOKS[2][1], np.float32)[:, None]
    looks[:, (cls == 2) & ~dry] = np.asarray(_LOOKS[2][0], np.float32)[:, None]
    height[cls == 2] = 0.2
    road = np.zeros(shape, bool)
    for _ in range(2):  # two streets each way
        y, x = int(rng.integers(16, h - 32)), int(rng.integers(16, w - 32))
        road[y:y + int(rng.integers(10, 16)), :] = True
        road[:, x:x + int(rng.integers(10, 16))] = True
    cls[road] = 0
    looks[:, road] = np.asarray(_LOOKS[0][0], np.float32)[:, None]
    height[road] = 0.0

    def paint(mask: np.ndarray, label: int, look, z) -> None:
        cls[mask] = label
        looks[:, mask] = np.asarray(look, np.float32)[:, None]
        height[mask] = z if np.isscalar(z) else z[mask]

    for _ in range(max(2, h * w // 9000)):  # buildings, off the roads
        bh, bw = (int(v) for v in rng.integers(18, 48, 2))
        y, x = int(rng.integers(0, h - bh)), int(rng.integers(0, w - bw))
        box = np.zeros(shape, bool)
        box[y:y + bh, x:x + bw] = True
        if not (box & road).any():
            paint(box, 1, _LOOKS[1][int(rng.integers(2))], float(rng.uniform(5, 15)))
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(max(3, h * w // 4000)):  # trees: canopy domes
        r, cy, cx = rng.uniform(5, 11), rng.uniform(0, h), rng.uniform(0, w)
        d2 = ((yy - cy)**2 + (xx - cx)**2) / r**2
        crown = (d2 < 1) & ~road & (cls != 1)
        paint(crown, 3, _LOOKS[3][0], float(rng.uniform(4, 12)) * np.sqrt(1 - np.minimum(d2, 1)))
    rows, cols = np.nonzero(road)
    for _ in range(max(2, h * w // 8000)):  # cars on the roads, random paint
        i = int(rng.integers(len(rows)))
        ch, cw = (4, 9) if rng.random() < 0.5 else (9, 4)
        car = np.zeros(shape, bool)
        car[rows[i]:rows[i] + ch, cols[i]:cols[i] + cw] = True
        paint(car & road, 4, tuple(rng.integers(30, 250, 3)) + (80, ), 1.5)
    for _ in range(max(1, h * w // 20000)):  # clutter blobs
        r, cy, cx = rng.uniform(3, 6), rng.uniform(0, h), rng.uniform(0, w)
        paint((((yy - cy)**2 + (xx - cx)**2) < r * r) & (cls != 1), 5, _LOOKS[5][0], 0.8)
    texture = rng.normal(0, 6, (4, h, w)).astype(np.float32)
    bands = np.clip(looks + texture, 1, 254).astype(np.uint8)
    return dict(cls=cls, height=height, bands=bands)


def boundary_mask(cls: np.ndarray, radius: int) -> np.ndarray:
    """Pixels within ``radius`` of another class (what the noBoundary rasters blank)."""
    if radius <= 0:
        return np.zeros(cls.shape, bool)
    foot = np.hypot(*np.mgrid[-radius:radius + 1, -radius:radius + 1]) <= radius
    return (ndimage.maximum_filter(cls, footprint=foot, mode='nearest')
            != ndimage.minimum_filter(cls, footprint=foot, mode='nearest'))


def _write(path: str, data: np.ndarray, crs: Optional[CRS], transform: Optional[Affine]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    if path.endswith('.jpg'):  # the nDSM JPEGs: plain 8-bit images, no georeferencing
        if not cv2.imwrite(path, data[0], [cv2.IMWRITE_JPEG_QUALITY, 95]):
            raise OSError(f'cannot write {path}')
        return
    profile = dict(driver='GTiff', height=data.shape[1], width=data.shape[2],
                   count=data.shape[0], dtype=data.dtype, compress='deflate')
    if crs is not None:
        profile.update(crs=crs, transform=transform)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(path, 'w', **profile) as dst:
            dst.write(data)


def make_isprs(out_dir: str,
               city: str = 'potsdam',
               num_train: int = 2,
               num_val: int = 1,
               size: Union[int, Tuple[int, int]] = 320,
               seed: int = 0,
               tiles: Optional[Sequence[str]] = None,
               omit: Optional[Mapping[str, Sequence[str]]] = None,
               marker: Optional[Tuple[int, int]] = None,
               georeferenced: bool = True,
               erode_radius: int = 2) -> dict:
    """Write a synthetic release of ``city`` into ``out_dir``.

    Args:
        num_train, num_val: tiles taken from the head of the default train/val lists
            (ignored when ``tiles`` is given).
        size: tile size, ``int`` or ``(height, width)``.
        omit: tile → release sources not to write (``{'2_10': ['ndsm']}``), to test
            incomplete copies. Sources: :data:`~incomplete_fusion.datasets.isprs_layout.POTSDAM`
            ``.sources`` keys (``rgbir``, ``rgb``, ``dsm``, ``ndsm``, ``label``,
            ``label_eroded``; Vaihingen ``top`` instead of ``rgbir``/``rgb``).
        marker: ``(row, col)`` of an 8×8 marker stamped into every source of every
            tile: optical 255 except green 0, height 25.5 m, label clutter.
        erode_radius: boundary half-width of the noBoundary labels (ISPRS used 3 px
            at full resolution).

    Returns:
        ``dict(city, splits={split: tiles}, files={tile: {source: relative path}})``.
    """
    layout = get_layout(city)
    shape = (size, size) if isinstance(size, int) else tuple(size)
    splits = ({'train': list(layout.splits['train'][:num_train]),
               'val': list(layout.splits['val'][:num_val])} if tiles is None else
              {'custom': list(tiles)})
    epsg, pixel, x0, y0 = _GRID[layout.name]
    rng = np.random.default_rng((seed, sorted(_GRID).index(layout.name)))
    files: Dict[str, Dict[str, str]] = {}
    for n, tile in enumerate(t for ts in splits.values() for t in ts):
        scene = isprs_scene(rng, shape)
        cls, height, bands = scene['cls'], scene['height'], scene['bands']
        if marker is not None:
            r, c = marker
            cls[r:r + 8, c:c + 8], height[r:r + 8, c:c + 8] = 5, 25.5
            bands[:, r:r + 8, c:c + 8] = np.array([255, 0, 255, 255], np.uint8)[:, None, None]
        terrain = 34.0 + 1.5 * smooth_noise(rng, shape, 80)
        dsm = (terrain + ndimage.gaussian_filter(height, 0.7)).astype(np.float32)
        ndsm = np.clip(np.round(height * _NDSM_SCALE), 0, 255).astype(np.uint8)
        colours = index_to_colours(cls)
        eroded = index_to_colours(np.where(boundary_mask(cls, erode_radius), IGNORE_INDEX, cls))
        r_, g_, b_, ir = bands
        content = dict(rgbir=bands, rgb=bands[:3], top=np.stack([ir, r_, g_]), dsm=dsm[None],
                       ndsm=ndsm[None], label=colours, label_eroded=eroded)
        transform = Affine(pixel, 0, x0 + n * shape[1] * pixel, 0, -pixel, y0)
        files[tile] = {}
        for key in layout.sources:
            if key in (omit or {}).get(tile, ()):
                continue
            rel = layout.example(key, tile)
            georef = georeferenced and not rel.endswith('.jpg') and not (
                layout.name == 'vaihingen' and layout.sources[key].is_label)
            _write(osp.join(out_dir, rel), content[key], CRS.from_epsg(epsg) if georef else None,
                   transform)
            files[tile][key] = rel
    return dict(city=layout.name, splits=splits, files=files)
