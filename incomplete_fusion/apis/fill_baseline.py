"""The trivial fill a generator has to beat: each pixel's mean over the training tiles.

Fill-in-then-segment is only worth it if the MultiMAE's reconstruction of a
missing modality is better than filling the gap with what the training tiles hold at
that pixel on average (categorical maps: the class they hold most often there). The
fill is computed in the model's normalised units from tiles read exactly as the model
reads them (:meth:`~.scene.read.TileReader.loader_of`: nodata as NaN, fixed or per-tile
z-score normalisation), so it is compared with the same targets as the reconstruction
(:func:`~.reconstruct.leave_one_out_errors`, key ``mean_fill``).
"""
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmengine.registry import DATASETS, DefaultScope

from ..binding import bind
from ..datasets.geo_io import file_exists
from ..engine.data_root import rebase_data_root, stale_data_root
from .model import model_modality_set
from .scene.read import TileReader

__all__ = ['training_mean_fill', 'pixel_errors', 'split_tiles']


def pixel_errors(pred: np.ndarray, target: np.ndarray, categorical: bool) -> np.ndarray:
    """Per-pixel error of ``pred`` against ``target``, both (C, N) over valid pixels:
    mean absolute error over channels; categorical: 1.0 where the class differs
    (``pred``: (1, N) class indices)."""
    if categorical:
        return (pred[0] != target[0].round()).astype(np.float64)
    return np.abs(pred - target).mean(axis=0, dtype=np.float64)


def training_mean_fill(model, tiles: Sequence[Mapping[str, str]],
                       reader: Optional[TileReader] = None) -> Dict[str, np.ndarray]:
    """Per-pixel fill of every modality from training tiles, in normalised units.

    Continuous modalities: per pixel and channel, the mean of the finite values over
    the tiles (nodata skipped per pixel). Categorical: per pixel the most frequent
    class (ties: the lower class index). A pixel where no training tile has data gets
    the modality's mean over all its finite training pixels (categorical: the most
    frequent class overall), so every held-out pixel has a fill.

    Args:
        model: the MultiMAE whose loader and modalities define the units.
        tiles: ``{name: path}`` per training tile, all of one size.
        reader: the loader to read with (default :meth:`TileReader.loader_of`).

    Returns:
        ``{name: (C, H, W) float32}``; categorical: (1, H, W) class indices. A modality
        no tile has any data for is left out.
    """
    if not tiles:
        raise ValueError('training_mean_fill needs at least one training tile')
    mset = model_modality_set(model)
    reader = reader or TileReader.loader_of(model)
    sums: Dict[str, np.ndarray] = {}
    counts: Dict[str, np.ndarray] = {}
    shape = None
    for paths in tiles:
        img = reader.read(paths).img.astype(np.float64)
        if shape is None:
            shape = img.shape[1:]
        elif img.shape[1:] != shape:
            raise ValueError(f'training tiles differ in size: {dict(paths)} is '
                             f'{img.shape[1:]}, the first tile {shape}; a per-pixel mean '
                             'needs tiles of one size')
        for spec in mset.specs:
            values = img[mset.slices[spec.name]]
            finite = np.isfinite(values)
            if spec.is_categorical:
                classes = np.where(finite[0], values[0], -1).round()
                hit = np.stack([classes == k for k in range(spec.num_classes)])
                counts[spec.name] = counts.get(spec.name, 0) + hit
            else:
                sums[spec.name] = sums.get(spec.name, 0) + np.where(finite, values, 0.0)
                counts[spec.name] = counts.get(spec.name, 0) + finite
    fill = {}
    for spec in mset.specs:
        count = counts[spec.name]
        if not np.any(count):
            continue
        if spec.is_categorical:
            per_pixel = count.argmax(axis=0)
            overall = count.sum(axis=(1, 2)).argmax()
            fill[spec.name] = np.where(count.any(axis=0), per_pixel, overall)[None]
        else:
            total = sums[spec.name]
            overall = total.sum(axis=(1, 2)) / np.maximum(count.sum(axis=(1, 2)), 1)
            fill[spec.name] = np.where(count > 0, total / np.maximum(count, 1),
                                       overall[:, None, None])
        fill[spec.name] = fill[spec.name].astype(np.float32)
    return fill


def split_tiles(model, ann_file: Optional[str] = None,
                img_dir: Optional[str] = None) -> List[Dict[str, str]]:
    """``{name: path}`` of the tiles the config's training dataset lists (its file
    lists, folders and aliases), or another split of the same layout: ``ann_file``
    and ``img_dir`` replace the dataset's ``ann_file`` and the image folder of its
    ``data_prefix`` (both relative to ``data_root``, as in the config). Absent files
    are left out of a tile (that modality is missing there)."""
    cfg = model.cfg
    loader = rebase_data_root(cfg.get('train_dataloader'), stale_data_root(cfg))
    dataset = dict((loader or {}).get('dataset') or {})
    if not dataset:
        raise ValueError('the config has no train_dataloader.dataset to list tiles with')
    dataset['pipeline'] = []  # only the file lists are needed
    if ann_file is not None:
        dataset['ann_file'] = ann_file
    if img_dir is not None:
        prefix = dict(dataset.get('data_prefix') or {})
        key = next((k for k in ('img_path', 'img') if k in prefix), None)
        if key is None:
            raise ValueError(f"{dataset.get('type')}: its data_prefix {prefix} names no image "
                             f"folder ('img_path' or 'img') to replace with {img_dir!r}")
        prefix[key] = img_dir
        dataset['data_prefix'] = prefix
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', None)):
        built = DATASETS.build(dataset)
    bind(model_modality_set(model), built)
    tiles = []
    for index in range(len(built)):
        paths = built.get_data_info(index).get('modality_paths')
        if paths is None:
            raise ValueError(f'{type(built).__name__} does not list one file per modality '
                             '(modality_paths); list the tiles yourself')
        tiles.append({n: p for n, p in paths.items() if file_exists(p)})
    if not tiles:
        raise ValueError(f"{type(built).__name__}({dataset.get('ann_file')}) lists no tile")
    return tiles
