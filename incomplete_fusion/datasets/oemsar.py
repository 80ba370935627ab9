"""OpenEarthMap-SAR (GRSS DFC2025 Track 1), read as released (Zenodo record 14622048).

Layout (also written by ``python tools/make_synthetic_data.py oemsar <data_root>``)::

    {data_root}/train/rgb_images/{name}.tif   optical R, G, B, uint8
    {data_root}/train/sar_images/{name}.tif   SAR, one band, uint8, 0 = no data
    {data_root}/train/labels/{name}.tif       0 = ignored, 1..8 = OEM_SAR_CLASSES
    {data_root}/test/sar_images/{name}.tif    the contest's test set: SAR only, no labels

The release has no validation split: ``region_split`` holds out whole regions of
``train`` (the file name without its trailing ``_<number>``), so validation and
training never share a region. The test split is predicted without labels.
Docs: docs/user_guides/datasets/oemsar.md.
"""
import os.path as osp
import re
import zlib
from numbers import Real
from typing import Dict, List, Optional, Sequence, Tuple, Union

from ..registry import DATASETS
from .modality_paths import require_data
from .optical_sar import PairedLandCoverDataset

# label codes 1..8 in this order (OpenEarthMap's classes); 0 is ignored
OEM_SAR_CLASSES = ('bareland', 'rangeland', 'developed_space', 'road', 'tree', 'water',
                   'agriculture_land', 'building')
OEM_SAR_PALETTE = [[128, 0, 0], [0, 255, 36], [148, 148, 148], [255, 255, 255], [34, 97, 38],
                   [0, 69, 255], [75, 181, 73], [222, 31, 7]]
FOLDERS = dict(rgb='rgb_images', sar='sar_images')
LABEL_FOLDER = 'labels'
LAYOUT = 'oemsar'  # tools/make_synthetic_data.py writes this layout


def region_of(name: str) -> str:
    """The region of a tile: its file stem without a trailing ``_<number>``."""
    stem = osp.splitext(osp.basename(name))[0]
    return re.sub(r'_\d+$', '', stem)


def holdout_regions(regions: Sequence[str], fraction: float) -> List[str]:
    """A fixed share of ``regions`` (at least one): ordered by a hash of the name, so the
    choice does not depend on the order or on the other regions' tiles."""
    regions = sorted(set(regions))
    if len(regions) < 2:
        raise ValueError(f'cannot hold out a region for validation from {regions}: give '
                         'val_regions explicitly, or use another split')
    count = min(len(regions) - 1, max(1, round(fraction * len(regions))))
    return sorted(sorted(regions, key=lambda r: zlib.crc32(r.encode()))[:count])


@DATASETS.register_module()
class OEMSARDataset(PairedLandCoverDataset):
    """OpenEarthMap-SAR as released; modalities ``rgb`` and ``sar`` (see the module doc).

    Args:
        split: release folder, ``'train'`` or ``'test'`` (SAR only, no labels: predict
            with ``test_mode=True``).
        region_split: ``None`` (every tile of ``split``), ``'train'`` (tiles outside
            the validation regions) or ``'val'`` (tiles of the validation regions).
        val_regions: the validation regions, or the share of regions to hold out
            (chosen by :func:`holdout_regions`).
        modality_dirs: modality → folder where not ``rgb_images`` / ``sar_images``.
    """

    METAINFO = dict(classes=OEM_SAR_CLASSES, palette=OEM_SAR_PALETTE)
    FOLDER_ALIASES = FOLDERS
    RELEASE = 'OpenEarthMap-SAR'

    def __init__(self, split: str = 'train', region_split: Optional[str] = None,
                 val_regions: Union[float, Sequence[str]] = 0.1, **kwargs):
        if region_split not in (None, 'train', 'val'):
            raise ValueError(f"region_split must be None, 'train' or 'val', got {region_split!r}")
        self.split, self.region_split, self.val_regions = split, region_split, val_regions
        self.validation_regions: List[str] = []
        super().__init__(**kwargs)

    def sample_groups(self) -> List[Tuple[str, Dict[str, str], Optional[Tuple[str, str]]]]:
        root = osp.join(self.data_root or '', self.split)
        require_data(self, LAYOUT, {f'{self.split} split folder': root})
        image_folders = {osp.basename(self.modality_folder(root, m)): '' for m in FOLDERS}
        return [(root, image_folders, (LABEL_FOLDER, ''))]

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        if self.region_split is None:
            return data_list
        regions = [region_of(info['sample_id']) for info in data_list]
        chosen = (holdout_regions(regions, float(self.val_regions))
                  if isinstance(self.val_regions, Real) else sorted(self.val_regions))
        unknown = sorted(set(chosen) - set(regions))
        if unknown:
            raise ValueError(f'{self.RELEASE}: val_regions {unknown} have no tile in '
                             f'{self.split}; regions: {sorted(set(regions))}')
        self.validation_regions = chosen
        keep = (lambda r: r in chosen) if self.region_split == 'val' else (
            lambda r: r not in chosen)
        return [info for info, region in zip(data_list, regions) if keep(region)]
