"""Fill in missing modalities with a pretrained MultiMAE model.

A tile (modality files, optionally onto a grid window, read by the config's own
``LoadMultimodalImages`` through a :class:`~.scene.read.TileReader`; or a normalised
array) goes through the model, and every modality's reconstruction is written as a
GeoTIFF on the input's grid, plus a PNG panel. Values are de-normalised to file units
where the normalisation can be inverted (a missing per-tile z-scored modality stays
in tile z-score units, tagged ``units=tile_zscore``); categorical modalities are
class indices. See docs/advanced_guides/pretraining.md.
"""
import dataclasses
import os
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets.normalization import denormalize, needs_tile_statistics, tile_statistics
from ..modalities import ModalitySet, ModalitySpec
from .fill_baseline import pixel_errors, training_mean_fill
from .model import init_pretrain_model, model_modality_set
from .scene.geotiff import write_geotiff
from .scene.read import Chip, TileReader

__all__ = ['ReconstructionResult', 'init_pretrain_model',
           'reconstruct_modalities', 'write_reconstructions', 'leave_one_out_errors']


@dataclasses.dataclass
class ReconstructionResult:
    """Reconstructions of every modality on the grid of the input tile.

    Attributes:
        inputs: the model input, (C, H, W) float32 normalised, NaN = missing.
        reconstructions: ``{name: (C, H, W) float32}`` in normalised units;
            categorical: class probabilities (K, H, W).
        values: ``{name: (C, H, W)}`` in file units where invertible (see module
            docstring), categorical: (1, H, W) uint8 class indices.
        units: ``{name: 'file' | 'tile_zscore' | 'class'}``.
        given: names of the modalities present in the input.
        crs / transform: georeferencing of the input grid (None for arrays).
    """

    inputs: np.ndarray
    reconstructions: Dict[str, np.ndarray]
    values: Dict[str, np.ndarray]
    units: Dict[str, str]
    given: Tuple[str, ...]
    specs: Tuple[ModalitySpec, ...]
    crs: object = None
    transform: object = None
    tile_stats: Dict[str, Tuple[np.ndarray, np.ndarray]] = dataclasses.field(default_factory=dict)


def _raw_tile_stats(reader: TileReader, paths: Mapping[str, Optional[str]], chip: Chip
                    ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Statistics of the given per-tile z-scored modalities (for de-normalisation): their
    raw values read by the same loader onto the chip's grid, without normalisation."""
    mset = reader.modality_set
    names = [s.name for s in mset.specs
             if needs_tile_statistics(s.norm) and s.name in chip.given]
    if not names:
        return {}
    raw_set = ModalitySet(tuple(dataclasses.replace(s, norm=None) for s in mset.specs),
                          tuple(names))
    raw = TileReader(raw_set, [reader.loader])
    height, width = chip.results['img_shape']
    grid = dict(crs=chip.crs, transform=chip.transform, shape=(height, width))
    img = raw.read(paths, grid=grid).results['img']
    stats = {n: tile_statistics(img[..., raw_set.slices[n]], mset.spec(n).norm) for n in names}
    return {n: s for n, s in stats.items() if np.isfinite(s[0]).all()}


def _fit_to_patches(img: torch.Tensor, patch_size: int, size: Optional[Tuple[int, int]]
                    ) -> torch.Tensor:
    """Resize (nearest, NaN-safe) to ``size`` or NaN-pad to a multiple of the patch size."""
    if size is not None:
        return F.interpolate(img, size=tuple(size), mode='nearest')
    h, w = img.shape[-2:]
    pad_h, pad_w = (-h) % patch_size, (-w) % patch_size
    if pad_h or pad_w:
        img = F.pad(img, (0, pad_w, 0, pad_h), value=float('nan'))
    return img


def _back_to_grid(rec: torch.Tensor, shape: Tuple[int, int], resized: bool) -> torch.Tensor:
    if resized:
        return F.interpolate(rec, size=shape, mode='bilinear', align_corners=False)
    return rec[..., :shape[0], :shape[1]]



@torch.no_grad()
def reconstruct_modalities(model,
                           tile: Union[Mapping[str, Optional[str]], np.ndarray],
                           size: Optional[Tuple[int, int]] = None,
                           visible: Optional[Dict[str, torch.Tensor]] = None,
                           grid=None, window=None,
                           reader: Optional[TileReader] = None) -> ReconstructionResult:
    """Reconstruct every modality of one tile from the modalities that are there.

    Args:
        model: a :class:`MultiMAE` (see :func:`init_pretrain_model`).
        tile: ``{name: path}`` of the available modality files (others missing),
            or a normalised (C, H, W) array of all declared channels, NaN = missing.
        size: run the model at this (H, W) (e.g. the training size) and resize the
            result back to the tile's grid; ``None`` runs at the tile's own size
            (NaN-padded to a multiple of the patch size).
        visible: optional token masks (B=1) passed to the backbone.
        grid, window: read the files onto this grid / window of it (see
            :meth:`TileReader.read`).
        reader: the loader to read with (default :meth:`TileReader.loader_of`).
    """
    mset = model_modality_set(model)
    specs = mset.specs
    if isinstance(tile, Mapping):
        reader = reader or TileReader.loader_of(model)
        chip = reader.read(tile, grid=grid, window=window)
        loaded = dict(img=np.ascontiguousarray(chip.img), crs=chip.crs,
                      transform=chip.transform, given=chip.given,
                      tile_stats=_raw_tile_stats(reader, tile, chip))
    else:
        img = np.asarray(tile, dtype=np.float32)
        if img.ndim != 3 or img.shape[0] != mset.total_channels:
            raise ValueError(f'expected a ({mset.total_channels}, H, W) array of the channels '
                             f'of {list(mset.names)}, got shape {img.shape}')
        given = tuple(n for n, sl in mset.slices.items() if np.isfinite(img[sl]).any())
        loaded = dict(img=img, crs=None, transform=None, given=given, tile_stats={})

    device = next(model.parameters()).device
    img = torch.from_numpy(loaded['img'])[None].to(device)
    shape = tuple(img.shape[-2:])
    model_input = _fit_to_patches(img, model.backbone.patch_size, size)
    if not any(bool(a.any()) for a in model.backbone.availability(model_input).values()):
        raise ValueError('the tile has no available patch in any modality: nothing to '
                         'reconstruct from')
    images = model.reconstruct(model_input, visible=visible)

    reconstructions, values, units = {}, {}, {}
    for spec in specs:
        rec = _back_to_grid(images[spec.name].float(), shape, size is not None)[0].cpu().numpy()
        reconstructions[spec.name] = rec
        stats = loaded['tile_stats'].get(spec.name)
        if spec.is_categorical:
            values[spec.name], units[spec.name] = rec.argmax(axis=0)[None].astype(np.uint8), 'class'
        elif needs_tile_statistics(spec.norm) and stats is None:
            values[spec.name], units[spec.name] = rec, 'tile_zscore'
        else:
            values[spec.name] = denormalize(rec, spec.norm, stats, channel_axis=0)
            units[spec.name] = 'file'
    return ReconstructionResult(inputs=loaded['img'], reconstructions=reconstructions,
                                values=values, units=units, given=loaded['given'],
                                specs=specs, crs=loaded['crs'], transform=loaded['transform'],
                                tile_stats=loaded['tile_stats'])


def leave_one_out_errors(model, tiles: Sequence[Mapping[str, str]],
                         size: Optional[Tuple[int, int]] = None,
                         train_tiles: Optional[Sequence[Mapping[str, str]]] = None
                         ) -> Dict[str, Dict[str, float]]:
    """How well the model fills in each modality from the others, on complete tiles.

    For every tile and modality m: reconstruct m once without m's file ("missing")
    and once with every file ("given"). Errors are pixel means over the tile's
    valid pixels in normalised units: mean absolute error for continuous
    modalities (and ``zero``, the error of predicting 0, i.e. the normalisation
    mean: the baseline a useful model beats), error rate of the argmax for
    categorical ones (``zero``: the error rate of the most frequent class).
    With ``train_tiles`` (``{name: path}`` per training tile, of the held-out tiles'
    size), also ``mean_fill``: the error of filling m with its per-pixel training
    mean (categorical: most frequent class), :func:`.fill_baseline.training_mean_fill`;
    the trivial fill a generator worth using beats.

    Returns ``{name: dict(missing=..., given=..., zero=...[, mean_fill=...])}``.
    """
    mset = model_modality_set(model)
    specs, slices = mset.specs, mset.slices
    reader = TileReader.loader_of(model)
    fill = None if train_tiles is None else training_mean_fill(model, train_tiles, reader)
    keys = ('missing', 'given', 'zero') + (() if fill is None else ('mean_fill', ))
    sums = {s.name: dict.fromkeys(keys, 0.0) for s in specs}
    counts = {s.name: 0 for s in specs}
    class_hist = {s.name: np.zeros(s.num_classes) for s in specs if s.is_categorical}
    for paths in tiles:
        full = reconstruct_modalities(model, paths, size=size, reader=reader)
        for spec in specs:
            target = full.inputs[slices[spec.name]]
            valid = np.isfinite(target).all(axis=0)
            if not valid.any():
                continue
            missing = reconstruct_modalities(
                model, {n: p for n, p in paths.items() if n != spec.name}, size=size,
                reader=reader)
            target_v, categorical = target[:, valid], spec.is_categorical
            for key, result in (('missing', missing), ('given', full)):
                rec = result.reconstructions[spec.name][:, valid]
                pred = rec.argmax(axis=0)[None] if categorical else rec
                sums[spec.name][key] += float(pixel_errors(pred, target_v, categorical).sum())
            if fill is not None:
                if spec.name not in fill or fill[spec.name].shape[1:] != valid.shape:
                    raise ValueError(
                        f'no per-pixel training mean of {spec.name!r} for the held-out tile '
                        f'{dict(paths)} of size {valid.shape}: the training tiles have no '
                        f'{spec.name!r} data or another size')
                sums[spec.name]['mean_fill'] += float(
                    pixel_errors(fill[spec.name][:, valid], target_v, categorical).sum())
            if categorical:
                class_hist[spec.name] += np.bincount(target_v[0].round().astype(int),
                                                     minlength=spec.num_classes)
            else:
                sums[spec.name]['zero'] += float(np.abs(target_v).mean(axis=0).sum())
            counts[spec.name] += int(valid.sum())
    errors = {}
    for spec in specs:
        n = counts[spec.name]
        if not n:
            continue
        row = {k: v / n for k, v in sums[spec.name].items()}
        if spec.is_categorical:
            row['zero'] = float(1.0 - class_hist[spec.name].max() / n)
        errors[spec.name] = row
    return errors


def write_reconstructions(result: ReconstructionResult, out_dir: str, prefix: str = '',
                          panel: bool = True) -> Dict[str, str]:
    """Write ``<prefix><name>.tif`` per modality (input grid and CRS) and a PNG panel.

    Returns ``{name: path}`` (and ``'panel'``).
    """
    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for spec in result.specs:
        tags = dict(modality=spec.name, units=result.units[spec.name],
                    given=','.join(result.given),
                    source='input' if spec.name in result.given else 'reconstructed')
        written[spec.name] = write_geotiff(
            osp.join(out_dir, f'{prefix}{spec.name}.tif'), result.values[spec.name],
            crs=result.crs, transform=result.transform, tags=tags)
    if panel:
        from ..visualization import reconstruction_panel
        written['panel'] = reconstruction_panel(
            result.specs, result.inputs, result.reconstructions, result.given,
            osp.join(out_dir, f'{prefix}panel.png'))
    return written
