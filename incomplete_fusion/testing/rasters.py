"""Raster helpers shared by the synthetic layouts: noise, shapes, GeoTIFF writing.

Everything is deterministic given the ``numpy.random.Generator`` passed in.
"""
import os
import os.path as osp
from typing import Sequence, Tuple

import cv2
import numpy as np
import rasterio
from affine import Affine
from pycocotools import mask as mask_utils
from rasterio.crs import CRS

CRS_EPSG = 32632  # WGS 84 / UTM zone 32N


def smooth_noise(rng: np.random.Generator, shape: Tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise with features of about ``cell`` pixels."""
    h, w = shape
    gh, gw = max(2, int(np.ceil(h / cell)) + 2), max(2, int(np.ceil(w / cell)) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(coarse, (int((gw - 1) * cell), int((gh - 1) * cell)),
                     interpolation=cv2.INTER_CUBIC)
    return big[:h, :w]


def write_tif(path: str, data: np.ndarray, transform: Affine, nodata=None,
               crs_epsg: int = CRS_EPSG) -> None:
    """Write (H, W) or (C, H, W) array as a tiled, deflate-compressed GeoTIFF."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    arr = data[None] if data.ndim == 2 else data
    profile = dict(driver='GTiff', height=arr.shape[1], width=arr.shape[2], count=arr.shape[0],
                   dtype=arr.dtype, crs=CRS.from_epsg(crs_epsg), transform=transform,
                   compress='deflate')
    if arr.shape[1] >= 256 and arr.shape[2] >= 256:
        profile.update(tiled=True, blockxsize=256, blockysize=256)
    if nodata is not None:
        profile['nodata'] = nodata
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(arr)


def tile_transform(rng: np.random.Generator, pixel_m: float) -> Affine:
    """A north-up transform somewhere in UTM 32N (northern Italy / southern Germany)."""
    x0 = 500_000.0 + float(rng.integers(-40_000, 40_000))
    y0 = 5_000_000.0 + float(rng.integers(-40_000, 40_000))
    return Affine(pixel_m, 0.0, x0, 0.0, -pixel_m, y0)


def polygon_to_rle(polygon: Sequence[float], height: int, width: int) -> dict:
    """COCO compressed RLE (``counts`` as str) of one polygon, rasterised by pycocotools."""
    rle = mask_utils.merge(mask_utils.frPyObjects([list(map(float, polygon))], height, width))
    return dict(size=[int(height), int(width)], counts=rle['counts'].decode('ascii'))


def poly_mask_local(polygon: np.ndarray, shape: Tuple[int, int]) -> Tuple[np.ndarray, int, int]:
    """Rasterise a polygon (N, 2) with pycocotools on its bounding box only (fast)."""
    h, w = shape
    x0 = int(max(0, np.floor(polygon[:, 0].min()) - 1))
    y0 = int(max(0, np.floor(polygon[:, 1].min()) - 1))
    x1 = int(min(w, np.ceil(polygon[:, 0].max()) + 2))
    y1 = int(min(h, np.ceil(polygon[:, 1].max()) + 2))
    local = (polygon - [x0, y0]).reshape(-1).tolist()
    rle = mask_utils.frPyObjects([local], y1 - y0, x1 - x0)
    return mask_utils.decode(mask_utils.merge(rle)).astype(bool), y0, x0


def shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift a 2-D array by (dy, dx) pixels, filling with zeros/False."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def ellipse_hole(rng: np.random.Generator, shape: Tuple[int, int], frac: float) -> np.ndarray:
    """A soft-edged blob covering roughly ``frac`` of the image (a cloud)."""
    h, w = shape
    noise = smooth_noise(rng, shape, max(4.0, min(h, w) / 4))
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.sqrt(frac * h * w / np.pi)
    dist = np.hypot((yy - cy) / 1.3, (xx - cx)) / radius
    return dist + 0.25 * noise < 1.0
