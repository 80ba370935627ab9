"""IEEE GRSS DFC2023 Track 2: building instances and binary building semantics.

Layout of the release (and of :func:`~incomplete_fusion.datasets.synthetic.make_dfc2023`)::

    {data_root}/{train,val}/rgb/*.tif      3-band optical
    {data_root}/{train,val}/sar/*.tif      1-band SAR amplitude
    {data_root}/{train,val}/dsm/*.tif      1-band height (some copies: ``height/``)
    {data_root}/annotations/buildings_only_{train,val}.json   COCO, polygons and RLE

Every data info carries ``modality_paths`` (modality name → file) for
:class:`~incomplete_fusion.datasets.transforms.LoadMultimodalImages`.
"""
import hashlib
import json
import os
import os.path as osp
import warnings
from typing import Dict, List, Mapping, Optional, Sequence

import cv2
import numpy as np
from mmdet.datasets import CocoDataset
from mmengine.fileio import get_local_path
from mmseg.datasets import BaseSegDataset
from pycocotools import mask as mask_utils

from ..registry import DATASETS
from .modality_paths import DirSpec, report_missing_files, resolve_modality_dirs

DFC2023_MODALITY_DIRS: Dict[str, DirSpec] = dict(rgb='rgb', sar='sar', dsm=('dsm', 'height'))


def segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    """Binary mask (H, W) uint8 of a COCO segmentation: polygons, RLE or uncompressed RLE."""
    if isinstance(segmentation, list):
        rles = mask_utils.frPyObjects(segmentation, height, width)
        rle = mask_utils.merge(rles)
    elif isinstance(segmentation.get('counts'), list):
        rle = mask_utils.frPyObjects(segmentation, height, width)
    else:
        rle = dict(segmentation)
        if isinstance(rle['counts'], str):
            rle['counts'] = rle['counts'].encode('ascii')
    return mask_utils.decode(rle).astype(np.uint8)


@DATASETS.register_module()
class DFC2023InstanceDataset(CocoDataset):
    """DFC2023 Track 2 building instance segmentation (mmdet, COCO json).

    Category ``building`` (COCO id 1) becomes label 0 (mmdet's ``cat2label``), so
    it never collides with Mask2Former's no-object class.

    Args:
        modality_dirs: modality name → folder (or candidate folders) under the split
            folder ``data_prefix['img']``. Default ``rgb``, ``sar``, ``dsm``/``height``.
        All other arguments are :class:`mmdet.datasets.CocoDataset`'s; the defaults
        point to the train split.
    """

    METAINFO = dict(classes=('building', ), palette=[(220, 20, 60)])

    def __init__(self,
                 *args,
                 ann_file: str = 'annotations/buildings_only_train.json',
                 data_prefix: dict = dict(img='train/'),
                 modality_dirs: Optional[Mapping[str, DirSpec]] = None,
                 **kwargs):
        self.modality_dirs = dict(modality_dirs or DFC2023_MODALITY_DIRS)
        self._resolved_dirs: Optional[Dict[str, str]] = None
        super().__init__(*args, ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def parse_data_info(self, raw_data_info: dict):
        data_info = super().parse_data_info(raw_data_info)
        if self._resolved_dirs is None:
            self._resolved_dirs = resolve_modality_dirs(self.data_prefix['img'],
                                                        self.modality_dirs)
        file_name = raw_data_info['raw_img_info']['file_name']
        data_info['modality_paths'] = {
            name: osp.join(folder, file_name) for name, folder in self._resolved_dirs.items()}
        # The reference modality's file (used by visualisers and metrics for names).
        data_info['img_path'] = next(iter(data_info['modality_paths'].values()))
        return data_info

    def load_data_list(self) -> List[dict]:
        data_list = super().load_data_list()
        report_missing_files(f'{type(self).__name__}({self.ann_file})', data_list)
        return data_list


@DATASETS.register_module()
class DFC2023BuildingSegDataset(BaseSegDataset):
    """DFC2023 Track 2 as binary building semantic segmentation (mmseg).

    Label masks (0 background, 1 building) are rasterised from the COCO json once
    and cached as PNG files, so training does not re-rasterise every epoch. The
    cache folder is keyed by a hash of the json, so an edited json gets fresh masks.

    Args:
        ann_file: COCO json (relative to ``data_root``).
        data_prefix: ``dict(img_path='train/')`` — the split folder holding the
            modality folders.
        modality_dirs: as in :class:`DFC2023InstanceDataset`.
        mask_cache_dir: where the PNG masks go; default
            ``{data_root}/.mask_cache/<json name>_<hash>/`` (if that is not writable,
            ``~/.cache/incomplete_fusion/<json name>_<hash>/``).
    """

    METAINFO = dict(classes=('background', 'building'), palette=[[0, 0, 0], [220, 20, 60]])

    def __init__(self,
                 ann_file: str = 'annotations/buildings_only_train.json',
                 data_prefix: dict = dict(img_path='train/', seg_map_path=''),
                 modality_dirs: Optional[Mapping[str, DirSpec]] = None,
                 mask_cache_dir: Optional[str] = None,
                 **kwargs):
        self.modality_dirs = dict(modality_dirs or DFC2023_MODALITY_DIRS)
        self.mask_cache_dir = mask_cache_dir
        kwargs.setdefault('img_suffix', '.tif')
        kwargs.setdefault('seg_map_suffix', '.png')
        super().__init__(ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def _cache_dir(self, ann_path: str, digest: str) -> str:
        if self.mask_cache_dir is not None:
            base = self.mask_cache_dir
            if self.data_root and not osp.isabs(base):
                base = osp.join(self.data_root, base)
        else:
            base = osp.join(self.data_root or osp.dirname(ann_path), '.mask_cache')
        stem = osp.splitext(osp.basename(ann_path))[0]
        return osp.join(base, f'{stem}_{digest[:12]}')

    def load_data_list(self) -> List[dict]:
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local:
            with open(local, 'rb') as f:
                raw = f.read()
        coco = json.loads(raw)
        digest = hashlib.sha1(raw).hexdigest()
        cache = self._cache_dir(self.ann_file, digest)
        try:
            os.makedirs(cache, exist_ok=True)
            writable = os.access(cache, os.W_OK)
        except OSError:
            writable = False
        if not writable:  # e.g. a read-only copy of the data: cache per user instead
            fallback = osp.join(osp.expanduser('~'), '.cache', 'incomplete_fusion',
                                osp.basename(cache))
            warnings.warn(f'cannot write the mask cache {cache}; using {fallback}')
            cache = fallback
            os.makedirs(cache, exist_ok=True)
        anns_by_image: Dict[int, list] = {}
        for ann in coco.get('annotations', []):
            anns_by_image.setdefault(ann['image_id'], []).append(ann)
        cat_ids = {c['id'] for c in coco.get('categories', []) if c.get('name') == 'building'}
        dirs = resolve_modality_dirs(self.data_prefix['img_path'], self.modality_dirs)

        data_list = []
        for image in sorted(coco['images'], key=lambda im: im['id']):
            stem = osp.splitext(image['file_name'])[0]
            seg_path = osp.join(cache, stem + self.seg_map_suffix)
            if not osp.exists(seg_path):
                self._write_mask(seg_path, image, anns_by_image.get(image['id'], []), cat_ids)
            paths = {name: osp.join(folder, image['file_name']) for name, folder in dirs.items()}
            data_list.append(dict(
                img_path=next(iter(paths.values())),
                seg_map_path=seg_path,
                modality_paths=paths,
                img_id=image['id'],
                height=image['height'],
                width=image['width'],
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[]))
        report_missing_files(f'{type(self).__name__}({self.ann_file})', data_list)
        return data_list

    @staticmethod
    def _write_mask(path: str, image: dict, anns: Sequence[dict], cat_ids: set) -> None:
        """Union of the building instances of one image as a 0/1 PNG (atomic write)."""
        mask = np.zeros((image['height'], image['width']), np.uint8)
        for ann in anns:
            if cat_ids and ann.get('category_id') not in cat_ids:
                continue
            mask |= segmentation_to_mask(ann['segmentation'], image['height'], image['width'])
        tmp = f'{path}.{os.getpid()}.tmp.png'
        if not cv2.imwrite(tmp, mask):
            raise OSError(f'cannot write the mask cache file {tmp}')
        os.replace(tmp, path)
