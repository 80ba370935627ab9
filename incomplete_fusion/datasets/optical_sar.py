"""Optical + SAR land-cover releases read as distributed (OpenEarthMap-SAR, EarthMiss).

Guaranteed here, for every release built on :class:`PairedLandCoverDataset`:

* label convention declared once: code 0 is ignored, codes ``1..K`` are the K
  classes (mmseg's ``reduce_zero_label``); :class:`LoadLabelCodes` refuses any other
  code, naming the file, and lets a sample without a label through (prediction);
* samples are the file pairs of the release's folders (one folder per modality,
  one for labels); a file without its partner in another folder is a
  :class:`ReleasePairError` that names it, never a silently smaller dataset;
* each modality's file name may differ per release folder (``x.tif`` / ``x_SAR.tif``).

Docs: docs/user_guides/datasets/oemsar.md, docs/user_guides/datasets/earthmiss.md.
"""
import os
import os.path as osp
from typing import Dict, List, Mapping, Optional, Tuple

import numpy as np
from mmseg.datasets import BaseSegDataset
from mmseg.datasets.transforms import LoadAnnotations

from ..registry import TRANSFORMS
from .modality_paths import FILE_KEY, ROOT_KEY, DataNotFoundError, DirSpec, ModalityFolders

IMAGE_EXTENSIONS = ('.tif', '.tiff', '.png')
RELEASE_FILES_KEY = 'release_files'  # data info key: release folder name -> file name
IGNORE_INDEX = 255


class ReleasePairError(FileNotFoundError):
    """A release file has no partner in another of the release's folders."""


def list_release_folder(folder: str, suffix: str = '') -> Dict[str, str]:
    """Sample id → file name of the images in ``folder`` (``{id}{suffix}{ext}``)."""
    found = {}
    for name in sorted(os.listdir(folder)):
        stem, ext = osp.splitext(name)
        if ext.lower() in IMAGE_EXTENSIONS and stem.endswith(suffix):
            found[stem[:len(stem) - len(suffix)] if suffix else stem] = name
    return found


def pair_release_files(base: str, folders: Mapping[str, str], release: str
                       ) -> Dict[str, Dict[str, str]]:
    """Sample id → {folder: file name} over ``folders`` (relative folder → file suffix).

    Raises :class:`ReleasePairError` when a sample lacks its file in some folder (up
    to five examples named) and :class:`DataNotFoundError` when no folder has an image.
    """
    listed = {folder: list_release_folder(osp.join(base, folder), suffix)
              for folder, suffix in folders.items()}
    ids = sorted(set().union(*(set(f) for f in listed.values())))
    if not ids:
        raise DataNotFoundError(f'{release}: no {IMAGE_EXTENSIONS} images in '
                                f'{[osp.join(base, f) for f in folders]}')
    broken = [(i, [f for f in folders if i not in listed[f]]) for i in ids
              if any(i not in listed[f] for f in folders)]
    if broken:
        shown = '; '.join(
            f'{i}: no file in {", ".join(missing)} (present: '
            + ', '.join(f'{f}/{listed[f][i]}' for f in folders if i in listed[f]) + ')'
            for i, missing in broken[:5])
        raise ReleasePairError(
            f'{release}: {len(broken)} of {len(ids)} samples under {base} lack a file: {shown}'
            f'{" ..." if len(broken) > 5 else ""}. Every sample needs one file in each of '
            f'{list(folders)}; re-extract the release, or remove the unpaired files')
    return {i: {f: listed[f][i] for f in folders} for i in ids}


@TRANSFORMS.register_module()
class LoadLabelCodes(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` for labels with declared codes; prediction without labels.

    After the dataset's label convention (``reduce_zero_label``, ``label_map``), every
    value must be a class index ``0..num_classes-1`` or ``ignore_index``; otherwise a
    ``ValueError`` names the file and the offending codes as stored in it. A sample
    whose ``seg_map_path`` is ``None`` (a test split released without labels) passes
    without ``gt_seg_map``.
    """

    def __init__(self, num_classes: int, ignore_index: int = IGNORE_INDEX, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.ignore_index = ignore_index

    def transform(self, results: dict) -> dict:
        if results.get('seg_map_path') is None:
            return results
        results = super().transform(results)
        label = results['gt_seg_map']
        bad = (label >= self.num_classes) & (label != self.ignore_index)
        if bad.any():
            values = np.unique(label[bad]).astype(np.int64)
            if results.get('reduce_zero_label'):
                values = values + 1  # back to the codes stored in the file
            codes = ', '.join(str(v) for v in values[:8])
            first = 1 if results.get('reduce_zero_label') else 0
            raise ValueError(
                f'{results["seg_map_path"]}: {int(bad.sum())} pixel(s) hold label code(s) '
                f'{codes}, which are not codes of this dataset (classes are '
                f'{first}..{first + self.num_classes - 1}'
                + (', 0 = ignored' if first else '') + '). Fix: give the release\'s own '
                'label file, or remap its codes to the declared classes')
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(num_classes={self.num_classes}, '
                f'ignore_index={self.ignore_index})')


class PairedLandCoverDataset(ModalityFolders, BaseSegDataset):
    """Base of the optical + SAR releases: 0 ignored, ``1..K`` = ``METAINFO['classes']``.

    Subclasses implement :meth:`sample_groups` (the folders to pair and where each
    group's labels are) and declare ``FOLDER_ALIASES`` (modality → release folder).

    Args:
        modality_dirs: modality name → release folder(s), where it is not the release's
            (``FOLDER_ALIASES``).
        test_mode: a group without its label folder is predicted (no ``seg_map_path``);
            without ``test_mode`` the labels are required.
    """

    RELEASE = ''

    def __init__(self, modality_dirs: Optional[Mapping[str, DirSpec]] = None,
                 ignore_index: int = IGNORE_INDEX, **kwargs):
        if 'reduce_zero_label' in kwargs and not kwargs.pop('reduce_zero_label'):
            raise ValueError(f'{self.RELEASE} labels use 0 for "ignore": reduce_zero_label '
                             'stays True')
        self._set_modality_dirs(modality_dirs)
        super().__init__(ignore_index=ignore_index, reduce_zero_label=True, **kwargs)

    def sample_groups(self) -> List[Tuple[str, Dict[str, str], Optional[Tuple[str, str]]]]:
        """``(root, {image folder: file suffix}, (label folder, suffix) or None)`` per group.

        ``root`` holds the image folders; the label folder is relative to ``root``.
        """
        raise NotImplementedError

    def modality_path(self, info: dict, name: str) -> str:
        folder = self.modality_folder(info[ROOT_KEY], name)
        files = info.get(RELEASE_FILES_KEY, {})
        return osp.join(folder, files.get(osp.basename(folder), info[FILE_KEY]))

    def load_data_list(self) -> List[dict]:
        data_list = []
        for root, image_folders, labels in self.sample_groups():
            has_labels = labels is not None and osp.isdir(osp.join(root, labels[0]))
            if not has_labels and not self.test_mode:
                where = osp.join(root, labels[0]) if labels else root
                raise DataNotFoundError(
                    f'{self.RELEASE}: no labels at {where}; training needs labels (a split '
                    'released without labels can only be predicted: test_mode=True)')
            folders = {f: s for f, s in image_folders.items() if osp.isdir(osp.join(root, f))}
            if not folders:
                raise DataNotFoundError(f'{self.RELEASE}: none of the folders '
                                        f'{list(image_folders)} exists under {root}')
            if has_labels:
                folders[labels[0]] = labels[1]
            for sample_id, files in pair_release_files(root, folders, self.RELEASE).items():
                label_file = files.pop(labels[0]) if has_labels else None
                data_list.append({
                    ROOT_KEY: root, FILE_KEY: next(iter(files.values())),
                    RELEASE_FILES_KEY: {osp.basename(f): n for f, n in files.items()},
                    'seg_map_path': osp.normpath(osp.join(root, labels[0], label_file))
                    if has_labels else None,
                    'sample_id': sample_id, 'label_map': self.label_map,
                    'reduce_zero_label': True, 'seg_fields': []})
        return data_list
