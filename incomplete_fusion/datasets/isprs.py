"""ISPRS Potsdam and Vaihingen as multimodal (optical + height) segmentation datasets.

They read what :func:`~incomplete_fusion.datasets.isprs_convert.convert_isprs`
(``tools/convert_isprs.py``) writes::

    {data_root}/{split}/{rgir,ndsm,...}/{name}.tif
    {data_root}/{split}/{label,label_eroded}/{name}.tif   0-5 = classes, 255 = boundary
    {data_root}/splits/{split}.txt                       lines ``{split}/{name}``

Labels start at 0, so ``reduce_zero_label`` is always False. Clutter (index 5) is
ignored by default (the protocol's five scored classes): the dataset then
declares five classes and mmseg's ``label_map`` sends 5 → 255; the same mapping is
given as ``label_lut`` for :class:`~incomplete_fusion.datasets.transforms.LoadLabelRaster`,
so either label loader gives identical maps.
"""
import json
import os.path as osp
import warnings
from typing import List, Mapping, Optional

import numpy as np
from mmengine.fileio import get_local_path
from mmseg.datasets import BaseSegDataset

from ..registry import DATASETS
from .isprs_layout import CLASSES, CLUTTER_INDEX, IGNORE_INDEX, PALETTE
from .modality_paths import FILE_KEY, ROOT_KEY, DataNotFoundError, DirSpec, ModalityFolders

LABEL_FOLDERS = dict(full='label', eroded='label_eroded')


class _ISPRSMultimodal(ModalityFolders, BaseSegDataset):
    """Shared by both cities; see the module docstring for the layout.

    Args:
        ann_file: split list relative to ``data_root`` (``splits/{train,val}.txt``).
        modality_dirs: modality name → folder(s) inside the split folder where it is
            not the modality's own name (the converter names folders after the
            modalities: ``rgir``, ``ndsm``, ``dsm``, ``rgbir``); the modalities read
            are the run's (``modality_specs``/``modalities``).
        labels: ``'full'`` (``label/``) or ``'eroded'`` (``label_eroded/``, boundaries
            ignored: the ISPRS evaluation labels).
        ignore_clutter: five classes, clutter → ``ignore_index`` (default), or six.
        ignore_index: label value ignored by losses and metrics.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE)
    CITY = ''

    def __init__(self,
                 ann_file: str = 'splits/train.txt',
                 modality_dirs: Optional[Mapping[str, DirSpec]] = None,
                 labels: str = 'full',
                 ignore_clutter: bool = True,
                 ignore_index: int = IGNORE_INDEX,
                 metainfo: Optional[dict] = None,
                 **kwargs):
        if labels not in LABEL_FOLDERS:
            raise ValueError(f"labels must be 'full' or 'eroded', got {labels!r}")
        if kwargs.pop('reduce_zero_label', False):
            raise ValueError('ISPRS labels written by convert_isprs start at 0 '
                             '(impervious surface); reduce_zero_label must stay False')
        self._set_modality_dirs(modality_dirs)
        self.labels = labels
        self.label_dir = LABEL_FOLDERS[labels]
        metainfo = dict(metainfo or {})
        if ignore_clutter:
            metainfo.setdefault('classes', CLASSES[:CLUTTER_INDEX])
        kwargs.setdefault('img_suffix', '.tif')
        kwargs.setdefault('seg_map_suffix', '.tif')
        super().__init__(ann_file=ann_file, metainfo=metainfo, ignore_index=ignore_index,
                         reduce_zero_label=False, **kwargs)

    def label_lut(self) -> np.ndarray:
        """256-entry table equal to mmseg's ``label_map`` (identity where it is silent)."""
        lut = np.arange(256, dtype=np.uint8)
        for old, new in (self.label_map or {}).items():
            lut[old] = new
        return lut

    def _check_meta(self, root: str) -> None:
        """Warn when the folder was converted for the other city."""
        path = osp.join(root, 'isprs_meta.json')
        if self.CITY and osp.isfile(path):
            with open(path) as f:
                city = json.load(f).get('city')
            if city and city != self.CITY:
                warnings.warn(f'{type(self).__name__}: {root} holds converted {city} data')

    def load_data_list(self) -> List[dict]:
        if '://' not in str(self.ann_file) and not osp.isfile(self.ann_file):
            raise DataNotFoundError(
                f'{type(self).__name__}: the split list {self.ann_file} does not exist. Convert '
                f'a release first: `python tools/convert_isprs.py {self.CITY} RELEASE_FOLDER '
                f'{self.data_root or "OUT"} --whole-tiles val` '
                '(docs/user_guides/datasets/isprs.md), or point '
                '`data_root` at a converted folder, e.g. --cfg-options data_root=/path/to/data')
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local:
            with open(local) as f:
                entries = [line.strip() for line in f if line.strip()]
        root = self.data_prefix.get('img_path') or self.data_root or ''
        self._check_meta(root)
        lut = self.label_lut()
        checked = set()
        data_list = []
        for entry in entries:
            split, name = entry.split('/', 1) if '/' in entry else ('', entry)
            base = osp.join(root, split)
            if split not in checked:
                checked.add(split)
                if not osp.isdir(osp.join(base, self.label_dir)):
                    raise FileNotFoundError(
                        f'{type(self).__name__}: no {self.labels} labels in '
                        f'{osp.join(base, self.label_dir)} (convert_isprs writes label_eroded/ '
                        'unless run with --no-eroded)')
            data_list.append(dict(
                seg_map_path=osp.join(base, self.label_dir, name + self.seg_map_suffix),
                **{ROOT_KEY: base, FILE_KEY: name + self.img_suffix},
                split=split,
                tile=name.split('_y')[0],
                label_lut=lut,
                label_map=self.label_map,
                reduce_zero_label=False,
                seg_fields=[]))
        return data_list


@DATASETS.register_module()
class ISPRSPotsdamMultimodal(_ISPRSMultimodal):
    """ISPRS Potsdam (5 cm; rgir from RGBIR bands 4, 1, 2; 8-bit nDSM), converted patches."""

    CITY = 'potsdam'


@DATASETS.register_module()
class ISPRSVaihingenMultimodal(_ISPRSMultimodal):
    """ISPRS Vaihingen (9 cm; rgir = the IRRG TOP; 8-bit nDSM), converted patches."""

    CITY = 'vaihingen'
