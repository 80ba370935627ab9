"""Synthetic optical + SAR land-cover tiles, 8 classes (codes 1..8, 0 = ignored).

Shared by the OpenEarthMap-SAR and EarthMiss writers (:mod:`.oemsar`,
:mod:`.earthmiss`). Values as released: optical uint8 R, G, B; SAR one uint8 band of
speckled backscatter (values 1..255) with 0 marking no-data borders (a wedge along
one edge of some tiles, as in OpenEarthMap-SAR). The modalities are complementary:
classes 1/2, 3/4 and 5/6 share a colour and differ only in backscatter; classes 1/3,
2/5 and 7/8 share a backscatter level and differ only in colour. Class 0 pixels are
a few small blobs of the label map only. Deterministic per generator.
"""
import os
import os.path as osp
import warnings
from typing import Dict, Optional, Tuple

import cv2
import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import NotGeoreferencedWarning

from .rasters import smooth_noise

NUM_CLASSES = 8
# code -> mean (R, G, B); pairs (1, 2), (3, 4), (5, 6) look alike
_COLOUR = {1: (150, 120, 90), 2: (150, 120, 90), 3: (110, 110, 110), 4: (110, 110, 110),
           5: (60, 110, 50), 6: (60, 110, 50), 7: (200, 190, 120), 8: (40, 60, 140)}
# code -> mean SAR digital number; pairs (1, 3), (2, 5), (7, 8) look alike
_BACKSCATTER = {1: 40.0, 2: 110.0, 3: 40.0, 4: 170.0, 5: 110.0, 6: 230.0, 7: 70.0, 8: 70.0}


def optical_sar_tile(rng: np.random.Generator, shape: Tuple[int, int],
                     nodata_wedge: bool) -> Dict[str, np.ndarray]:
    """``label`` (H, W) uint8 codes 0..8, ``rgb`` (3, H, W) and ``sar`` (1, H, W) uint8."""
    h, w = shape
    fields = np.stack([smooth_noise(rng, shape, max(8.0, min(h, w) / 5)) for _ in range(8)])
    label = (fields.argmax(0) + 1).astype(np.uint8)
    rgb = np.zeros((3, h, w), np.float32)
    sar = np.zeros((h, w), np.float32)
    for code in range(1, NUM_CLASSES + 1):
        mask = label == code
        rgb[:, mask] = np.asarray(_COLOUR[code], np.float32)[:, None]
        sar[mask] = _BACKSCATTER[code]
    rgb += rng.normal(0, 8, rgb.shape).astype(np.float32)
    sar *= rng.gamma(4.0, 0.25, sar.shape).astype(np.float32)  # 4-look speckle, mean 1
    sar = np.clip(np.round(sar), 1, 255).astype(np.uint8)  # 0 is reserved for no data
    yy, xx = np.mgrid[0:h, 0:w]
    for _ in range(max(1, h * w // 20000)):  # unlabelled blobs (label 0, ignored)
        cy, cx, r = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 5)
        label[(yy - cy) ** 2 + (xx - cx) ** 2 < r * r] = 0
    if nodata_wedge:  # a no-data border along the left edge, widening downwards
        sar[xx < (0.1 + 0.2 * yy / h) * w] = 0
    return dict(label=label, rgb=np.clip(np.round(rgb), 0, 255).astype(np.uint8), sar=sar[None])


def write_raster(path: str, data: np.ndarray, transform: Optional[Affine],
                 epsg: Optional[int] = 32654) -> None:
    """(C, H, W) or (H, W) array to a deflate TIFF (PNG for ``.png``), georeferenced when
    ``transform`` is given."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    arr = data[None] if data.ndim == 2 else data
    if path.endswith('.png'):
        image = arr[0] if arr.shape[0] == 1 else cv2.cvtColor(arr.transpose(1, 2, 0),
                                                               cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(path, image):
            raise OSError(f'cannot write {path}')
        return
    profile = dict(driver='GTiff', height=arr.shape[1], width=arr.shape[2], count=arr.shape[0],
                   dtype=arr.dtype, compress='deflate')
    if transform is not None:
        profile.update(crs=CRS.from_epsg(epsg), transform=transform)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', NotGeoreferencedWarning)
        with rasterio.open(path, 'w', **profile) as dst:
            dst.write(arr)
