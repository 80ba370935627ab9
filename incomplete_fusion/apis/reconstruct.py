"""Fill in missing modalities with a pretrained MultiMAE model.

Every modality decoder of :class:`~incomplete_fusion.models.selfsup.MultiMAE`
reads the fusion tokens, so a model pretrained on complete data can predict a
sensor that is missing from a tile out of the ones that are there (the
generative answer to a missing sensor). This module loads a tile (any subset of
modality files, or an already normalised array), runs the model and writes each
modality's reconstruction as a GeoTIFF on the input's grid plus a PNG panel.

Units: the model works in the normalised units of the loading transform. Fixed
statistics presets (``dfc2023_rgb``, ``dfc2023_sar`` incl. dB, ``quadruplet_*``)
are inverted back to the file units (clipping is not undone). Per-tile z-scores
(DSM/DEM) are inverted with the statistics of the input tile when that modality
was given; for a modality that was missing there is nothing to invert with, and
its GeoTIFF stays in tile z-score units (tagged ``units=tile_zscore``).
Categorical modalities are written as class indices (uint8, argmax).
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn.functional as F

from ..datasets.geo_io import read_modality
from ..datasets.normalization import DB_EPS, resolve_norm
from ..datasets.transforms.loading import LoadMultimodalImages
from ..modalities import ModalitySpec, channel_slices, parse_modalities

__all__ = ['ReconstructionResult', 'init_pretrain_model', 'load_tile', 'reconstruct_modalities',
           'write_reconstructions', 'denormalize', 'leave_one_out_errors']


@dataclass
class ReconstructionResult:
    """Reconstructions of every modality on the grid of the input tile.

    Attributes:
        inputs: the model input, (C, H, W) float32 normalised, NaN = missing.
        reconstructions: ``{name: (C, H, W) float32}`` in normalised units;
            categorical: class probabilities (K, H, W).
        values: ``{name: (C, H, W)}`` in file units where invertible (see module
            docstring), categorical: (1, H, W) uint8 class indices.
        units: ``{name: 'file' | 'tile_zscore' | 'normalised' | 'class'}``.
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
    tile_stats: Dict[str, Tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def init_pretrain_model(config, checkpoint: Optional[str] = None, device: str = 'cpu',
                        cfg_options: Optional[dict] = None):
    """Build the pretraining model of ``config`` and load ``checkpoint`` (eval mode)."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from ..registry import MODELS
    from ..utils import load_config

    cfg = config if isinstance(config, Config) else load_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:
        model.init_weights()
    model.cfg = cfg
    return model.to(device).eval()


def _model_specs(model) -> Tuple[ModalitySpec, ...]:
    return tuple(model.backbone.specs)


def _raw_tile_stats(paths: Mapping[str, str], specs: Sequence[ModalitySpec], grid
                    ) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """Per-channel mean/std (after db/clip) of the given per-tile z-scored modalities,
    so that their reconstructions can be mapped back to file units."""
    stats = {}
    for spec in specs:
        norm = resolve_norm(spec.norm)
        if not norm or norm.get('zscore') != 'tile' or not paths.get(spec.name):
            continue
        raw, _ = read_modality(paths[spec.name], spec, grid)
        with np.errstate(invalid='ignore', divide='ignore'):
            if norm.get('db'):
                raw = 10.0 * np.log10(raw + DB_EPS)
            if norm.get('clip') is not None:
                raw = np.clip(raw, *norm['clip'])
        flat = raw.reshape(-1, raw.shape[-1]).astype(np.float64)
        finite = np.isfinite(flat)
        if not finite.any():
            continue
        mean = np.array([flat[finite[:, c], c].mean() for c in range(flat.shape[1])])
        std = np.array([max(flat[finite[:, c], c].std(), 1e-6) for c in range(flat.shape[1])])
        stats[spec.name] = (mean, std)
    return stats


def load_tile(paths: Mapping[str, Optional[str]], specs: Sequence[Union[Mapping, ModalitySpec]]
              ) -> dict:
    """Read the given modality files of one tile with the package's loading transform.

    Returns ``dict(img=(C, H, W) float32, crs, transform, given, tile_stats)``.
    """
    specs = parse_modalities(specs)
    names = [s.name for s in specs]
    unknown = [n for n in paths if n not in names]
    if unknown:
        raise ValueError(f'unknown modality name(s) {unknown}; declared: {names}')
    missing_files = [p for p in paths.values() if p and not osp.exists(p)]
    if missing_files:
        raise FileNotFoundError(f'input file(s) not found: {missing_files}')
    loader = LoadMultimodalImages(modality_specs=list(specs))
    results = loader.transform(dict(modality_paths=dict(paths)))
    grid = None
    if results['transform'] is not None:
        from ..datasets.geo_io import RasterGrid
        height, width = results['img_shape']
        grid = RasterGrid(results['crs'], results['transform'], height, width)
    return dict(img=np.ascontiguousarray(results['img'].transpose(2, 0, 1)),
                crs=results['crs'], transform=results['transform'],
                given=tuple(n for n in names if paths.get(n)),
                tile_stats=_raw_tile_stats(paths, specs, grid))


def _channel_values(values, channels: int) -> np.ndarray:
    """Preset statistics as a (C, 1, 1) array (one value broadcasts to every channel)."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, channels)
    if arr.size != channels:
        raise ValueError(f'statistics have {arr.size} values for {channels} channel(s)')
    return arr[:, None, None]


def denormalize(values: np.ndarray, norm, tile_stats: Optional[Tuple] = None
                ) -> Tuple[np.ndarray, str]:
    """Invert a normalisation preset on a (C, H, W) array; returns (array, units)."""
    stats = resolve_norm(norm)
    if stats is None:
        return values, 'file'
    channels = values.shape[0]
    out = values.astype(np.float64)
    zscore = stats.get('zscore', 'fixed' if 'mean' in stats else None)
    if zscore == 'fixed':
        out = out * _channel_values(stats['std'], channels) + _channel_values(
            stats['mean'], channels)
    elif zscore == 'tile':
        if tile_stats is None:
            return values.astype(np.float32), 'tile_zscore'
        mean, std = tile_stats
        out = out * np.asarray(std)[:, None, None] + np.asarray(mean)[:, None, None]
    if stats.get('db'):
        out = np.power(10.0, out / 10.0) - DB_EPS
    return out.astype(np.float32), 'file'


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
                           visible: Optional[Dict[str, torch.Tensor]] = None
                           ) -> ReconstructionResult:
    """Reconstruct every modality of one tile from the modalities that are there.

    Args:
        model: a :class:`MultiMAE` (see :func:`init_pretrain_model`).
        tile: ``{name: path}`` of the available modality files (others missing),
            or a normalised (C, H, W) array of all declared channels, NaN = missing.
        size: run the model at this (H, W) (e.g. the training size) and resize the
            result back to the tile's grid; ``None`` runs at the tile's own size
            (NaN-padded to a multiple of the patch size).
        visible: optional token masks (B=1) passed to the backbone.
    """
    specs = _model_specs(model)
    if isinstance(tile, Mapping):
        loaded = load_tile(tile, specs)
    else:
        img = np.asarray(tile, dtype=np.float32)
        expected = sum(s.channels for s in specs)
        if img.ndim != 3 or img.shape[0] != expected:
            raise ValueError(f'expected a ({expected}, H, W) array of the channels of '
                             f'{[s.name for s in specs]}, got shape {img.shape}')
        slices = channel_slices(specs)
        given = tuple(s.name for s in specs if np.isfinite(img[slices[s.name]]).any())
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
        if spec.is_categorical:
            values[spec.name] = rec.argmax(axis=0)[None].astype(np.uint8)
            units[spec.name] = 'class'
        else:
            values[spec.name], units[spec.name] = denormalize(
                rec, spec.norm, loaded['tile_stats'].get(spec.name))
    return ReconstructionResult(inputs=loaded['img'], reconstructions=reconstructions,
                                values=values, units=units, given=loaded['given'],
                                specs=specs, crs=loaded['crs'], transform=loaded['transform'],
                                tile_stats=loaded['tile_stats'])


def leave_one_out_errors(model, tiles: Sequence[Mapping[str, str]],
                         size: Optional[Tuple[int, int]] = None) -> Dict[str, Dict[str, float]]:
    """How well the model fills in each modality from the others, on complete tiles.

    For every tile and modality m: reconstruct m once without m's file ("missing")
    and once with every file ("given"). Errors are pixel means over the tile's
    valid pixels in normalised units: mean absolute error for continuous
    modalities (and ``zero``, the error of predicting 0, i.e. the normalisation
    mean: the baseline a useful model beats), error rate of the argmax for
    categorical ones (``zero``: the error rate of the most frequent class).

    Returns ``{name: dict(missing=..., given=..., zero=...)}``.
    """
    specs = _model_specs(model)
    slices = channel_slices(specs)
    sums = {s.name: dict(missing=0.0, given=0.0, zero=0.0) for s in specs}
    counts = {s.name: 0 for s in specs}
    class_hist = {s.name: np.zeros(s.num_classes) for s in specs if s.is_categorical}
    for paths in tiles:
        full = reconstruct_modalities(model, paths, size=size)
        for spec in specs:
            target = full.inputs[slices[spec.name]]
            valid = np.isfinite(target).all(axis=0)
            if not valid.any():
                continue
            missing = reconstruct_modalities(
                model, {n: p for n, p in paths.items() if n != spec.name}, size=size)
            target_v = target[:, valid]
            for key, result in (('missing', missing), ('given', full)):
                rec = result.reconstructions[spec.name][:, valid]
                if spec.is_categorical:
                    error = (rec.argmax(axis=0) != target_v[0].round()).astype(np.float64)
                else:
                    error = np.abs(rec - target_v).mean(axis=0)
                sums[spec.name][key] += float(error.sum())
            if spec.is_categorical:
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
    import rasterio

    os.makedirs(out_dir, exist_ok=True)
    written = {}
    for spec in result.specs:
        data = result.values[spec.name]
        path = osp.join(out_dir, f'{prefix}{spec.name}.tif')
        profile = dict(driver='GTiff', height=data.shape[1], width=data.shape[2],
                       count=data.shape[0], dtype=data.dtype.name, compress='deflate')
        if result.crs is not None:
            profile['crs'] = result.crs
        if result.transform is not None:
            profile['transform'] = result.transform
        if data.dtype.kind == 'f':
            profile['nodata'] = float('nan')
        with rasterio.open(path, 'w', **profile) as dst:
            dst.write(data)
            dst.update_tags(modality=spec.name, units=result.units[spec.name],
                            given=','.join(result.given),
                            source='input' if spec.name in result.given else 'reconstructed')
        written[spec.name] = path
    if panel:
        written['panel'] = save_panel(result, osp.join(out_dir, f'{prefix}panel.png'))
    return written


def _display(array: np.ndarray, spec: ModalitySpec) -> Tuple[np.ndarray, dict]:
    """An image matplotlib can show: RGB for 3 channels, else the first channel."""
    if spec.is_categorical:
        classes = array if array.shape[0] == 1 else array.argmax(axis=0)[None]
        return np.ma.masked_invalid(classes[0].astype(np.float32)), dict(
            cmap='tab10', vmin=0, vmax=max(spec.num_classes - 1, 1), interpolation='nearest')
    if array.shape[0] == 3:
        rgb = array.transpose(1, 2, 0).astype(np.float64)
        finite = np.isfinite(rgb)
        if not finite.any():
            return np.zeros(rgb.shape), {}
        low, high = np.percentile(rgb[finite], [2, 98])
        rgb = np.clip((rgb - low) / max(high - low, 1e-6), 0, 1)
        return np.where(finite, rgb, 1.0), {}
    band = np.ma.masked_invalid(array[0])
    finite = array[0][np.isfinite(array[0])]
    low, high = np.percentile(finite, [2, 98]) if finite.size else (0, 1)
    return band, dict(cmap='viridis', vmin=low, vmax=high)


def save_panel(result: ReconstructionResult, path: str) -> str:
    """PNG: one row per modality, columns 'input' (or missing) and 'reconstruction'."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    slices = channel_slices(result.specs)
    rows = len(result.specs)
    fig, axes = plt.subplots(rows, 2, figsize=(6, 3 * rows), squeeze=False)
    for row, spec in enumerate(result.specs):
        given = result.inputs[slices[spec.name]]
        ax_in, ax_rec = axes[row]
        if spec.name in result.given and np.isfinite(given).any():
            image, kwargs = _display(given, spec)
            ax_in.imshow(image, **kwargs)
            ax_in.set_title(f'{spec.name}: input', fontsize=9)
        else:
            ax_in.text(0.5, 0.5, 'missing', ha='center', va='center', transform=ax_in.transAxes)
            ax_in.set_title(f'{spec.name}: input', fontsize=9)
        image, kwargs = _display(result.reconstructions[spec.name], spec)
        ax_rec.imshow(image, **kwargs)
        ax_rec.set_title(f'{spec.name}: reconstruction', fontsize=9)
        for ax in (ax_in, ax_rec):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
