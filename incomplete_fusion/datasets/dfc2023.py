"""IEEE GRSS DFC2023 Track 2: building instances and binary building semantics.

Reads the release layout (and that of ``tools/make_synthetic_data.py dfc2023``):
``{data_root}/{train,val}/{rgb,sar,dsm}/*.tif`` (``dsm`` also accepts ``height/``)
and ``{data_root}/annotations/buildings_only_{train,val}.json`` (COCO, polygons and
RLE, checked once by :mod:`~incomplete_fusion.datasets.coco_checks`). Once the run's
modalities are bound, every data info carries ``modality_paths`` (active modality →
file, inactive → ``None``) for ``LoadMultimodalImages``.
See docs/user_guides/datasets/dfc2023.md.
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
from .coco_checks import check_coco_annotations, checked_segmentation
from .modality_paths import FILE_KEY, ROOT_KEY, DirSpec, ModalityFolders, require_data

# Folder names that copies of the release use besides the modality's own name.
DFC2023_FOLDER_ALIASES: Dict[str, DirSpec] = dict(dsm=('dsm', 'height'))
LAYOUT = 'dfc2023'  # tools/make_synthetic_data.py writes this layout


def segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray:
    """Binary mask (H, W) uint8 of a COCO segmentation: polygons, RLE or uncompressed RLE.

    Takes the forms :func:`~incomplete_fusion.datasets.coco_checks.checked_segmentation`
    returns (an empty list or ``None``: no pixel).
    """
    if not segmentation:
        return np.zeros((height, width), np.uint8)
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
class DFC2023InstanceDataset(ModalityFolders, CocoDataset):
    """DFC2023 Track 2 building instance segmentation (mmdet, COCO json).

    Category ``building`` (COCO id 1) becomes label 0 (mmdet's ``cat2label``), so
    it never collides with Mask2Former's no-object class.

    Args:
        modality_dirs: modality name → folder (or candidate folders) under the split
            folder ``data_prefix['img']``, for folders not named after the modality.
            Default: the modality's name (``dsm`` also tries ``height``).
        All other arguments are :class:`mmdet.datasets.CocoDataset`'s; the defaults
        point to the train split.
    """

    METAINFO = dict(classes=('building', ), palette=[(220, 20, 60)])
    FOLDER_ALIASES = DFC2023_FOLDER_ALIASES

    def __init__(self,
                 *args,
                 ann_file: str = 'annotations/buildings_only_train.json',
                 data_prefix: dict = dict(img='train/'),
                 modality_dirs: Optional[Mapping[str, DirSpec]] = None,
                 **kwargs):
        self._set_modality_dirs(modality_dirs)
        super().__init__(*args, ann_file=ann_file, data_prefix=data_prefix, **kwargs)

    def parse_data_info(self, raw_data_info: dict):
        image = raw_data_info['raw_img_info']
        for ann in raw_data_info['raw_ann_info']:  # once per annotation, when the json is read
            if 'segmentation' in ann:
                ann['segmentation'] = checked_segmentation(ann, image, self.ann_file)
        data_info = super().parse_data_info(raw_data_info)
        data_info[ROOT_KEY] = self.data_prefix['img']
        data_info[FILE_KEY] = raw_data_info['raw_img_info']['file_name']
        return data_info

    def load_data_list(self) -> List[dict]:
        require_data(self, LAYOUT, {'annotation file': self.ann_file,
                                   'split folder': self.data_prefix['img']})
        return super().load_data_list()


@DATASETS.register_module()
class DFC2023BuildingSegDataset(ModalityFolders, BaseSegDataset):
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
    FOLDER_ALIASES = DFC2023_FOLDER_ALIASES

    def __init__(self,
                 ann_file: str = 'annotations/buildings_only_train.json',
                 data_prefix: dict = dict(img_path='train/', seg_map_path=''),
                 modality_dirs: Optional[Mapping[str, DirSpec]] = None,
                 mask_cache_dir: Optional[str] = None,
                 **kwargs):
        self._set_modality_dirs(modality_dirs)
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
        split_dir = self.data_prefix['img_path']
        require_data(self, LAYOUT, {'annotation file': self.ann_file, 'split folder': split_dir})
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local:
            with open(local, 'rb') as f:
                raw = f.read()
        coco = json.loads(raw)
        check_coco_annotations(coco.get('annotations', []), coco['images'], self.ann_file)
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

        data_list = []
        for image in sorted(coco['images'], key=lambda im: im['id']):
            stem = osp.splitext(image['file_name'])[0]
            seg_path = osp.join(cache, stem + self.seg_map_suffix)
            if not osp.exists(seg_path):
                self._write_mask(seg_path, image, anns_by_image.get(image['id'], []), cat_ids)
            data_list.append(dict(
                img_path=osp.join(split_dir, image['file_name']),
                seg_map_path=seg_path,
                **{ROOT_KEY: split_dir, FILE_KEY: image['file_name']},
                img_id=image['id'],
                height=image['height'],
                width=image['width'],
                label_map=self.label_map,
                reduce_zero_label=self.reduce_zero_label,
                seg_fields=[]))
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
