"""Loading every modality of a sample into one NaN-aware float32 image."""
from collections import Counter
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import rasterio
from mmcv.transforms import BaseTransform

from ...modalities import channel_slices, parse_modalities, resolve_active
from ...registry import TRANSFORMS
from ..geo_io import RasterGrid, file_exists, read_modality
from ..normalization import normalize, resolve_norm

ACTIVE_KEY = 'active_modalities'
# GDAL settings for many small tiles: no directory listing per open (slow with
# thousands of files in a folder; sidecar .msk/.aux.xml files are then not seen),
# no .aux.xml statistics files, CRS from the GeoKeys (skips a PROJ database lookup,
# about 1.5 ms per open).
DEFAULT_GDAL_OPTIONS = dict(GDAL_DISABLE_READDIR_ON_OPEN='EMPTY_DIR', GDAL_PAM_ENABLED='NO',
                            GTIFF_SRS_SOURCE='GEOKEYS')


@TRANSFORMS.register_module()
class LoadMultimodalImages(BaseTransform):
    """Read, normalise and concatenate all declared modalities of a sample.

    Reads ``results['modality_paths'][name]`` for each declared modality, turns
    nodata into NaN, resamples modalities on another grid onto the grid of the
    reference modality (bilinear, nearest for categorical), normalises each with its
    spec's ``norm`` and concatenates the channels in declared order.

    A modality whose file is missing (path ``None`` or absent) becomes all-NaN; the
    dataset reports such files once, as a summary, when it is built. A modality not
    in ``results['active_modalities']`` (set by :class:`SelectModalities`) is all-NaN
    and its file is never opened.

    Added keys: ``img`` float32 (H, W, C), ``img_shape``, ``ori_shape``,
    ``img_path`` (the reference file, if not set), ``crs`` (rasterio CRS or None),
    ``transform`` (affine of the ``ori_shape`` grid), ``modality_names``,
    ``modality_slices`` (name → (start, stop) channel range), ``categorical_channels``
    (channel indices to resize with nearest), ``missing_modalities`` (file missing),
    ``inactive_modalities`` and ``reference_modality``.

    Args:
        modality_specs: the declared modality specs (config ``modality_specs``).
        reference: modality whose grid the others are resampled onto; default the
            first declared. If it is missing or inactive, the next available one
            (declared order) is used.
        resampling: rasterio resampling of continuous modalities ('bilinear',
            'cubic', 'average', ...).
        fallback_shape: (H, W) used when no active modality has a file; by default
            the data info's ``height``/``width`` are used and otherwise an error raised.
        gdal_options: GDAL configuration while reading (default
            :data:`DEFAULT_GDAL_OPTIONS`; ``{}`` for GDAL's defaults, e.g. when
            nodata masks live in sidecar ``.msk`` files).
    """

    def __init__(self,
                 modality_specs: Sequence[dict],
                 reference: Optional[str] = None,
                 resampling: str = 'bilinear',
                 fallback_shape: Optional[Tuple[int, int]] = None,
                 gdal_options: Optional[dict] = None):
        self.gdal_options = dict(DEFAULT_GDAL_OPTIONS if gdal_options is None else gdal_options)
        self.specs = parse_modalities(modality_specs)
        self.names = tuple(s.name for s in self.specs)
        for spec in self.specs:
            resolve_norm(spec.norm)  # fail at build time on a bad preset
        if reference is not None:
            resolve_active([reference], self.specs)
        self.reference = reference or self.names[0]
        self.resampling = resampling
        self.fallback_shape = fallback_shape
        slices = channel_slices(self.specs)
        self.slices = {n: (s.start, s.stop) for n, s in slices.items()}
        self.total_channels = sum(s.channels for s in self.specs)
        self.categorical_channels = [
            c for s in self.specs if s.is_categorical for c in range(*self.slices[s.name])]
        self.missing_counts: Counter = Counter()

    def _reference_order(self, readable: Iterable[str]) -> list:
        readable = list(readable)
        ordered = [self.reference] + [n for n in self.names if n != self.reference]
        return [n for n in ordered if n in readable]

    def transform(self, results: dict) -> dict:
        paths: Dict[str, Optional[str]] = results.get('modality_paths', {})
        active = results.get(ACTIVE_KEY)
        active = self.names if active is None else tuple(resolve_active(active, self.specs))
        # From a dataset (mmengine adds sample_idx) every declared modality must have
        # an entry: a name the dataset does not know is a config error, not missing data.
        # Direct callers may leave out modalities they do not have.
        unknown_to_dataset = [n for n in active if n not in paths]
        if unknown_to_dataset and 'sample_idx' in results:
            raise KeyError(
                f'declared modalities {unknown_to_dataset} have no entry in the sample\'s '
                f'modality_paths (it has {sorted(paths)}); map them to folders with the '
                "dataset's modality_dirs (a path of None marks a missing file)")
        specs = {s.name: s for s in self.specs}
        missing = [n for n in active if not file_exists(paths.get(n))]
        for name in missing:
            self.missing_counts[name] += 1
        readable = [n for n in active if n not in missing]

        arrays: Dict[str, np.ndarray] = {}
        grid: Optional[RasterGrid] = None
        with rasterio.Env(**self.gdal_options):
            for name in self._reference_order(readable):
                data, grid = read_modality(paths[name], specs[name], grid,
                                           resampling=self.resampling)
                arrays[name] = normalize(data, specs[name].norm, inplace=True)
        reference = self._reference_order(readable)[0] if readable else None

        if grid is None:
            shape = self._fallback_shape(results)
            height, width = shape
        else:
            height, width = grid.shape
        img = np.full((height, width, self.total_channels), np.nan, dtype=np.float32)
        for name, data in arrays.items():
            start, stop = self.slices[name]
            img[..., start:stop] = data

        results['img'] = img
        results['img_shape'] = (height, width)
        results['ori_shape'] = (height, width)
        if reference is not None:
            results.setdefault('img_path', paths[reference])
        results['crs'] = grid.crs if grid is not None else None
        results['transform'] = grid.transform if grid is not None else None
        results['reference_modality'] = reference
        results['modality_names'] = self.names
        results['modality_slices'] = dict(self.slices)
        results['categorical_channels'] = list(self.categorical_channels)
        results['missing_modalities'] = tuple(missing)
        results['inactive_modalities'] = tuple(n for n in self.names if n not in active)
        return results

    def _fallback_shape(self, results: dict) -> Tuple[int, int]:
        if results.get('height') and results.get('width'):
            return int(results['height']), int(results['width'])
        if self.fallback_shape is not None:
            return tuple(self.fallback_shape)
        raise FileNotFoundError(
            'no file of any active modality exists for sample '
            f"{results.get('img_id', results.get('sample_idx'))}: "
            f"{results.get('modality_paths')}; cannot determine the image grid "
            '(set fallback_shape to get an all-NaN image instead)')

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(modalities={list(self.names)}, '
                f'reference={self.reference!r}, resampling={self.resampling!r})')


@TRANSFORMS.register_module()
class SelectModalities(BaseTransform):
    """Keep only the active modality subset; all others become all-NaN.

    Put it BEFORE :class:`LoadMultimodalImages`: it records the subset in
    ``results['active_modalities']`` and the loader then never opens the files of
    inactive modalities (no wasted I/O at test time). Placed after loading it sets
    the inactive channels of ``img`` to NaN instead.

    Args:
        modalities: the active subset (config ``modalities``); ``None`` = all.
        modality_specs: the declared specs; unknown names raise
            :class:`~incomplete_fusion.modalities.UnknownModalityError` listing them.
    """

    def __init__(self, modalities: Optional[Sequence[str]], modality_specs: Sequence[dict]):
        self.specs = parse_modalities(modality_specs)
        self.active = resolve_active(modalities, self.specs)
        self.slices = {n: (s.start, s.stop) for n, s in channel_slices(self.specs).items()}

    def transform(self, results: dict) -> dict:
        previous = results.get(ACTIVE_KEY)
        active = self.active if previous is None else tuple(
            n for n in self.active if n in previous)
        results[ACTIVE_KEY] = active
        if 'img' in results:
            img = results['img']
            if not np.issubdtype(img.dtype, np.floating):
                img = img.astype(np.float32)
            for name, (start, stop) in self.slices.items():
                if name not in active:
                    img[..., start:stop] = np.nan
            results['img'] = img
            results['inactive_modalities'] = tuple(n for n in self.slices if n not in active)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(modalities={list(self.active)})'
