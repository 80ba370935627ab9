"""A synthetic EarthMiss release, in the release's layout::

    {City}/images/RGB/{id}.tif        uint8 R, G, B
    {City}/images/SAR/{id}_SAR.tif    uint8 SAR, 0 = no data
    {City}/masks/{id}_mask.tif        codes 0..8 (0 ignored)

for every city of the release's train / val / test lists (names, folders and suffixes
from :mod:`incomplete_fusion.datasets.earthmiss`, the dataset that reads them). Plain
TIFFs without georeferencing by default; values and classes as :mod:`.optical_sar`
describes (every third tile has a SAR no-data wedge).
"""
import os.path as osp

import numpy as np
from affine import Affine

from ..datasets.earthmiss import CITIES, FOLDERS, LABELS, SUFFIXES
from .optical_sar import optical_sar_tile, write_raster

PIXEL_M = 0.6


def make_earthmiss(out_dir: str, per_city: int = 2, size: int = 256, seed: int = 0,
                   georeferenced: bool = False, ext: str = '.tif') -> dict:
    """Write ``per_city`` tiles for each of the 13 cities; returns ``{split: {city: [ids]}}``."""
    rng = np.random.default_rng((seed, 2025, 13))
    written: dict = {}
    count = 0
    for split, cities in CITIES.items():
        for city in cities:
            ids = [f'{city.split("-")[-1].lower()}_{i:04d}' for i in range(per_city)]
            for sample_id in ids:
                tile = optical_sar_tile(rng, (size, size), nodata_wedge=count % 3 == 0)
                transform = (Affine(PIXEL_M, 0, 500_000.0 + count * size * PIXEL_M, 0,
                                    -PIXEL_M, 4_000_000.0) if georeferenced else None)
                images = osp.join(out_dir, city, 'images')
                for modality in ('rgb', 'sar'):
                    folder = FOLDERS[modality]
                    write_raster(osp.join(images, folder, sample_id + SUFFIXES[folder] + ext),
                                 tile[modality], transform)
                write_raster(osp.join(out_dir, city, LABELS[0], sample_id + LABELS[1] + ext),
                             tile['label'], transform)
                count += 1
            written.setdefault(split, {})[city] = ids
    return written
