"""Synthetic quadruplet LULC: Sentinel-1, Sentinel-2, DEM, Dynamic World and labels.

Class pairs are confusable in single modalities and separable only by combining
them, e.g. urban fabric vs industrial (same spectrum, different SAR backscatter),
urban green vs pastures (same spectrum and backscatter, different terrain height
band and map label), bare arable fields vs built-up (similar spectrum; map and
backscatter differ).

Layout: that of :class:`~incomplete_fusion.datasets.QuadrupletLULCDataset`, whose
module owns the class lists and the ignore value written here.
"""
import os
import os.path as osp
from typing import Dict, Sequence

import cv2
import numpy as np

from ..datasets.quadruplet import IGNORE_INDEX
from .rasters import ellipse_hole, smooth_noise, tile_transform, write_tif

QUAD_PIXEL_M = 10.0
# Spectral signatures (B2, B3, B4, B8 reflectance ×10000) per 9-class label.
_S2_SIGNATURE = np.array([
    [1500, 1450, 1500, 1900],  # urban fabric
    [1530, 1480, 1520, 1930],  # industrial: same as urban fabric
    [1300, 1250, 1250, 1450],  # transport
    [1200, 1250, 1050, 2500],  # urban green
    [1200, 1250, 1050, 2500],  # arable (green crop; bare soil drawn below)
    [1200, 1250, 1050, 2500],  # pastures: same as urban green
    [1150, 1150, 950, 2300],  # forest
    [1300, 1320, 1250, 2200],  # herbaceous
    [1250, 1150, 900, 800],  # water
], np.float32)
_BARE_SOIL = np.array([1480, 1460, 1540, 1960], np.float32)  # ≈ built-up spectrum
# Backscatter (VV, VH) in dB per class.
_S1_SIGNATURE = np.array([
    [-6.0, -13.0], [-2.0, -11.0], [-14.0, -22.0], [-10.0, -16.0], [-8.0, -15.0],
    [-10.0, -16.0], [-7.5, -12.5], [-11.0, -17.0], [-20.0, -26.0]], np.float32)
# Dynamic World label per class: (most likely, alternative).
_DW_OF_CLASS = [(6, 6), (6, 7), (6, 7), (2, 1), (4, 7), (2, 2), (1, 1), (5, 2), (0, 0)]
# Class priors per terrain band (lowest, middle, highest third of the tile's own
# terrain: the DEM is z-scored per tile, so only relative height is a usable cue);
# transport is drawn as roads.
_CLASS_PRIOR = np.array([
    [.22, .15, 0, .18, .20, .0, .0, .0, .25],
    [.08, .04, 0, .06, .30, .30, .14, .08, .0],
    [.0, .0, 0, .0, .0, .25, .40, .35, .0],
], np.float64)


def quadruplet_content(rng: np.random.Generator, size: int) -> dict:
    h = w = size
    cell = max(8, size // 8)
    terrain = 320 + 180 * smooth_noise(rng, (h, w), size / 1.5)
    terrain += 15 * smooth_noise(rng, (h, w), size / 8)
    # Land parcels: coarse class grid, warped so boundaries are irregular.
    gh, gw = h // cell + 2, w // cell + 2
    rows = np.clip(np.arange(gh) * cell, 0, h - 1)
    cols = np.clip(np.arange(gw) * cell, 0, w - 1)
    centres = terrain[rows][:, cols]
    band = np.digitize(centres, np.percentile(centres, [33.3, 66.7]))
    coarse = np.zeros((gh, gw), np.int64)
    bare = np.zeros((gh, gw), bool)
    for (i, j), b in np.ndenumerate(band):
        coarse[i, j] = rng.choice(9, p=_CLASS_PRIOR[b] / _CLASS_PRIOR[b].sum())
        bare[i, j] = coarse[i, j] == 4 and rng.random() < 0.5
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    wy = yy + 0.35 * cell * smooth_noise(rng, (h, w), cell / 2)
    wx = xx + 0.35 * cell * smooth_noise(rng, (h, w), cell / 2)
    iy = np.clip(np.rint(wy / cell), 0, gh - 1).astype(int)
    ix = np.clip(np.rint(wx / cell), 0, gw - 1).astype(int)
    label = coarse[iy, ix]
    parcel = iy * gw + ix
    is_bare = bare[iy, ix]
    # Roads (transport).
    road = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 3))):
        p0 = tuple(int(v) for v in rng.uniform(0, size, 2))
        p1 = tuple(int(v) for v in rng.uniform(0, size, 2))
        cv2.line(road, p0, p1, 1, int(rng.integers(1, 3)))
    label[road.astype(bool)] = 2
    is_bare &= label == 4
    # Water is flat and low.
    water = label == 8
    if water.any():
        terrain[water] = np.minimum(terrain[water], np.percentile(terrain[water], 20))

    # Sentinel-2: class signature + per-parcel offset + pixel noise.
    s2 = _S2_SIGNATURE[label].copy()
    s2[is_bare] = _BARE_SOIL
    parcel_offset = rng.normal(0, 60, (gh * gw + 1, 4)).astype(np.float32)
    s2 += parcel_offset[np.clip(parcel, 0, gh * gw)] + rng.normal(0, 70, (h, w, 4))
    s2 = np.clip(np.rint(s2), 1, 10000).astype(np.uint16)  # 0 = nodata

    # Sentinel-1: backscatter with speckle (in linear power), stored in dB.
    s1_db = _S1_SIGNATURE[label] + 0.7 * smooth_noise(rng, (h, w), 4)[..., None]
    s1_db[is_bare] += np.array([-2.0, -3.0], np.float32)
    lin = 10 ** (s1_db / 10) * rng.gamma(5.0, 1 / 5.0, (h, w, 2))
    s1 = (10 * np.log10(lin)).astype(np.float32)

    dem = (terrain + rng.normal(0, 1.0, (h, w))).astype(np.float32)

    # Dynamic World map: mostly right, blocky (coarser), 15 % of parcels confused.
    dw_choice = np.array([_DW_OF_CLASS[c][int(rng.random() < 0.3)] for c in range(9)])
    dw = dw_choice[label].astype(np.uint8)
    dw[is_bare] = 7
    confused = rng.random(gh * gw + 1) < 0.15
    random_class = rng.integers(0, 8, gh * gw + 1)
    flip = confused[np.clip(parcel, 0, gh * gw)]
    dw[flip] = random_class[np.clip(parcel, 0, gh * gw)][flip]
    dw = cv2.resize(cv2.resize(dw, (max(1, w // 2), max(1, h // 2)),
                               interpolation=cv2.INTER_NEAREST), (w, h),
                    interpolation=cv2.INTER_NEAREST)

    label = label.astype(np.uint8)
    unlabelled = smooth_noise(rng, (h, w), max(4, size / 10)) > 2.0
    label[unlabelled] = IGNORE_INDEX
    return dict(s1=s1.transpose(2, 0, 1), s2=s2.transpose(2, 0, 1), dem=dem, dw=dw,
                label=label)


def make_quadruplet(out_dir: str, num_train: int = 4, num_val: int = 2, size: int = 64,
                    seed: int = 0, cloud_holes: float = 0.0, hole_fraction: float = 0.15,
                    regions: Sequence[str] = ('region_a', 'region_b')) -> Dict[str, int]:
    """Write a quadruplet-LULC-like dataset.

    Layout: ``{region}/{s1,s2,dem,dw,label}/{tile}.tif`` and ``splits/{train,val}.txt``
    (lines ``region/tile``). S2 uint16 (B2, B3, B4, B8; nodata 0), S1 float32 dB
    (VV, VH), DEM float32 m, DW uint8 classes 0–8, label uint8 (9 classes, 255 =
    ignore). ``cloud_holes`` is the probability of a nodata hole in a tile's S2.
    """
    summary = {}
    for split_idx, (split, num) in enumerate((('train', num_train), ('val', num_val))):
        lines = []
        for i in range(num):
            rng = np.random.default_rng([seed, 100 + split_idx, i])
            content = quadruplet_content(rng, size)
            transform = tile_transform(rng, QUAD_PIXEL_M)
            region = regions[i % len(regions)]
            tile = f'{split}_{i:04d}'
            s2 = content['s2']
            if rng.random() < cloud_holes:
                s2[:, ellipse_hole(rng, (size, size), hole_fraction)] = 0
            base = osp.join(out_dir, region)
            write_tif(osp.join(base, 's2', tile + '.tif'), s2, transform, nodata=0)
            write_tif(osp.join(base, 's1', tile + '.tif'), content['s1'], transform)
            write_tif(osp.join(base, 'dem', tile + '.tif'), content['dem'], transform,
                       nodata=-9999.0)
            write_tif(osp.join(base, 'dw', tile + '.tif'), content['dw'], transform)
            write_tif(osp.join(base, 'label', tile + '.tif'), content['label'], transform,
                       nodata=IGNORE_INDEX)
            lines.append(f'{region}/{tile}')
        os.makedirs(osp.join(out_dir, 'splits'), exist_ok=True)
        with open(osp.join(out_dir, 'splits', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        summary[split] = dict(images=len(lines))
    return summary
