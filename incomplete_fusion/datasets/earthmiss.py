"""EarthMiss (optical + SAR, 13 cities, 0.6 m), read as released (Zenodo record 17231107).

Layout (also written by ``python tools/make_synthetic_data.py earthmiss <data_root>``)::

    {data_root}/{City}/images/RGB/{id}.tif        optical R, G, B, uint8
    {data_root}/{City}/images/SAR/{id}_SAR.tif    SAR, one band, uint8, 0 = no data
    {data_root}/{City}/masks/{id}_mask.tif        0 = ignored, 1..8 = EARTHMISS_CLASSES

(``.png`` files are read as well.) The split is city-disjoint: the release's training
and test city lists, and validation cities that are neither (the release's own code
selects checkpoints on its test cities; here model selection never sees them).
Docs: docs/user_guides/datasets/earthmiss.md.
"""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

from ..registry import DATASETS
from .modality_paths import DataNotFoundError, require_data
from .optical_sar import PairedLandCoverDataset

# label codes 1..8 in this order; 0 is ignored (the release's LABEL_MAP, shifted by one)
EARTHMISS_CLASSES = ('background', 'building', 'road', 'water', 'barren', 'forest',
                     'agricultural', 'playground')
EARTHMISS_PALETTE = [[255, 255, 255], [255, 0, 0], [255, 255, 0], [0, 0, 255],
                     [159, 129, 183], [0, 255, 0], [255, 195, 128], [165, 0, 165]]
CITIES: Dict[str, Tuple[str, ...]] = {
    'train': ('America-Eugene', 'America-Louisville', 'French-Paris', 'Morocco-Casablanca',
              'Nanjing', 'Netherlands-Rotterdam', 'Singapore'),
    'val': ('Australia-PortHedland', 'America-Pake', 'Russian-Engels'),
    'test': ('America-NewYork', 'Japan-Hakodate', 'Peru-Callao'),
}
FOLDERS = dict(rgb='RGB', sar='SAR')
SUFFIXES = dict(RGB='', SAR='_SAR')  # file name = {id}{suffix}{ext} in that folder
LABELS = ('masks', '_mask')  # folder (beside images/) and suffix of the label files
LAYOUT = 'earthmiss'  # tools/make_synthetic_data.py writes this layout


@DATASETS.register_module()
class EarthMissDataset(PairedLandCoverDataset):
    """EarthMiss as released; modalities ``rgb`` and ``sar`` (see the module doc).

    Args:
        split: ``'train'``, ``'val'`` or ``'test'``: the cities of :data:`CITIES`.
        cities: explicit city folders instead of ``split``'s.
        modality_dirs: modality → folder inside ``images/`` where not ``RGB`` / ``SAR``.
    """

    METAINFO = dict(classes=EARTHMISS_CLASSES, palette=EARTHMISS_PALETTE)
    FOLDER_ALIASES = FOLDERS
    RELEASE = 'EarthMiss'

    def __init__(self, split: str = 'train', cities: Optional[Sequence[str]] = None, **kwargs):
        if cities is None and split not in CITIES:
            raise ValueError(f'split must be one of {sorted(CITIES)} (or give cities), '
                             f'got {split!r}')
        self.split = split
        self.cities = tuple(cities) if cities is not None else CITIES[split]
        super().__init__(**kwargs)

    def sample_groups(self) -> List[Tuple[str, Dict[str, str], Optional[Tuple[str, str]]]]:
        root = self.data_root or ''
        require_data(self, LAYOUT, {})
        absent = [c for c in self.cities if not osp.isdir(osp.join(root, c, 'images'))]
        if absent:
            found = sorted(d for d in os.listdir(root) if osp.isdir(osp.join(root, d, 'images')))
            raise DataNotFoundError(
                f'{self.RELEASE} ({self.split}): no {", ".join(absent)} under {root} '
                f'(a city is <City>/images/{{RGB,SAR}} and <City>/masks); cities found: {found}')
        groups = []
        for city in self.cities:
            images = osp.join(root, city, 'images')
            folders = {osp.basename(self.modality_folder(images, m)): '' for m in FOLDERS}
            folders = {f: SUFFIXES.get(f, '') for f in folders}
            groups.append((images, folders, (osp.join('..', LABELS[0]), LABELS[1])))
        return groups
