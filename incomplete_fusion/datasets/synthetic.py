"""Synthetic multimodal datasets in the layouts of the real releases.

No real data can be downloaded where this project is developed, so this module
writes small, realistic stand-ins: georeferenced GeoTIFFs (EPSG:32632, plausible
pixel sizes), realistic dtypes and value ranges, and COCO json with both polygon
and RLE segmentations. The modalities carry COMPLEMENTARY, PARTIAL information so
that dropping one measurably hurts (docs/data.md, "What each modality carries"):

DFC2023 (buildings): buildings are tall in the DSM, but so are trees; some roofs
have the colour of the surrounding ground in RGB (only a shadow betrays them); SAR
shows bright double-bounce lines along the sensor-facing walls of buildings (not of
trees) and dark radar shadows behind them; low sheds are nearly flat in the DSM.

Quadruplet (LULC): class pairs are confusable in single modalities and separable
only by combining them, e.g. urban fabric vs industrial (same spectrum, different
SAR backscatter), urban green vs pastures (same spectrum and backscatter,
different terrain height band and map label), bare arable fields vs built-up
(similar spectrum; map and backscatter differ).

Everything is deterministic per seed. Public entry points: :func:`make_dfc2023`,
:func:`make_quadruplet`, :func:`make_scene`, :func:`polygon_to_rle`.
"""
import json
import os
import os.path as osp
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import rasterio
from affine import Affine
from pycocotools import mask as mask_utils
from rasterio.crs import CRS

CRS_EPSG = 32632  # WGS 84 / UTM zone 32N
DFC_PIXEL_M = 0.5
QUAD_PIXEL_M = 10.0

# Quadruplet LULC classes (Urban-Atlas-like, 9) and the paper-style merge to 7.
QUADRUPLET_CLASSES_9 = ('urban_fabric', 'industrial_commercial', 'transport', 'urban_green',
                        'arable_land', 'pastures', 'forest', 'herbaceous_open', 'water')
QUADRUPLET_CLASSES_7 = ('built_up', 'transport', 'urban_green', 'agricultural', 'forest',
                        'herbaceous_open', 'water')
QUADRUPLET_MERGE_9_TO_7 = (0, 0, 1, 2, 3, 3, 4, 5, 6)
IGNORE_INDEX = 255
# Dynamic World v1 classes (the categorical input map).
DYNAMIC_WORLD_CLASSES = ('water', 'trees', 'grass', 'flooded_vegetation', 'crops',
                         'shrub_and_scrub', 'built', 'bare', 'snow_and_ice')


# --------------------------------------------------------------------------- helpers
def _smooth_noise(rng: np.random.Generator, shape: Tuple[int, int], cell: float) -> np.ndarray:
    """Zero-mean, unit-ish smooth noise with features of about ``cell`` pixels."""
    h, w = shape
    gh, gw = max(2, int(np.ceil(h / cell)) + 2), max(2, int(np.ceil(w / cell)) + 2)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    big = cv2.resize(coarse, (int((gw - 1) * cell), int((gh - 1) * cell)),
                     interpolation=cv2.INTER_CUBIC)
    return big[:h, :w]


def _write_tif(path: str, data: np.ndarray, transform: Affine, nodata=None,
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


def _tile_transform(rng: np.random.Generator, pixel_m: float) -> Affine:
    """A north-up transform somewhere in UTM 32N (northern Italy / southern Germany)."""
    x0 = 500_000.0 + float(rng.integers(-40_000, 40_000))
    y0 = 5_000_000.0 + float(rng.integers(-40_000, 40_000))
    return Affine(pixel_m, 0.0, x0, 0.0, -pixel_m, y0)


def polygon_to_rle(polygon: Sequence[float], height: int, width: int) -> dict:
    """COCO compressed RLE (``counts`` as str) of one polygon, rasterised by pycocotools."""
    rle = mask_utils.merge(mask_utils.frPyObjects([list(map(float, polygon))], height, width))
    return dict(size=[int(height), int(width)], counts=rle['counts'].decode('ascii'))


def _poly_mask_local(polygon: np.ndarray, shape: Tuple[int, int]) -> Tuple[np.ndarray, int, int]:
    """Rasterise a polygon (N, 2) with pycocotools on its bounding box only (fast)."""
    h, w = shape
    x0 = int(max(0, np.floor(polygon[:, 0].min()) - 1))
    y0 = int(max(0, np.floor(polygon[:, 1].min()) - 1))
    x1 = int(min(w, np.ceil(polygon[:, 0].max()) + 2))
    y1 = int(min(h, np.ceil(polygon[:, 1].max()) + 2))
    local = (polygon - [x0, y0]).reshape(-1).tolist()
    rle = mask_utils.frPyObjects([local], y1 - y0, x1 - x0)
    return mask_utils.decode(mask_utils.merge(rle)).astype(bool), y0, x0


def _shift(mask: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """Shift a 2-D array by (dy, dx) pixels, filling with zeros/False."""
    out = np.zeros_like(mask)
    h, w = mask.shape
    ys, yd = (slice(0, h - dy), slice(dy, h)) if dy >= 0 else (slice(-dy, h), slice(0, h + dy))
    xs, xd = (slice(0, w - dx), slice(dx, w)) if dx >= 0 else (slice(-dx, w), slice(0, w + dx))
    out[yd, xd] = mask[ys, xs]
    return out


def _ellipse_hole(rng: np.random.Generator, shape: Tuple[int, int], frac: float) -> np.ndarray:
    """A soft-edged blob covering roughly ``frac`` of the image (a cloud)."""
    h, w = shape
    noise = _smooth_noise(rng, shape, max(4.0, min(h, w) / 4))
    cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
    yy, xx = np.mgrid[0:h, 0:w]
    radius = np.sqrt(frac * h * w / np.pi)
    dist = np.hypot((yy - cy) / 1.3, (xx - cx)) / radius
    return dist + 0.25 * noise < 1.0


# --------------------------------------------------------------------------- DFC2023
GROUND_COLOURS = np.array([[95, 122, 68], [142, 121, 94], [121, 120, 117]], np.float32)
ROOF_PALETTE = np.array([[168, 72, 52], [150, 150, 148], [88, 110, 150], [215, 212, 205],
                         [110, 96, 90]], np.float32)


def _building_polygon(rng: np.random.Generator, size: int) -> np.ndarray:
    """A rotated rectangle or L-shape (N, 2) in pixel coordinates."""
    max_side = max(10.0, size / 5.0)
    length, width = rng.uniform(6, max_side), rng.uniform(5, max_side * 0.7)
    if rng.random() < 0.3:  # L-shape
        a, b = rng.uniform(0.45, 0.7) * length, rng.uniform(0.45, 0.7) * width
        pts = np.array([[0, 0], [length, 0], [length, b], [a, b], [a, width], [0, width]])
    else:
        pts = np.array([[0, 0], [length, 0], [length, width], [0, width]])
    pts = pts - pts.mean(0)
    theta = rng.uniform(0, np.pi)
    rot = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    centre = rng.uniform(0.05 * size, 0.95 * size, 2)
    return pts @ rot.T + centre


def _dfc_content(rng: np.random.Generator, size: int) -> dict:
    """Arrays of one DFC2023-like scene at a single resolution, plus building polygons."""
    h = w = size
    # Ground cover: grass / soil / pavement regions, and a road or two.
    cover_noise = np.stack([_smooth_noise(rng, (h, w), max(8, size / 6)) for _ in range(3)])
    cover = cover_noise.argmax(0)
    road = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(0, 3))):
        p0 = rng.uniform(0, size, 2).astype(int)
        p1 = rng.uniform(0, size, 2).astype(int)
        cv2.line(road, tuple(map(int, p0)), tuple(map(int, p1)), 1,
                 int(rng.integers(3, max(4, size // 20))))
    road = road.astype(bool)
    cover[road] = 2
    ground_rgb = GROUND_COLOURS[cover] + rng.normal(0, 7, (h, w, 3)).astype(np.float32)
    ground_rgb += 10 * _smooth_noise(rng, (h, w), 6)[..., None]

    terrain = 50.0 + 3.0 * _smooth_noise(rng, (h, w), size) + 0.01 * np.arange(w)[None, :]
    dsm = terrain.astype(np.float32).copy()
    rgb = ground_rgb.copy()
    # SAR reflectivity in dB before speckle: sensor looks from the west (near range).
    sar_db = np.where(cover == 0, -9.5, np.where(cover == 1, -8.5, -11.0)).astype(np.float32)
    sar_db[road] = -18.0
    sar_db += 0.8 * _smooth_noise(rng, (h, w), 5)

    occupied = np.zeros((h, w), bool)
    buildings = np.zeros((h, w), np.int32)  # instance id map (1-based)
    polygons, heights, footprints = [], [], []
    n_target = max(1, int(rng.poisson(size * size / 900.0)))
    for _ in range(n_target * 4):
        if len(polygons) >= n_target:
            break
        poly = _building_polygon(rng, size)
        poly[:, 0] = np.clip(poly[:, 0], 0, w)
        poly[:, 1] = np.clip(poly[:, 1], 0, h)
        local, y0, x0 = _poly_mask_local(poly, (h, w))
        if local.sum() < 12:
            continue
        lh, lw = local.shape
        region = occupied[y0:y0 + lh, x0:x0 + lw]
        if (region & local).any():
            continue
        grown = cv2.dilate(local.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
        region |= grown
        buildings[y0:y0 + lh, x0:x0 + lw][local] = len(polygons) + 1
        polygons.append(poly)
        footprints.append((local, y0, x0))
        heights.append(rng.uniform(2.5, 4.0) if rng.random() < 0.3 else rng.uniform(6, 30))

    # Trees: tall in the DSM and green in RGB, diffuse in SAR, no double bounce.
    trees = np.zeros((h, w), bool)
    for _ in range(int(rng.poisson(size * size / 1000.0))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        radius = rng.uniform(2.5, max(3.0, size / 25))
        win = (slice(max(0, int(cy - radius) - 1), min(h, int(cy + radius) + 2)),
               slice(max(0, int(cx - radius) - 1), min(w, int(cx + radius) + 2)))
        yy, xx = np.mgrid[win]
        r2 = ((yy - cy) ** 2 + (xx - cx) ** 2) / radius ** 2
        blob = (r2 < 1) & (buildings[win] == 0)
        height = rng.uniform(5, 20)
        dome = height * np.sqrt(np.clip(1 - r2, 0, 1))
        dsm[win][blob] = np.maximum(dsm[win][blob], terrain[win][blob] + dome[blob])
        trees[win] |= blob
    rgb[trees] = np.array([48, 78, 40], np.float32) + rng.normal(0, 10, (trees.sum(), 3))
    sar_db[trees] = -6.5 + rng.normal(0, 1.5, trees.sum())

    def around(k: int, pad: int):
        """Window around footprint k (padded), and the footprint inside it."""
        local, y0, x0 = footprints[k]
        lh, lw = local.shape
        win = (slice(max(0, y0 - pad), min(h, y0 + lh + pad)),
               slice(max(0, x0 - pad), min(w, x0 + lw + pad)))
        foot = np.zeros((win[0].stop - win[0].start, win[1].stop - win[1].start), bool)
        oy, ox = y0 - win[0].start, x0 - win[1].start
        foot[oy:oy + lh, ox:ox + lw] = local
        return win, foot

    # Buildings: shadows (optical and radar), roofs, heights, double bounce. Each
    # building is drawn inside a window around it (scenes have thousands of them).
    for k, height in enumerate(heights):
        s = int(round(height * 0.25))
        radar = int(round(height * 0.2))
        win, foot = around(k, max(s, radar) + 1)
        ground = buildings[win] == 0
        # Optical shadow towards the north-east, length grows with height.
        shadow = _shift(foot, -s, s) & ~foot & ground
        rgb[win][shadow] *= 0.55
        # Radar shadow behind the building (east), layover towards the sensor (west).
        radar_shadow = np.zeros_like(foot)
        for j in range(1, radar + 1):
            radar_shadow |= _shift(foot, 0, j)
        sar_db[win][radar_shadow & ~foot & ground] = -21.0
    for k, height in enumerate(heights):
        win, foot = around(k, int(round(height * 0.15)) + 4)
        n = int(foot.sum())
        if rng.random() < 0.35:  # camouflaged roof: same colour as the ground around it
            ring = cv2.dilate(foot.astype(np.uint8), np.ones((7, 7), np.uint8)).astype(bool)
            roof = ground_rgb[win][ring & ~foot].mean(0)
        else:
            roof = ROOF_PALETTE[rng.integers(len(ROOF_PALETTE))]
        rgb[win][foot] = roof + rng.normal(0, 5, (n, 3))
        gable = rng.random() < 0.3
        roof_h = np.full(n, height, np.float32)
        if gable:
            ys, xs = np.nonzero(foot)
            axis = (ys - ys.mean()) if (np.ptp(ys) < np.ptp(xs)) else (xs - xs.mean())
            roof_h += 2.5 * (1 - np.abs(axis) / (np.abs(axis).max() + 1e-6))
        dsm[win][foot] = terrain[win][foot].min() + roof_h
        layover = _shift(foot, 0, -int(round(height * 0.15)))
        sar_db[win][layover & (buildings[win] == 0) & ~trees[win]] = -7.0
        sar_db[win][foot] = -7.5 + rng.normal(0, 1.0, n)
        # Double bounce: bright line on the west (sensor-facing) walls.
        west_edge = foot & ~_shift(foot, 0, 1)
        line = west_edge | _shift(west_edge, 0, -1)
        sar_db[win][line] = np.maximum(sar_db[win][line], -2.0 + 0.05 * height)
    # Photogrammetric DSMs are smooth at height edges and noisy.
    dsm = cv2.GaussianBlur(dsm, (0, 0), 1.5)
    dsm += rng.normal(0, 0.5, (h, w)).astype(np.float32)

    # Speckle: multiplicative Gamma(L=4) on intensity; amplitude = sqrt(intensity).
    looks = 4.0
    intensity = 10 ** (sar_db / 10.0) * rng.gamma(looks, 1.0 / looks, (h, w))
    sar = np.sqrt(intensity).astype(np.float32)
    rgb = np.clip(np.rint(rgb), 1, 255).astype(np.uint8)  # 0 is reserved for nodata
    return dict(rgb=rgb, sar=sar, dsm=dsm, buildings=buildings, polygons=polygons,
                heights=heights)


def _coco_annotations(polygons: List[np.ndarray], size: int, image_id: int, start_id: int,
                      rng: np.random.Generator, rle_fraction: float) -> List[dict]:
    anns = []
    for k, poly in enumerate(polygons):
        flat = [round(float(v), 2) for v in poly.reshape(-1)]
        rle = mask_utils.merge(mask_utils.frPyObjects([flat], size, size))
        area = float(mask_utils.area(rle))
        if area < 1:
            continue
        x, y, bw, bh = (float(v) for v in mask_utils.toBbox(rle))
        if rng.random() < rle_fraction:
            seg = dict(size=[size, size], counts=rle['counts'].decode('ascii'))
        else:
            seg = [flat]
        anns.append(dict(id=start_id + len(anns), image_id=image_id, category_id=1,
                         segmentation=seg, area=area, bbox=[x, y, bw, bh], iscrowd=0))
    return anns


def make_dfc2023(out_dir: str,
                 num_train: int = 4,
                 num_val: int = 2,
                 size: int = 128,
                 seed: int = 0,
                 cloud_holes: float = 0.0,
                 dsm_holes: float = 0.0,
                 hole_fraction: float = 0.15,
                 rle_fraction: float = 0.5,
                 height_dirname: str = 'dsm') -> Dict[str, int]:
    """Write a DFC2023-Track-2-like dataset.

    Layout: ``{train,val}/{rgb,sar,<height_dirname>}/P####.tif`` and
    ``annotations/buildings_only_{train,val}.json`` (category 1 = ``building``).

    Args:
        cloud_holes: probability that a tile's RGB gets a nodata hole (value 0, a
            masked cloud).
        dsm_holes: probability that a tile's DSM gets a nodata hole (-9999).
        hole_fraction: area share of a hole.
        rle_fraction: share of annotations stored as compressed RLE (others polygons).
        height_dirname: ``'dsm'`` or ``'height'`` (both exist in copies of the data).

    Returns:
        Counts of images and annotations per split.
    """
    summary = {}
    image_id, ann_id = 1, 1
    for split_idx, (split, num) in enumerate((('train', num_train), ('val', num_val))):
        images, annotations = [], []
        for i in range(num):
            rng = np.random.default_rng([seed, split_idx, i])
            content = _dfc_content(rng, size)
            transform = _tile_transform(rng, DFC_PIXEL_M)
            name = f'P{image_id:04d}.tif'
            rgb = content['rgb'].transpose(2, 0, 1)
            if rng.random() < cloud_holes:
                rgb[:, _ellipse_hole(rng, (size, size), hole_fraction)] = 0
            dsm = content['dsm']
            if rng.random() < dsm_holes:
                dsm = dsm.copy()
                dsm[_ellipse_hole(rng, (size, size), hole_fraction)] = -9999.0
            _write_tif(osp.join(out_dir, split, 'rgb', name), rgb, transform, nodata=0)
            _write_tif(osp.join(out_dir, split, 'sar', name), content['sar'], transform)
            _write_tif(osp.join(out_dir, split, height_dirname, name), dsm, transform,
                       nodata=-9999.0)
            images.append(dict(id=image_id, file_name=name, width=size, height=size))
            anns = _coco_annotations(content['polygons'], size, image_id, ann_id, rng,
                                     rle_fraction)
            annotations += anns
            ann_id += len(anns)
            image_id += 1
        coco = dict(images=images, annotations=annotations,
                    categories=[dict(id=1, name='building', supercategory='building')],
                    info=dict(description=f'synthetic DFC2023 track 2 ({split}), seed {seed}'))
        ann_path = osp.join(out_dir, 'annotations', f'buildings_only_{split}.json')
        os.makedirs(osp.dirname(ann_path), exist_ok=True)
        with open(ann_path, 'w') as f:
            json.dump(coco, f)
        summary[split] = dict(images=len(images), annotations=len(annotations))
    return summary


# --------------------------------------------------------------------------- quadruplet
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


def _quadruplet_content(rng: np.random.Generator, size: int) -> dict:
    h = w = size
    cell = max(8, size // 8)
    terrain = 320 + 180 * _smooth_noise(rng, (h, w), size / 1.5)
    terrain += 15 * _smooth_noise(rng, (h, w), size / 8)
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
    wy = yy + 0.35 * cell * _smooth_noise(rng, (h, w), cell / 2)
    wx = xx + 0.35 * cell * _smooth_noise(rng, (h, w), cell / 2)
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
    s1_db = _S1_SIGNATURE[label] + 0.7 * _smooth_noise(rng, (h, w), 4)[..., None]
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
    unlabelled = _smooth_noise(rng, (h, w), max(4, size / 10)) > 2.0
    label[unlabelled] = IGNORE_INDEX
    return dict(s1=s1.transpose(2, 0, 1), s2=s2.transpose(2, 0, 1), dem=dem, dw=dw,
                label=label)


def make_quadruplet(out_dir: str,
                    num_train: int = 4,
                    num_val: int = 2,
                    size: int = 64,
                    seed: int = 0,
                    cloud_holes: float = 0.0,
                    hole_fraction: float = 0.15,
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
            content = _quadruplet_content(rng, size)
            transform = _tile_transform(rng, QUAD_PIXEL_M)
            region = regions[i % len(regions)]
            tile = f'{split}_{i:04d}'
            s2 = content['s2']
            if rng.random() < cloud_holes:
                s2[:, _ellipse_hole(rng, (size, size), hole_fraction)] = 0
            base = osp.join(out_dir, region)
            _write_tif(osp.join(base, 's2', tile + '.tif'), s2, transform, nodata=0)
            _write_tif(osp.join(base, 's1', tile + '.tif'), content['s1'], transform)
            _write_tif(osp.join(base, 'dem', tile + '.tif'), content['dem'], transform,
                       nodata=-9999.0)
            _write_tif(osp.join(base, 'dw', tile + '.tif'), content['dw'], transform)
            _write_tif(osp.join(base, 'label', tile + '.tif'), content['label'], transform,
                       nodata=IGNORE_INDEX)
            lines.append(f'{region}/{tile}')
        os.makedirs(osp.join(out_dir, 'splits'), exist_ok=True)
        with open(osp.join(out_dir, 'splits', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(lines) + '\n')
        summary[split] = dict(images=len(lines))
    return summary


# --------------------------------------------------------------------------- scenes
def make_scene(out_dir: str,
               layout: str = 'dfc2023',
               size: int = 1024,
               seed: int = 0,
               coarse_factor: int = 2,
               nodata_hole: bool = True,
               hole_fraction: float = 0.08) -> Dict[str, str]:
    """Write one larger scene, one GeoTIFF per modality, on DIFFERENT grids.

    DFC2023 layout: ``rgb.tif`` (0.5 m, full extent, optional cloud hole = nodata),
    ``sar.tif`` at ``coarse_factor`` × coarser resolution covering the scene minus a
    strip on the west, ``dsm.tif`` at full resolution covering the scene minus a strip
    on the south, and ``buildings.tif`` (uint8 instance-free ground truth, 1 = building).
    Quadruplet layout: ``s2.tif``, ``s1.tif`` (coarser), ``dem.tif`` (offset extent),
    ``dw.tif`` and ``label.tif``. Areas a modality does not cover are missing (NaN
    after loading onto the reference grid).

    Returns:
        Modality name (and ``'label'``/``'buildings'``) → file path.
    """
    rng = np.random.default_rng([seed, 7, size])
    if layout == 'dfc2023':
        content = _dfc_content(rng, size)
        pixel = DFC_PIXEL_M
        arrays = dict(rgb=(content['rgb'].transpose(2, 0, 1), 0, False),
                      sar=(content['sar'], None, True),
                      dsm=(content['dsm'], -9999.0, False),
                      buildings=((content['buildings'] > 0).astype(np.uint8), None, False))
        optical, coarse_name, cropped_name, label_name = 'rgb', 'sar', 'dsm', 'buildings'
    elif layout == 'quadruplet':
        content = _quadruplet_content(rng, size)
        pixel = QUAD_PIXEL_M
        arrays = dict(s2=(content['s2'], 0, False), s1=(content['s1'], None, True),
                      dem=(content['dem'], -9999.0, False), dw=(content['dw'], None, False),
                      label=(content['label'], IGNORE_INDEX, False))
        optical, coarse_name, cropped_name, label_name = 's2', 's1', 'dem', 'label'
    else:
        raise ValueError(f"layout must be 'dfc2023' or 'quadruplet', got {layout!r}")
    transform = _tile_transform(rng, pixel)
    if nodata_hole:
        hole = _ellipse_hole(rng, (size, size), hole_fraction)
        arrays[optical][0][:, hole] = 0
    paths = {}
    strip = size // 8
    for name, (data, nodata, coarse) in arrays.items():
        path = osp.join(out_dir, f'{name}.tif')
        arr = data[None] if data.ndim == 2 else data
        if name == coarse_name:
            # Coarser pixels (block average), and the western strip is not covered.
            f = coarse_factor
            arr = arr[:, :, strip:]
            c, hh, ww = arr.shape
            arr = arr[:, :hh - hh % f, :ww - ww % f]
            arr = arr.reshape(c, hh // f, f, ww // f, f).mean((2, 4)).astype(data.dtype)
            t = transform @ Affine.translation(strip, 0) @ Affine.scale(f)
        elif name == cropped_name:
            arr = arr[:, :size - strip]
            t = transform
        else:
            t = transform
        _write_tif(path, arr, t, nodata=nodata)
        paths[name] = path
    paths['label'] = paths.pop(label_name)
    return paths
