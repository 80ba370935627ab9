"""Low-label training: a seeded, stratified subset of a dataset's labelled tiles.

:class:`LabelledSubset` wraps a dataset (or a dataset dict) and keeps a ``fraction``
or ``count`` of its samples; :func:`wrap_train_dataset` wraps a config's train set.
Guaranteed: the subset depends only on ``seed``, the dataset order and the strata
(every rank and rerun gets the same indices), and a larger fraction with the same
seed keeps the smaller one's samples within each stratum. Strata come from the
annotations (instance class, or the dominant label-raster class read decimated);
without usable annotations the subset is uniform, with a logged note. ``.dataset``
exposes the wrapped dataset, so the run's modalities are bound to it.
See docs/advanced_guides/pretraining.md#low-label-fine-tuning.
"""
import copy
import logging
import math
import time
import warnings
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
from mmengine.logging import print_log

from ..registry import DATASETS

NO_CLASS = 'none'


def _read_label(path: str) -> Tuple[np.ndarray, Optional[float]]:
    """A decimated nearest-neighbour read of band 1 of a label raster, and its nodata."""
    import rasterio
    from rasterio.enums import Resampling

    from .value_checks import decimated_shape
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # PNG masks: NotGeoreferencedWarning
        with rasterio.open(path) as src:
            shape = decimated_shape(src.height, src.width)
            return src.read(1, out_shape=shape, resampling=Resampling.nearest), src.nodata


def _label_values(info: dict, ignore_index: int) -> np.ndarray:
    """Training label values of the decimated label raster of one data info."""
    raw, nodata = _read_label(info['seg_map_path'])
    valid = (raw >= 0) & (raw <= 255)
    if nodata is not None:
        valid &= raw != nodata
    values = raw[valid].astype(np.int64)
    lut = info.get('label_lut')
    if lut is not None:
        values = np.asarray(lut, np.int64)[values]
    elif info.get('label_map'):
        lut = np.arange(256)
        for old, new in info['label_map'].items():
            lut[old] = new
        values = lut[values]
    return values[values != ignore_index]


def _dominant(labels: Sequence[int], classes: Sequence[str]) -> str:
    """The most frequent label (ties: the lower one) among the classes, by name."""
    counts = Counter(int(v) for v in labels if 0 <= int(v) < len(classes))
    if not counts:
        return NO_CLASS
    best = max(counts.items(), key=lambda kv: (kv[1], -kv[0]))[0]
    return str(classes[best])


def sample_strata(dataset: Any) -> Tuple[Optional[List[str]], str]:
    """One stratum name per sample of ``dataset`` (fully initialised), or ``None``.

    Returns ``(strata, how)``: ``how`` says what the strata are, or why there are
    none (then the subset is drawn uniformly).
    """
    classes = list(dataset.metainfo.get('classes') or ())
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    if not classes or not infos:
        return None, 'the dataset declares no classes'
    if all('instances' in info for info in infos):
        strata = [_dominant([inst['bbox_label'] for inst in info['instances']
                             if not inst.get('ignore_flag', 0)], classes) for info in infos]
        return strata, 'most frequent instance class per tile (none: no instance)'
    if all(info.get('seg_map_path') for info in infos):
        ignore_index = getattr(dataset, 'ignore_index', 255)
        skip_background = classes[0].lower() == 'background'
        named = classes[1:] if skip_background else classes
        strata = []
        try:
            for info in infos:
                values = _label_values(info, ignore_index)
                if skip_background:
                    values = values[values > 0] - 1
                strata.append(_dominant(values, named))
        except Exception as error:  # unreadable label: no strata, say why
            return None, f'cannot read the label raster ({type(error).__name__}: {error})'
        what = ('most frequent non-background class present per tile (none: background only)'
                if skip_background else 'dominant class per tile')
        return strata, f'{what}, from a decimated read of the label rasters'
    return None, 'the data infos carry neither instances nor seg_map_path'


def allocate(sizes: Sequence[int], total: int) -> List[int]:
    """Samples per stratum: ``total`` split in proportion to ``sizes`` (largest
    remainders), at least one per non-empty stratum while ``total`` allows."""
    n = sum(sizes)
    quotas = [total * s / n for s in sizes]
    alloc = [math.floor(q) for q in quotas]
    order = sorted(range(len(sizes)), key=lambda i: (quotas[i] - alloc[i], sizes[i]),
                   reverse=True)
    for i in order[:total - sum(alloc)]:
        alloc[i] += 1
    nonempty = [i for i, s in enumerate(sizes) if s]
    if total >= len(nonempty):
        for i in nonempty:
            if alloc[i] == 0:  # take one from the stratum with the most to spare
                donor = max(nonempty, key=lambda j: (alloc[j] - 1, sizes[j]))
                alloc[donor] -= 1
                alloc[i] = 1
    return alloc


def select_indices(strata: Optional[Sequence[str]], length: int, total: int,
                   seed: int) -> List[int]:
    """``total`` sorted indices out of ``length``: per stratum a seeded prefix."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return sorted(rng.permutation(length)[:total].tolist())
    names = sorted(set(strata))
    members = [[i for i, s in enumerate(strata) if s == name] for name in names]
    alloc = allocate([len(m) for m in members], total)
    chosen = []
    for group, n in zip(members, alloc):
        chosen += [group[j] for j in rng.permutation(len(group))[:n]]
    return sorted(chosen)


def check_size(fraction: Optional[float], count: Optional[int]) -> None:
    """Exactly one of ``fraction`` in (0, 1] and ``count`` >= 1."""
    if (fraction is None) == (count is None):
        raise ValueError('LabelledSubset: give exactly one of fraction (0 < f <= 1) and count '
                         f'(number of tiles); got fraction={fraction!r}, count={count!r}')
    if fraction is not None and not (isinstance(fraction, (int, float))
                                     and 0 < fraction <= 1):
        raise ValueError(f'LabelledSubset: fraction must be in (0, 1], got {fraction!r}')
    if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                              or count < 1):
        raise ValueError(f'LabelledSubset: count must be an integer >= 1, got {count!r}')


@DATASETS.register_module()
class LabelledSubset:
    """A seeded (stratified where the annotations allow) subset of ``dataset``.

    Args:
        dataset: the dataset, or its config dict (built from ``DATASETS``).
        fraction: share of the samples kept, in (0, 1] (at least one sample).
        count: number of samples kept (at most ``len(dataset)``). Exactly one of
            ``fraction`` and ``count``.
        seed: selects the subset (independent of the run's ``randomness.seed``).
        stratify: stratify by the samples' classes (module docstring); False:
            uniform.
        pipeline: if given, replaces the wrapped dataset dict's ``pipeline``, so a
            partial config that sets ``train_dataloader.dataset.pipeline`` (the
            CPU preset) also works on a wrapped config.
        lazy_init: select on first use instead of at construction.

    Attributes after initialisation: ``indices`` (kept samples, indices into the
    wrapped dataset, ascending), ``strata`` (per kept sample, or ``None``) and
    ``stratum_counts`` (kept / available per stratum).
    """

    def __init__(self,
                 dataset: Any,
                 fraction: Optional[float] = None,
                 count: Optional[int] = None,
                 seed: int = 0,
                 stratify: bool = True,
                 pipeline: Optional[list] = None,
                 lazy_init: bool = False):
        check_size(fraction, count)
        if isinstance(dataset, dict):
            dataset = copy.deepcopy(dataset)
            if pipeline is not None:
                dataset['pipeline'] = pipeline
            dataset = DATASETS.build(dataset)
        elif pipeline is not None:
            raise ValueError('LabelledSubset: pipeline= applies to a dataset dict only')
        self.dataset = dataset
        self.fraction, self.count, self.seed, self.stratify = fraction, count, seed, stratify
        self._metainfo = dataset.metainfo
        self.indices: List[int] = []
        self.strata: Optional[List[str]] = None
        self.stratum_counts: Dict[str, Tuple[int, int]] = {}
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    def size_for(self, length: int) -> int:
        if self.count is not None:
            if self.count > length:
                raise ValueError(f'LabelledSubset: count={self.count} but the dataset has only '
                                 f'{length} samples')
            return self.count
        return min(length, max(1, int(round(self.fraction * length))))

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.dataset.full_init()
        length = len(self.dataset)
        total = self.size_for(length)
        name = type(self.dataset).__name__
        strata, how = None, 'stratify=False'
        if self.stratify:
            start = time.perf_counter()
            strata, how = sample_strata(self.dataset)
            how += f' ({time.perf_counter() - start:.1f} s)'
        self.indices = select_indices(strata, length, total, self.seed)
        if strata is None:
            print_log(f'LabelledSubset: {total}/{length} samples of {name}, seed {self.seed}, '
                      f'unstratified: {how}', logger='current',
                      level=logging.WARNING if self.stratify else logging.INFO)
        else:
            available = Counter(strata)
            kept = Counter(strata[i] for i in self.indices)
            self.stratum_counts = {s: (kept[s], available[s]) for s in sorted(available)}
            self.strata = [strata[i] for i in self.indices]
            detail = ', '.join(f'{s}: {k}/{a}' for s, (k, a) in self.stratum_counts.items())
            print_log(f'LabelledSubset: {total}/{length} samples of {name}, seed {self.seed}, '
                      f'strata = {how}; kept per stratum: {detail}', logger='current')
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return len(self.indices)

    def get_data_info(self, idx: int) -> dict:
        self.full_init()
        return self.dataset.get_data_info(self.indices[idx])

    def __getitem__(self, idx: int) -> dict:
        """The wrapped sample; a ``None`` from the pipeline refetches inside the subset."""
        self.full_init()
        if getattr(self.dataset, 'test_mode', False):
            return self.dataset[self.indices[idx]]
        rng = np.random.default_rng()
        for _ in range(getattr(self.dataset, 'max_refetch', 1000) + 1):
            data = self.dataset.prepare_data(self.indices[idx])
            if data is not None:
                return data
            idx = int(rng.integers(len(self.indices)))
        raise RuntimeError('LabelledSubset: no valid sample found in the subset '
                           '(the pipeline returned None every time)')


def wrap_train_dataset(cfg: Any, fraction: Optional[float] = None, count: Optional[int] = None,
                       seed: int = 0, stratify: bool = True) -> Any:
    """Wrap ``cfg.train_dataloader.dataset`` of any (composed) config in a
    :class:`LabelledSubset`, in place; returns ``cfg``."""
    check_size(fraction, count)
    cfg.train_dataloader.dataset = dict(
        type='LabelledSubset', dataset=cfg.train_dataloader.dataset, fraction=fraction,
        count=count, seed=seed, stratify=stratify)
    return cfg
