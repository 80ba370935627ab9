"""Where each modality's file of a sample lives, and the missing-file summary."""
import os.path as osp
import warnings
from collections import Counter
from typing import Dict, Iterable, Mapping, Optional, Sequence, Tuple, Union

from .geo_io import file_exists

DirSpec = Union[str, Sequence[str]]


class MissingModalityWarning(UserWarning):
    """Some samples lack the file of a modality (treated as missing, not an error)."""


def resolve_modality_dirs(base: str, modality_dirs: Mapping[str, DirSpec]) -> Dict[str, str]:
    """Pick, per modality, the first candidate folder that exists under ``base``.

    A modality may list alternatives (``dsm=('dsm', 'height')``: both names occur
    in copies of DFC2023). If none exists the first name is kept, so every file of
    that modality counts as missing.
    """
    resolved = {}
    for name, candidates in modality_dirs.items():
        candidates = [candidates] if isinstance(candidates, str) else list(candidates)
        if not candidates:
            raise ValueError(f'modality {name!r} has no folder name')
        existing = [c for c in candidates if osp.isdir(osp.join(base, c))]
        resolved[name] = osp.join(base, existing[0] if existing else candidates[0])
    return resolved


def count_missing(data_list: Iterable[dict]) -> Dict[str, int]:
    """Number of samples whose file is absent, per modality (declared order kept)."""
    counts: Counter = Counter()
    order = []
    for info in data_list:
        for name, path in info.get('modality_paths', {}).items():
            if name not in order:
                order.append(name)
            if not file_exists(path):
                counts[name] += 1
    return {name: counts[name] for name in order if counts[name]}


def report_missing_files(dataset_name: str, data_list: Sequence[dict]) -> Dict[str, int]:
    """Warn ONCE (one summary) about samples with missing modality files."""
    counts = count_missing(data_list)
    if counts:
        detail = ', '.join(f'{name}: {n}/{len(data_list)}' for name, n in counts.items())
        warnings.warn(
            f'{dataset_name}: missing modality files ({detail} samples); those modalities '
            'are loaded as all-NaN (missing) for these samples', MissingModalityWarning,
            stacklevel=2)
    return counts


def default_modality_dirs(names: Optional[Iterable[str]], defaults: Mapping[str, DirSpec]
                          ) -> Dict[str, DirSpec]:
    """``defaults`` restricted to / extended by ``names`` (a name is its own folder)."""
    if names is None:
        return dict(defaults)
    return {n: defaults.get(n, n) for n in names}


def split_name(prefix: str) -> str:
    """'data/dfc/train/' → 'train' (used to name caches)."""
    return osp.basename(osp.normpath(prefix)) or 'split'


def as_tuple(x) -> Tuple:
    return tuple(x) if isinstance(x, (list, tuple)) else (x, )
