"""A synthetic OpenEarthMap-SAR (DFC2025 Track 1) release, in the release's layout::

    train/{rgb_images,sar_images,labels}/{region}_{n}.tif   uint8 R,G,B / SAR / codes 0..8
    test/sar_images/TestArea_{n:03d}.tif                     SAR only, no labels

GeoTIFFs in UTM 54N at 0.3 m; values and classes as :mod:`.optical_sar` describes
(every third tile has a SAR no-data wedge). Names come from
:mod:`incomplete_fusion.datasets.oemsar`, the dataset that reads them.
"""
import os.path as osp
from typing import Sequence

import numpy as np
from affine import Affine

from ..datasets.oemsar import FOLDERS, LABEL_FOLDER
from .optical_sar import optical_sar_tile, write_raster

PIXEL_M = 0.3


def make_oemsar(out_dir: str, num_train: int = 8, num_test: int = 2, size: int = 256,
                seed: int = 0, regions: Sequence[str] = ('aachen', 'kyoto', 'nantes')) -> dict:
    """Write ``num_train`` labelled tiles (regions in turn) and ``num_test`` SAR-only tiles.

    Returns ``dict(train=[names], test=[names], regions={region: [names]})``.
    """
    rng = np.random.default_rng((seed, 2025))
    names = dict(train=[f'{regions[i % len(regions)]}_{i // len(regions) + 1}'
                        for i in range(num_train)],
                 test=[f'TestArea_{i + 1:03d}' for i in range(num_test)])
    for split, split_names in names.items():
        for n, name in enumerate(split_names):
            tile = optical_sar_tile(rng, (size, size), nodata_wedge=n % 3 == 0)
            transform = Affine(PIXEL_M, 0, 380_000.0 + n * size * PIXEL_M, 0, -PIXEL_M,
                               3_950_000.0 + 1000.0 * ('test' == split))
            content = {FOLDERS['sar']: tile['sar']}
            if split == 'train':
                content.update({FOLDERS['rgb']: tile['rgb'], LABEL_FOLDER: tile['label']})
            for folder, data in content.items():
                write_raster(osp.join(out_dir, split, folder, name + '.tif'), data, transform)
    by_region = {r: [n for n in names['train'] if n.rsplit('_', 1)[0] == r] for r in regions}
    return dict(train=names['train'], test=names['test'], regions=by_region)
