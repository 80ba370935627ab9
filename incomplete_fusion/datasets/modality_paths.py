"""Where each modality's file of a sample lives, and what to say when data is absent.

A multimodal dataset keeps one folder per modality (``train/rgb/P0001.tif``,
``train/sar/P0001.tif``, ...). The folder of a modality defaults to its spec name,
so declaring a modality (one entry in ``modality_specs``) is all it takes to read
it; ``modality_dirs`` maps a name to other folder names where a release differs
(``dsm=['dsm', 'height']``: candidates, the first that exists wins).

The datasets are built before the run's modalities are bound to them, so the data
list holds, per sample, only the folder that holds the modality folders and the
file name (:data:`ROOT_KEY`, :data:`FILE_KEY`); :class:`ModalityFolders` turns them
into ``modality_paths`` for the ACTIVE modalities when a sample is fetched
(inactive ones map to ``None``: their files are never opened) and checks folders
and files once, when the set is bound.
"""
import os
import os.path as osp
import warnings
from collections import Counter
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Union

from ..binding import ModalityConsumer
from ..modalities import ModalitySet
from .geo_io import file_exists

DirSpec = Union[str, Sequence[str]]
ROOT_KEY = 'modality_root'  # data info key: folder holding the modality folders
FILE_KEY = 'modality_file'  # data info key: file name inside each modality folder


class MissingModalityWarning(UserWarning):
    """Some samples lack the file of a modality (treated as missing, not an error)."""


class DataNotFoundError(FileNotFoundError):
    """A dataset's data_root, annotation file or split folder does not exist."""


def require_data(dataset, layout: Optional[str], paths: Mapping[str, str]) -> None:
    """Raise :class:`DataNotFoundError` unless ``dataset.data_root`` and ``paths`` exist.

    ``paths`` maps what a path is (``'annotation file'``) to the path. The message
    names the first absent one and says how to generate the synthetic stand-in of
    ``layout`` there, or to point ``data_root`` at real data. Remote paths
    (``s3://``...) are not checked.
    """
    data_root = getattr(dataset, 'data_root', None)
    items = ([('data_root', data_root)] if data_root else []) + list(paths.items())
    for what, path in items:
        if not path or '://' in str(path) or osp.exists(path):
            continue
        root = osp.normpath(data_root or osp.dirname(path) or '.')
        how = (f'Generate synthetic data there with `python tools/make_synthetic_data.py '
               f'{layout} {root}`, or point' if layout else 'Point')
        raise DataNotFoundError(
            f'{type(dataset).__name__}: the {what} {path} does not exist. {how} `data_root` at '
            'a real copy of the release (docs/user_guides/2_dataset_prepare.md), e.g. '
            '--cfg-options '
            'data_root=/path/to/data')


def candidate_folders(spec: Optional[DirSpec], name: str) -> List[str]:
    """Folder names a modality may use: ``spec`` (one or a list), default its own name."""
    candidates = [name] if spec is None else [spec] if isinstance(spec, str) else list(spec)
    if not candidates or not all(isinstance(c, str) and c for c in candidates):
        raise ValueError(f'modality {name!r}: modality_dirs must give folder names, got {spec!r}')
    return candidates


def report_missing_files(dataset_name: str, data_list: Sequence[dict]) -> Dict[str, int]:
    """Warn ONCE (one summary) about samples whose ``modality_paths`` file is absent.

    Entries of ``None`` (inactive modalities) are not counted. Returns the number of
    samples without their file, per modality (declared order kept).
    """
    counts: Counter = Counter()
    order: List[str] = []
    for info in data_list:
        for name, path in info.get('modality_paths', {}).items():
            if path is None:
                continue
            if name not in order:
                order.append(name)
            if not file_exists(path):
                counts[name] += 1
    counts = {name: counts[name] for name in order if counts[name]}
    if counts:
        detail = ', '.join(f'{name}: {n}/{len(data_list)}' for name, n in counts.items())
        warnings.warn(
            f'{dataset_name}: missing modality files ({detail} samples); those modalities '
            'are loaded as all-NaN (missing) for these samples', MissingModalityWarning,
            stacklevel=2)
    return counts


class ModalityFolders(ModalityConsumer):
    """Mixin for mmengine datasets with one folder per modality (put it first in the bases).

    ``load_data_list`` stores, per sample, :data:`ROOT_KEY` (the folder holding the
    modality folders) and :data:`FILE_KEY` (the file name inside each). Then:

    * when the run's :class:`~incomplete_fusion.modalities.ModalitySet` is bound
      (:meth:`on_bind`), every active modality must have a folder (a candidate of
      ``modality_dirs``, default its spec name) under at least one sample root, else
      the error lists the folders found; samples whose file is absent are counted
      and reported once (:class:`MissingModalityWarning`);
    * :meth:`get_data_info` adds ``modality_paths`` (active name → file, inactive →
      ``None``) and points ``img_path`` at the first active modality's file;
    * :meth:`prepare_data` (every sample through the pipeline) requires the binding.

    Class attribute ``FOLDER_ALIASES``: candidate folders a release is known to use
    for a modality (tried when the config's ``modality_dirs`` does not name it).
    """

    FOLDER_ALIASES: Mapping[str, DirSpec] = {}

    def _set_modality_dirs(self, modality_dirs: Optional[Mapping[str, DirSpec]]) -> None:
        self.modality_dirs = dict(modality_dirs or {})
        self._folder_cache: Dict[tuple, str] = {}
        self._checked: set = set()

    def _candidates(self, name: str) -> List[str]:
        return candidate_folders(self.modality_dirs.get(name, self.FOLDER_ALIASES.get(name)),
                                 name)

    def modality_folder(self, root: str, name: str) -> str:
        """The folder of modality ``name`` under a sample root (first existing candidate)."""
        key = (root, name)
        if key not in self._folder_cache:
            candidates = self._candidates(name)
            existing = [c for c in candidates if osp.isdir(osp.join(root, c))]
            self._folder_cache[key] = osp.join(root, (existing or candidates)[0])
        return self._folder_cache[key]

    def modality_path(self, info: dict, name: str) -> str:
        """The file of modality ``name`` of a sample: :data:`FILE_KEY` in the modality's
        folder (a release naming files per modality overrides this)."""
        return osp.join(self.modality_folder(info[ROOT_KEY], name), info[FILE_KEY])

    def _raw_infos(self) -> Iterable[dict]:
        get = super().get_data_info  # without modality_paths
        return (get(i) for i in range(len(self)))

    def on_bind(self, modality_set: ModalitySet) -> None:
        unused = sorted(set(self.modality_dirs) - set(modality_set.names))
        if unused:
            warnings.warn(f'{type(self).__name__}: modality_dirs names {unused}, which are not '
                          f'declared modalities ({list(modality_set.names)}); ignored')
        if self._fully_initialized:
            self._check_folders(modality_set)

    def full_init(self) -> None:
        was_initialized = self._fully_initialized
        super().full_init()
        if self.is_bound and not was_initialized:  # lazy_init: bound before the data list
            self._check_folders(self.modality_set)

    def _check_folders(self, modality_set: ModalitySet) -> None:
        """Every active modality has a folder; report absent files (once per modality)."""
        names = [n for n in modality_set.active if n not in self._checked]
        if not names or len(self) == 0:
            return
        infos = list(self._raw_infos())
        roots = list(dict.fromkeys(info[ROOT_KEY] for info in infos))
        for name in names:
            candidates = self._candidates(name)
            if not any(osp.isdir(osp.join(r, c)) for r in roots for c in candidates):
                raise FileNotFoundError(self._no_folder_message(name, candidates, roots))
        paths = [dict(modality_paths={n: self.modality_path(info, n) for n in names})
                 for info in infos]
        report_missing_files(f'{type(self).__name__}({self.ann_file})', paths)
        self._checked.update(names)

    def _no_folder_message(self, name: str, candidates: List[str], roots: List[str]) -> str:
        found = sorted({d for r in roots if osp.isdir(r) for d in os.listdir(r)
                        if osp.isdir(osp.join(r, d))})
        where = roots[0] if len(roots) == 1 else f'{roots[0]} (and {len(roots) - 1} more)'
        return (f'{type(self).__name__}: active modality {name!r} has no folder {candidates} '
                f'under {where}; folders found: {found}. Name its folder(s) in the dataset\'s '
                f'modality_dirs (e.g. modality_dirs=dict({name}=[...])), or leave {name!r} out '
                'of the run\'s `modalities`.')

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        if not self.is_bound or ROOT_KEY not in info:
            return info  # e.g. a dataset wrapper counting categories before the run binds
        mset = self.modality_set
        paths = {name: (self.modality_path(info, name) if name in mset.active else None)
                 for name in mset.names}
        info['modality_paths'] = paths
        info['img_path'] = paths[mset.active[0]]
        return info

    def prepare_data(self, idx: int):
        self.modality_set  # noqa: B018  (unbound: the error says what to add)
        return super().prepare_data(idx)
