"""Synthetic DFC2023 Track 2: RGB, SAR and DSM tiles with COCO building annotations.

The modalities carry COMPLEMENTARY, PARTIAL information so that dropping one
measurably hurts (docs/user_guides/2_dataset_prepare.md, "What each modality
carries"): buildings are tall in
the DSM, but so are trees; some roofs have the colour of the surrounding ground in
RGB (only a shadow betrays them); SAR shows bright double-bounce lines along the
sensor-facing walls of buildings (not of trees) and dark radar shadows behind them;
low sheds are nearly flat in the DSM.

Layout: that of :class:`~incomplete_fusion.datasets.DFC2023InstanceDataset`.
"""
import json
import os
import os.path as osp
from typing import Dict, List

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .rasters import (ellipse_hole, poly_mask_local, shift, smooth_noise, tile_transform,
                      write_tif)

DFC_PIXEL_M = 0.5
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


def dfc2023_content(rng: np.random.Generator, size: int) -> dict:
    """Arrays of one DFC2023-like scene at a single resolution, plus building polygons."""
    h = w = size
    # Ground cover: grass / soil / pavement regions, and a road or two.
    cover_noise = np.stack([smooth_noise(rng, (h, w), max(8, size / 6)) for _ in range(3)])
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
    ground_rgb += 10 * smooth_noise(rng, (h, w), 6)[..., None]

    terrain = 50.0 + 3.0 * smooth_noise(rng, (h, w), size) + 0.01 * np.arange(w)[None, :]
    dsm = terrain.astype(np.float32).copy()
    rgb = ground_rgb.copy()
    # SAR reflectivity in dB before speckle: sensor looks from the west (near range).
    sar_db = np.where(cover == 0, -9.5, np.where(cover == 1, -8.5, -11.0)).astype(np.float32)
    sar_db[road] = -18.0
    sar_db += 0.8 * smooth_noise(rng, (h, w), 5)

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
        local, y0, x0 = poly_mask_local(poly, (h, w))
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
        shadow = shift(foot, -s, s) & ~foot & ground
        rgb[win][shadow] *= 0.55
        # Radar shadow behind the building (east), layover towards the sensor (west).
        radar_shadow = np.zeros_like(foot)
        for j in range(1, radar + 1):
            radar_shadow |= shift(foot, 0, j)
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
        layover = shift(foot, 0, -int(round(height * 0.15)))
        sar_db[win][layover & (buildings[win] == 0) & ~trees[win]] = -7.0
        sar_db[win][foot] = -7.5 + rng.normal(0, 1.0, n)
        # Double bounce: bright line on the west (sensor-facing) walls.
        west_edge = foot & ~shift(foot, 0, 1)
        line = west_edge | shift(west_edge, 0, -1)
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


def make_dfc2023(out_dir: str, num_train: int = 4, num_val: int = 2, size: int = 128,
                 seed: int = 0, cloud_holes: float = 0.0, dsm_holes: float = 0.0,
                 hole_fraction: float = 0.15, rle_fraction: float = 0.5,
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
            content = dfc2023_content(rng, size)
            transform = tile_transform(rng, DFC_PIXEL_M)
            name = f'P{image_id:04d}.tif'
            rgb = content['rgb'].transpose(2, 0, 1)
            if rng.random() < cloud_holes:
                rgb[:, ellipse_hole(rng, (size, size), hole_fraction)] = 0
            dsm = content['dsm']
            if rng.random() < dsm_holes:
                dsm = dsm.copy()
                dsm[ellipse_hole(rng, (size, size), hole_fraction)] = -9999.0
            write_tif(osp.join(out_dir, split, 'rgb', name), rgb, transform, nodata=0)
            write_tif(osp.join(out_dir, split, 'sar', name), content['sar'], transform)
            write_tif(osp.join(out_dir, split, height_dirname, name), dsm, transform,
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
