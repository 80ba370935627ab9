"""Normalisation of each modality: named presets and explicit statistics.

A spec's ``norm`` is a preset name (:data:`NORM_PRESETS`), a statistics dict or
``None`` (raw values). Steps, in order: ``db`` (to decibel, ``f·log10(x + 1e-7)``),
``clip=(low, high)``, then ``zscore`` (``'fixed'`` with ``mean``/``std``, or
``'tile'``: the finite pixels of the tile). Two more keys are no step: ``units``
(what the raw values must be) and ``typical`` (where a file's median must lie).
Guaranteed: NaN stays NaN through every step and never enters tile statistics;
:func:`denormalize` inverts every step but clipping.
See docs/user_guides/2_dataset_prepare.md#2-normalisation-presets.
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from ..modalities import UNITS

DB_EPS = 1e-7
# Generic SAR statistics in dB (10·log10 of power): land scenes of C-/X-band sensors.
_SAR_DB = dict(clip=(-30.0, 10.0), mean=(-12.5, ), std=(5.0, ))

NORM_PRESETS: Dict[str, Optional[dict]] = {
    # DFC2023 Track 2 optical (uint8 RGB).
    'dfc2023_rgb': dict(mean=(81.2, 87.8, 71.9), std=(41.3, 37.1, 37.4), units='dn8'),
    # DFC2023 SAR amplitude: to dB (10·log10 of the amplitude), clip, fixed z-score.
    # Typical: the clip range in amplitude (a file whose median lies outside is not
    # on this scale, e.g. a uint16 optical image).
    'dfc2023_sar': dict(db=True, clip=(-25.0, 0.0), mean=(-7.945, ), std=(2.777, ),
                        units='amplitude', typical=(10 ** -2.5, 1.0)),
    # Height (DSM): per-tile z-score, so absolute terrain height does not matter.
    'tile_zscore': dict(zscore='tile', units=None),
    # Quadruplet Sentinel-2 B2, B3, B4, B8 reflectance (uint16, scale 10000).
    'quadruplet_s2': dict(
        clip=(0.0, 10000.0),
        mean=(1353.3, 1265.4, 1269.0, 1976.1),
        std=(242.1, 290.8, 403.0, 516.8),
        units='reflectance_10000', typical=(10.0, 12000.0)),
    # Quadruplet Sentinel-1 VV, VH already in dB.
    'quadruplet_s1': dict(clip=(-25.0, 25.0), mean=(-9.02, -15.73), std=(3.58, 3.67),
                          units='db', typical=(-25.0, 25.0)),
    # Quadruplet DEM in metres: clip outliers, per-tile z-score.
    'quadruplet_dem': dict(clip=(-100.0, 5000.0), zscore='tile', units='metres'),
    # ISPRS Potsdam/Vaihingen 8-bit false-colour optical (IR-R-G): the constants of
    # mmseg's own ISPRS configs; convert_isprs writes the train split's statistics to
    # isprs_meta.json for a dataset-specific norm=dict(mean=..., std=...).
    'isprs_optical': dict(mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375),
                          units='dn8'),
    # ISPRS 8-bit nDSM (0 = ground): a fixed affine map to about [-0.5, 3.5]; absolute
    # height above ground is the information, so no per-tile z-score.
    'isprs_ndsm': dict(mean=(32.0, ), std=(64.0, ), units='dn8'),
    # Real products (docs/user_guides/datasets/real_products.md): generic
    # statistics, for fine-tuning.
    # SAR backscatter in dB (Sentinel-1 GRD σ⁰ as distributed, 10·log10 power).
    's1_db': dict(_SAR_DB, units='db', typical=(-35.0, 15.0)),
    # Calibrated SAR amplitude (sqrt of σ⁰/β⁰) and power (σ⁰): to dB, then as s1_db.
    'sar_amplitude': dict(_SAR_DB, db=20, units='amplitude',
                          typical=(10 ** (-35 / 20), 10 ** (15 / 20))),
    'sar_power': dict(_SAR_DB, db=10, units='power', typical=(10 ** -3.5, 10 ** 1.5)),
    # Optical surface reflectance scaled by 10000 (Sentinel-2 L2A, any band count).
    'reflectance_10000': dict(clip=(0.0, 10000.0), mean=(1800.0, ), std=(1200.0, ),
                              units='reflectance_10000', typical=(10.0, 12000.0)),
    # Categorical maps (Dynamic World): class indices are embedded, never normalised.
    'none': None,
}

NormLike = Union[str, Mapping, None]
_KEYS = {'db', 'clip', 'zscore', 'mean', 'std', 'units', 'typical'}


def resolve_norm(norm: NormLike) -> Optional[dict]:
    """Return the statistics dict of a preset name or validate an explicit one."""
    if norm is None:
        return None
    if isinstance(norm, str):
        if norm not in NORM_PRESETS:
            raise KeyError(f'unknown normalisation preset {norm!r}; '
                           f'known presets: {sorted(NORM_PRESETS)}')
        preset = NORM_PRESETS[norm]
        return None if preset is None else dict(preset)
    if not isinstance(norm, Mapping):
        raise TypeError(f'norm must be a preset name, a dict or None, got {type(norm).__name__}')
    stats = dict(norm)
    unknown = set(stats) - _KEYS
    if unknown:
        raise KeyError(f'unknown normalisation keys {sorted(unknown)}; allowed: {sorted(_KEYS)}')
    if stats.get('units') is not None and stats['units'] not in UNITS:
        raise ValueError(f"norm units must be one of {UNITS} or None, got {stats['units']!r}")
    if stats.get('zscore') not in (None, 'fixed', 'tile'):
        raise ValueError(f"zscore must be 'fixed', 'tile' or None, got {stats['zscore']!r}")
    if ('mean' in stats) != ('std' in stats):
        raise ValueError('norm needs both mean and std, or neither')
    if stats.get('zscore') == 'fixed' and 'mean' not in stats:
        raise ValueError("zscore='fixed' needs mean and std")
    return stats


def db_factor(stats: Optional[Mapping]) -> Optional[float]:
    """The factor of a statistics dict's ``db`` step (``True`` = 10), ``None`` without one."""
    db = (stats or {}).get('db')
    if db is None or db is False:
        return None
    return 10.0 if db is True else float(db)


def expected_units(norm: NormLike) -> Optional[str]:
    """The units a preset (or a statistics dict with ``units``) expects; ``None`` = any."""
    return (resolve_norm(norm) or {}).get('units')


# Conversions between units (opt-in per spec with ``convert=True``): SAR through power.
_TO_POWER = {'power': lambda x: x, 'amplitude': np.square,
             'db': lambda x: np.power(10.0, x / 10.0)}
_FROM_POWER = {'power': lambda x: x, 'amplitude': np.sqrt,
               'db': lambda x: 10.0 * np.log10(x)}
_SCALES = {'reflectance': 1.0, 'reflectance_10000': 10000.0}


def can_convert(src: str, dst: str) -> bool:
    return src == dst or (src in _TO_POWER and dst in _FROM_POWER) or (
        src in _SCALES and dst in _SCALES)


def convert_units(values, src: str, dst: str):
    """Values in units ``src`` → units ``dst`` (dB = 10·log10 power, amplitude = sqrt
    power; reflectance scales); NaN stays NaN. Raises ``ValueError`` if impossible."""
    if src == dst:
        return values
    if not can_convert(src, dst):
        raise ValueError(f'cannot convert {src!r} values to {dst!r}')
    with np.errstate(invalid='ignore', divide='ignore'):
        if src in _SCALES:
            return values * np.float32(_SCALES[dst] / _SCALES[src])
        return _FROM_POWER[dst](_TO_POWER[src](values)).astype(np.float32, copy=False)


def _per_channel(values: Union[float, Sequence[float]], channels: int, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float32).reshape(-1)
    if arr.size == 1:
        arr = np.repeat(arr, channels)
    if arr.size != channels:
        raise ValueError(f'{what} has {arr.size} values for {channels} channel(s)')
    return arr


def normalize(img: np.ndarray, norm: NormLike, inplace: bool = False) -> np.ndarray:
    """Normalise a float (H, W, C) array; NaN stays NaN. Returns float32.

    Args:
        img: float array (H, W, C), missing pixels already NaN.
        norm: preset name, statistics dict, or ``None`` (values returned as float32).
        inplace: allow overwriting ``img`` when it already is float32 (saves a copy).
    """
    stats = resolve_norm(norm)
    out = np.asarray(img, dtype=np.float32)
    if out is img and not inplace:
        out = out.copy()
    if stats is None:
        return out
    if out.ndim != 3:
        raise ValueError(f'expected an (H, W, C) array, got shape {out.shape}')
    _db_and_clip(out, stats)
    zscore = _zscore_kind(stats)
    if zscore == 'fixed':
        with np.errstate(invalid='ignore'):
            out -= _per_channel(stats['mean'], out.shape[-1], 'mean')
            out /= _per_channel(stats['std'], out.shape[-1], 'std')
    elif zscore == 'tile':
        out = tile_zscore(out)
    return out.astype(np.float32, copy=False)


def _zscore_kind(stats: Mapping) -> Optional[str]:
    return stats.get('zscore', 'fixed' if 'mean' in stats else None)


def _db_and_clip(out: np.ndarray, stats: Mapping) -> None:
    """The steps before the z-score, in place on a float array."""
    with np.errstate(invalid='ignore', divide='ignore'):
        factor = db_factor(stats)
        if factor:
            # Negative amplitudes are invalid: they become NaN via log10.
            out += DB_EPS
            np.log10(out, out=out)
            out *= factor
        if stats.get('clip') is not None:
            low, high = stats['clip']
            np.clip(out, low, high, out=out)  # NaN passes through np.clip


def _finite_mean_std(img: np.ndarray, eps: float) -> Tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and std (at least ``eps``) of the finite pixels of (H, W, C);
    NaN for a channel without any."""
    channels = img.shape[-1]
    mean, std = np.full(channels, np.nan), np.full(channels, np.nan)
    for c in range(channels):
        values = img[..., c][np.isfinite(img[..., c])].astype(np.float64)
        if values.size:
            mean[c], std[c] = values.mean(), max(values.std(), eps)
    return mean, std


def tile_zscore(img: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Per-channel z-score over the finite pixels of one tile.

    A channel without any finite pixel stays all-NaN; a constant channel becomes 0.
    """
    mean, std = _finite_mean_std(img, eps)
    return ((img - mean) / std).astype(np.float32)


def needs_tile_statistics(norm: NormLike) -> bool:
    """Whether inverting ``norm`` needs the statistics of the raw tile (per-tile z-score)."""
    stats = resolve_norm(norm)
    return stats is not None and _zscore_kind(stats) == 'tile'


def tile_statistics(img: np.ndarray, norm: NormLike, eps: float = 1e-6
                    ) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """The per-channel ``(mean, std)`` that :func:`normalize` z-scores this raw
    (H, W, C) tile with under a per-tile ``norm`` (after dB and clipping), for
    :func:`denormalize`; ``None`` when ``norm`` has no per-tile z-score."""
    if not needs_tile_statistics(norm):
        return None
    out = np.array(img, dtype=np.float32)
    _db_and_clip(out, resolve_norm(norm))
    return _finite_mean_std(out, eps)


def denormalize(img: np.ndarray, norm: NormLike,
                tile_stats: Optional[Tuple[Sequence[float], Sequence[float]]] = None,
                channel_axis: int = -1) -> np.ndarray:
    """Invert :func:`normalize` (all but clipping); NaN stays NaN. Returns float32.

    Args:
        img: normalised array, channels on ``channel_axis`` (default last, as
            :func:`normalize` takes them; 0 for (C, H, W)).
        norm: the preset name or statistics dict it was normalised with.
        tile_stats: ``(mean, std)`` per channel from :func:`tile_statistics`,
            needed for a per-tile z-score (:func:`needs_tile_statistics`).
    """
    stats = resolve_norm(norm)
    out = np.moveaxis(np.asarray(img, dtype=np.float64), channel_axis, -1)
    if stats is None:
        return np.moveaxis(out, -1, channel_axis).astype(np.float32)
    channels = out.shape[-1]
    zscore = _zscore_kind(stats)
    if zscore == 'tile':
        if tile_stats is None:
            raise ValueError('a per-tile z-score cannot be inverted without the raw tile\'s '
                             'statistics: pass tile_stats=tile_statistics(raw_tile, norm)')
        stats = dict(stats, mean=tile_stats[0], std=tile_stats[1])
    if zscore is not None:
        out = out * _per_channel(stats['std'], channels, 'std') + _per_channel(
            stats['mean'], channels, 'mean')
    if db_factor(stats):
        out = np.power(10.0, out / db_factor(stats)) - DB_EPS
    return np.moveaxis(out, -1, channel_axis).astype(np.float32)
