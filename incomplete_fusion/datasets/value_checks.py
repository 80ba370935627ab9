"""Do a modality file's values fit its declared units?

For a spec that declares ``units``: when the run is bound, the units must be those
its ``norm`` preset expects (or ``convert=True`` with a conversion);
on the first read of each file, a sample of at most :data:`MAX_SAMPLES` pixels per
band (NaN/nodata ignored) must hold values possible for the units and a median in
the preset's ``typical`` range, else :class:`ValueRangeError` names the file,
modality, band, observed range and fix. Complex rasters fail whatever the units
(:class:`ComplexRasterError`). Specs without ``units`` are not checked.
See docs/user_guides/datasets/real_products.md#2-the-checks.
"""
import math
import os
from typing import Optional, Sequence, Tuple

import numpy as np

from ..modalities import ModalitySpec
from .normalization import can_convert, convert_units, expected_units, resolve_norm

__all__ = ['ValueRangeError', 'ComplexRasterError', 'PHYSICAL_RANGE', 'MAX_SAMPLES',
           'TOLERANCE', 'check_spec_units', 'conversion', 'check_not_complex',
           'needs_check', 'check_values', 'decimated_shape', 'clear_cache']

# Values a file in these units can hold; anything beyond is impossible (or nodata that
# the file does not declare). Reflectance allows L2A offsets and bright clouds.
PHYSICAL_RANGE = {
    'amplitude': (0.0, math.inf),
    'power': (0.0, math.inf),
    'db': (-100.0, 100.0),
    'reflectance': (-0.2, 2.0),
    'reflectance_10000': (-2000.0, 20000.0),
    'dn8': (0.0, 255.0),
    'metres': (-500.0, 9000.0),
}
MAX_SAMPLES = 4096  # pixels per band looked at
TOLERANCE = 1e-3  # fraction of impossible values let through (saturated or stray pixels)
# A preset for each units, suggested in errors.
PRESET_FOR = {'db': 's1_db', 'amplitude': 'sar_amplitude', 'power': 'sar_power',
              'reflectance_10000': 'reflectance_10000'}

_checked = set()


class ValueRangeError(ValueError):
    """A file's values are impossible for, or not on the scale of, the declared units."""


class ComplexRasterError(ValueError):
    """A complex-valued raster (e.g. single-look complex SAR) given as a modality."""


def check_spec_units(spec: ModalitySpec) -> None:
    """Fail when ``spec.units`` contradict its norm preset's units (when bound)."""
    wanted = expected_units(spec.norm)
    if spec.units is None or wanted is None or spec.units == wanted:
        return
    if spec.convert and can_convert(spec.units, wanted):
        return
    if spec.convert:
        raise ValueError(f'modality {spec.name!r}: convert=True, but {spec.units!r} values '
                         f'cannot be converted to the {wanted!r} that norm {spec.norm!r} '
                         'expects; use a norm for the file\'s units')
    other = PRESET_FOR.get(spec.units)
    use = f"norm={other!r} (a preset for {spec.units!r}), or " if other else ''
    how = (f'set convert=True to convert {spec.units} → {wanted} on reading'
           if can_convert(spec.units, wanted) else 'declare the file\'s real units')
    raise ValueError(f'modality {spec.name!r} declares units={spec.units!r}, but its norm '
                     f'{spec.norm!r} expects {wanted!r} values: use {use}{how}')


def conversion(spec: ModalitySpec) -> Optional[Tuple[str, str]]:
    """``(file units, preset units)`` when the spec converts on reading, else ``None``."""
    wanted = expected_units(spec.norm) if spec.convert else None
    if wanted is None or spec.units is None or wanted == spec.units:
        return None
    return spec.units, wanted


def check_not_complex(path: str, name: str, dtypes: Sequence[str]) -> None:
    complex_types = sorted({str(d) for d in dtypes if 'complex' in str(d)})
    if complex_types:
        raise ComplexRasterError(
            f'{path}: modality {name!r} is complex-valued ({", ".join(complex_types)}, e.g. '
            'single-look complex SAR); convert to amplitude/dB first (amplitude = |z|, '
            'dB = 20·log10|z|, e.g. gdal_calc.py -A FILE --calc="numpy.abs(A)" '
            '--type=Float32 --outfile=amplitude.tif), geocoded onto a north-up grid, and '
            "declare units='amplitude' or 'db' (docs/user_guides/datasets/real_products.md)")


def _key(path: str, spec: ModalitySpec):
    try:
        stat = os.stat(path)
        stamp = (stat.st_mtime_ns, stat.st_size)
    except OSError:
        stamp = None
    return (os.path.abspath(path), stamp, spec.name, spec.units, repr(spec.norm), spec.bands,
            spec.nodata, spec.convert, spec.num_classes)


def needs_check(path: str, spec: ModalitySpec) -> Optional[tuple]:
    """Whether ``path`` still has to be checked for ``spec`` (units declared, not seen):
    the key to pass to :func:`check_values`, else ``None``."""
    if spec.units is None:
        return None
    key = _key(path, spec)
    return None if key in _checked else key


def clear_cache() -> None:
    """Forget which files passed (benchmarks, tests)."""
    _checked.clear()


def decimated_shape(height: int, width: int) -> Tuple[int, int]:
    """The (H, W) of a decimated read with at most about :data:`MAX_SAMPLES` pixels."""
    step = max(1, math.ceil(math.sqrt(height * width / MAX_SAMPLES)))
    return max(1, height // step), max(1, width // step)


def check_values(values: np.ndarray, spec: ModalitySpec, path: str, dtype: str = '',
                 tolerance: float = TOLERANCE, key: Optional[tuple] = None) -> None:
    """Check (C, H, W) float values (NaN = missing) of ``path`` against ``spec.units``;
    raises :class:`ValueRangeError`, else remembers ``path`` as checked (under ``key``
    from :func:`needs_check`, if given)."""
    if spec.units is None:
        return
    height, width = values.shape[1:]
    step = max(1, math.ceil(math.sqrt(height * width / MAX_SAMPLES)))
    bands = spec.bands or range(1, values.shape[0] + 1)
    stats = resolve_norm(spec.norm) or {}
    typical = stats.get('typical') if can_convert(spec.units, stats.get('units')) else None
    lowest, highest = PHYSICAL_RANGE.get(spec.units, (0, int(spec.num_classes or 1) - 1))
    sample = values[:, ::step, ::step]
    lows, highs = np.fmin.reduce(sample, axis=(1, 2)), np.fmax.reduce(sample, axis=(1, 2))
    for band, channel, low, high in zip(bands, sample, lows, highs):
        if np.isnan(low):
            continue  # no valid pixel (min/max ignore NaN)
        if spec.units == 'classes' or typical or not lowest <= low <= high <= highest:
            channel = channel[np.isfinite(channel)]  # the slow path: all but a fast pass
            _check_band(channel, spec, path, band, dtype, tolerance, (stats.get('units'), typical))
    _checked.add(key or _key(path, spec))


def _check_band(valid: np.ndarray, spec: ModalitySpec, path: str, band: int, dtype: str,
                tolerance: float, expected: Tuple[Optional[str], Optional[tuple]]) -> None:
    units, low, high = spec.units, valid.min(), valid.max()
    median = float(np.partition(valid, valid.size // 2)[valid.size // 2])  # upper median
    seen = (f'observed {low:.4g} … {high:.4g}, median {median:.4g}, {dtype or "float"} '
            f'values of a decimated sample, NaN/nodata ignored')
    where = f"{path}: modality {spec.name!r}, band {band}, declared units={units!r}"
    if units == 'classes':
        last = int(spec.num_classes) - 1
        bad = (valid != np.round(valid)) | (valid < 0) | (valid > last)
        if bad.mean() > tolerance:
            codes = ', '.join(f'{v:g}' for v in np.unique(valid[bad])[:8])
            raise ValueRangeError(
                f'{where}: class codes {codes} are outside the declared set 0..{last} '
                f'(num_classes={last + 1}; {seen}). Fix: declare nodata=<code> if a code '
                'marks missing pixels, or remap the map to the declared classes')
        return
    lowest, highest = PHYSICAL_RANGE[units]
    bad = (valid < lowest) | (valid > highest)
    if bad.mean() > tolerance:
        raise ValueRangeError(
            f'{where}: {100 * bad.mean():.1f} % of the values are impossible for these units '
            f'(possible: {lowest:g} … {highest:g}; {seen}). {_hint(spec, low, high)}')
    wanted, typical = expected
    if typical is None:
        return
    with np.errstate(divide='ignore', invalid='ignore'):
        in_preset = float(convert_units(np.float64(median), units, wanted))
    if not typical[0] <= in_preset <= typical[1]:
        raise ValueRangeError(
            f'{where}: the median is not on the scale of norm {spec.norm!r}, which expects '
            f'{wanted} values with a median in {typical[0]:.4g} … {typical[1]:.4g} ({seen}). '
            f'{_scale_hint(spec, wanted, dtype, in_preset < typical[0])}')


def _hint(spec: ModalitySpec, low: float, high: float) -> str:
    """The fix for values impossible for ``spec.units``."""
    units = spec.units
    if units in ('amplitude', 'power') and low < 0:
        return ("Negative values: this looks like dB. Fix: declare units='db' with "
                "norm='s1_db', or keep this norm and convert: units='db', convert=True "
                f'(dB → {units}); from tools/infer.py: --cfg-options '
                'modality_specs.<i>.units=db modality_specs.<i>.convert=True, <i> = the '
                f'position of {spec.name!r} in modality_specs')
    if units == 'db':
        return ("This looks like linear amplitude/power (or DN), not dB. Fix: declare "
                "units='amplitude' (norm='sar_amplitude') or units='power' (norm='sar_power')")
    if units == 'reflectance' and high > 2:
        return "This looks like reflectance ×10000. Fix: units='reflectance_10000'"
    if units == 'dn8':
        return ('Not 8-bit data (a 16-bit product?). Fix: declare its real units, e.g. '
                "units='reflectance_10000' with norm='reflectance_10000'")
    extreme = low if units == 'metres' and low < -500 else high
    return (f'Fix: declare the nodata value if it marks missing pixels (e.g. '
            f'nodata={extreme:g} in the modality spec), or the file\'s real units')


def _scale_hint(spec: ModalitySpec, wanted: str, dtype: str, below: bool) -> str:
    if wanted in ('amplitude', 'power') and 'int' in dtype and not below:
        return (f'Integer {dtype} data where calibrated SAR {wanted} is expected: an '
                'optical/panchromatic image, or uncalibrated DN (calibrate to σ⁰ first)? '
                'Fix: give the right file, or declare its real units and a norm for them '
                '(docs/user_guides/datasets/real_products.md)')
    if wanted == 'reflectance_10000' and below:
        return ("Reflectance on a 0–1 scale? Fix: units='reflectance', convert=True")
    return ('Fix: give the right file, or declare its real units and a norm for them '
            '(docs/user_guides/datasets/real_products.md)')
