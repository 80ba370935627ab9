"""Quadruplet LULC: Sentinel-1, Sentinel-2, DEM and a Dynamic World map per tile.

Reads ``{data_root}/{region}/{s1,s2,dem,dw,label}/{tile}.tif`` with the splits in
``{data_root}/splits/{train,val}.txt`` (one ``region/tile`` per line), the layout
``tools/make_synthetic_data.py quadruplet`` also writes. The label rasters hold the 9
released classes (255 = ignore); ``num_classes=7`` (default, the paper's) merges
them through a lookup table applied by ``LoadLabelRaster``. A modality's folder is
its spec name unless ``modality_dirs`` says otherwise.
See docs/user_guides/datasets/quadruplet.md.
"""
import os.path as osp
from typing import List, Mapping, Optional

import numpy as np
from mmengine.fileio import get_local_path
from mmseg.datasets import BaseSegDataset

from ..registry import DATASETS
from .modality_paths import FILE_KEY, ROOT_KEY, DirSpec, ModalityFolders, require_data

# Urban-Atlas-like classes as released (9) and the paper's merge to 7.
QUADRUPLET_CLASSES_9 = ('urban_fabric', 'industrial_commercial', 'transport', 'urban_green',
                        'arable_land', 'pastures', 'forest', 'herbaceous_open', 'water')
QUADRUPLET_CLASSES_7 = ('built_up', 'transport', 'urban_green', 'agricultural', 'forest',
                        'herbaceous_open', 'water')
QUADRUPLET_MERGE_9_TO_7 = (0, 0, 1, 2, 3, 3, 4, 5, 6)
IGNORE_INDEX = 255
LAYOUT = 'quadruplet'  # tools/make_synthetic_data.py writes this layout
PALETTE_9 = [[230, 0, 77], [204, 77, 242], [150, 150, 150], [140, 220, 0], [255, 255, 168],
             [230, 230, 77], [0, 140, 0], [204, 242, 77], [0, 204, 242]]
PALETTE_7 = [[230, 0, 77], [150, 150, 150], [140, 220, 0], [255, 255, 168], [0, 140, 0],
             [204, 242, 77], [0, 204, 242]]


def label_lookup(num_classes: int, ignore_index: int = IGNORE_INDEX) -> np.ndarray:
    """uint8 table mapping raw label values (0-255) to training labels."""
    lut = np.full(256, ignore_index, np.uint8)
    if num_classes == 9:
        lut[:9] = np.arange(9)
    elif num_classes == 7:
        lut[:9] = QUADRUPLET_MERGE_9_TO_7
    else:
        raise ValueError(f'num_classes must be 7 (merged, as in the paper) or 9, got {num_classes}')
    return lut


@DATASETS.register_module()
class QuadrupletLULCDataset(ModalityFolders, BaseSegDataset):
    """Quadruplet land-use/land-cover segmentation (mmseg).

    Args:
        ann_file: split file (relative to ``data_root``), lines ``region/tile``.
        num_classes: 7 (merged, paper) or 9 (as released).
        modality_dirs: modality name → folder (or candidate folders) inside a region
            folder, for folders not named after the modality (default: its name).
        label_dir: folder of the label rasters inside a region folder.
        ignore_index: label value ignored by losses and metrics.
    """

    METAINFO = dict(classes=QUADRUPLET_CLASSES_7, palette=PALETTE_7)

    def __init__(self,
                 ann_file: str = 'splits/train.txt',
                 num_classes: int = 7,
                 modality_dirs: Optional[Mapping[str, DirSpec]] = None,
                 label_dir: str = 'label',
                 ignore_index: int = IGNORE_INDEX,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        self.num_classes = num_classes
        self.lut = label_lookup(num_classes, ignore_index)
        self._set_modality_dirs(modality_dirs)
        self.label_dir = label_dir
        classes, palette = ((QUADRUPLET_CLASSES_9, PALETTE_9) if num_classes == 9 else
                            (QUADRUPLET_CLASSES_7, PALETTE_7))
        metainfo = dict(dict(classes=classes, palette=palette), **(metainfo or {}))
        kwargs.setdefault('img_suffix', '.tif')
        kwargs.setdefault('seg_map_suffix', '.tif')
        super().__init__(ann_file=ann_file, metainfo=metainfo, ignore_index=ignore_index,
                         **kwargs)

    @classmethod
    def get_label_map(cls, new_classes=None):
        """Class merging is done by the label lookup table, not mmseg's label_map."""
        return None

    def load_data_list(self) -> List[dict]:
        require_data(self, LAYOUT, {'split file': self.ann_file})
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local:
            with open(local) as f:
                entries = [line.strip() for line in f if line.strip()]
        root = self.data_prefix.get('img_path') or self.data_root or ''
        data_list = []
        for entry in entries:
            region, tile = entry.split('/', 1) if '/' in entry else ('', entry)
            base = osp.join(root, region)
            data_list.append(dict(
                img_path=osp.join(base, tile + self.img_suffix),
                seg_map_path=osp.join(base, self.label_dir, tile + self.seg_map_suffix),
                **{ROOT_KEY: base, FILE_KEY: tile + self.img_suffix},
                region=region,
                tile=tile,
                label_lut=self.lut,
                label_map=None,
                reduce_zero_label=False,
                seg_fields=[]))
        return data_list
