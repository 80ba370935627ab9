"""Loading every modality of a sample into one NaN-aware float32 image."""
from collections import Counter
from typing import Dict, Iterable, Optional, Sequence, Tuple

import numpy as np
import rasterio
from mmcv.transforms import BaseTransform

from ...binding import ModalityConsumer
from ...modalities import ModalitySet
from ...registry import TRANSFORMS
from ..geo_io import RasterGrid, file_exists, read_modality
from ..normalization import convert_units, normalize
from ..value_checks import check_spec_units, conversion

ACTIVE_KEY = 'active_modalities'
# Optional keys of a scene window (set by scene inference / reconstruction): read every
# modality onto this grid (a RasterGrid or dict(crs, transform, shape)) instead of the
# reference modality's, restricted to the pixel window (col_off, row_off, width, height).
GRID_KEY, WINDOW_KEY = 'target_grid', 'target_window'
# GDAL settings for many small tiles: no directory listing per open (slow with
# thousands of files in a folder; sidecar .msk/.aux.xml files are then not seen),
# no .aux.xml statistics files, CRS from the GeoKeys (skips a PROJ database lookup,
# about 1.5 ms per open).
DEFAULT_GDAL_OPTIONS = dict(GDAL_DISABLE_READDIR_ON_OPEN='EMPTY_DIR', GDAL_PAM_ENABLED='NO',
                            GTIFF_SRS_SOURCE='GEOKEYS')


@TRANSFORMS.register_module()
class LoadMultimodalImages(ModalityConsumer, BaseTransform):
    """Read, normalise and concatenate all declared modalities of a sample.

    The declared and active modalities come from the run (a
    :class:`~incomplete_fusion.modalities.ModalitySet` bound by this package's loops,
    see :mod:`incomplete_fusion.binding`), never from this transform's own
    config, so ``--cfg-options modalities=[...]`` reaches it under every entry point.

    Reads ``results['modality_paths'][name]`` for each active modality, turns
    nodata into NaN, resamples modalities on another grid onto the grid of the
    reference modality (bilinear, nearest for categorical), normalises each with its
    spec's ``norm`` and concatenates the channels in declared order.

    A modality whose file is missing (path ``None`` or absent) becomes all-NaN; the
    dataset reports such files once, as a summary, when it is built. A modality not
    in ``results['active_modalities']`` (set by :class:`SelectModalities`) is all-NaN
    and its file is never opened.

    Scene windows: with ``results['target_grid']`` (a
    :class:`~incomplete_fusion.datasets.geo_io.RasterGrid` or ``dict(crs, transform,
    shape)``) every modality is read onto that grid instead of the reference
    modality's (only the source window covering it is read; other resolutions and
    CRSs are resampled as above); ``results['target_window']`` (a rasterio
    ``Window`` or ``(col_off, row_off, width, height)``) restricts it to a pixel
    window of the grid, which may reach past the grid's edges (those pixels are
    NaN). Sliding-window inference and reconstruction read their tiles this way,
    through the same transform (and its settings) as training and testing.

    Added keys: ``img`` float32 (H, W, C), ``img_shape``, ``ori_shape``,
    ``img_path`` (the reference file, if not set), ``crs`` (rasterio CRS or None),
    ``transform`` (affine of the ``ori_shape`` grid), ``modality_names``,
    ``modality_slices`` (name → (start, stop) channel range), ``categorical_channels``
    (channel indices to resize with nearest), ``missing_modalities`` (file missing),
    ``inactive_modalities`` and ``reference_modality``.

    Args:
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
        check_values: check each file's values against its spec's ``units`` on its
            first read (:mod:`~incomplete_fusion.datasets.value_checks`; specs
            without units are never checked). Units contradicting a spec's ``norm``
            preset fail when the run is bound; a spec with ``convert=True`` has its
            values converted to the preset's units before normalising.
    """

    def __init__(self,
                 reference: Optional[str] = None,
                 resampling: str = 'bilinear',
                 fallback_shape: Optional[Tuple[int, int]] = None,
                 gdal_options: Optional[dict] = None,
                 check_values: bool = True):
        self.check_values = check_values
        self.gdal_options = dict(DEFAULT_GDAL_OPTIONS if gdal_options is None else gdal_options)
        self.reference = reference
        self.resampling = resampling
        self.fallback_shape = fallback_shape
        self.missing_counts: Counter = Counter()

    def on_bind(self, modality_set: ModalitySet) -> None:
        for spec in modality_set.specs:
            check_spec_units(spec)  # fail before the first sample on a bad preset/units
        if self.reference is not None:
            modality_set.resolve([self.reference])

    def _reference_order(self, readable: Iterable[str]) -> list:
        readable = list(readable)
        names = self.modality_set.names
        first = self.reference or names[0]
        ordered = [first] + [n for n in names if n != first]
        return [n for n in ordered if n in readable]

    def transform(self, results: dict) -> dict:
        mset = self.modality_set
        paths: Dict[str, Optional[str]] = results.get('modality_paths', {})
        active = mset.active
        if results.get(ACTIVE_KEY) is not None:
            restricted = mset.resolve(results[ACTIVE_KEY])
            active = tuple(n for n in active if n in restricted)
        # From a dataset (mmengine adds sample_idx) every declared modality must have
        # an entry: a name the dataset does not know is a config error, not missing data.
        # Direct callers may leave out modalities they do not have.
        unknown_to_dataset = [n for n in active if n not in paths]
        if unknown_to_dataset and 'sample_idx' in results:
            raise KeyError(
                f'declared modalities {unknown_to_dataset} have no entry in the sample\'s '
                f'modality_paths (it has {sorted(paths)}); map them to folders with the '
                "dataset's modality_dirs (a path of None marks a missing file)")
        missing = [n for n in active if not file_exists(paths.get(n))]
        for name in missing:
            self.missing_counts[name] += 1
        readable = [n for n in active if n not in missing]

        arrays: Dict[str, np.ndarray] = {}
        grid, inside = self._target_grid(results)
        with rasterio.Env(**self.gdal_options):
            for name in self._reference_order(readable):
                spec = mset.spec(name)
                data, grid = read_modality(paths[name], spec, grid, resampling=self.resampling,
                                           check_values=self.check_values)
                if conversion(spec):
                    data = convert_units(data, *conversion(spec))
                if inside is not None:  # no data outside the target grid (before tile stats)
                    outside = np.ones(data.shape[:2], dtype=bool)
                    outside[inside] = False
                    data[outside] = np.nan
                arrays[name] = normalize(data, spec.norm, inplace=True)
        reference = self._reference_order(readable)[0] if readable else None

        if grid is None:
            shape = self._fallback_shape(results)
            height, width = shape
        else:
            height, width = grid.shape
        img = np.full((height, width, mset.total_channels), np.nan, dtype=np.float32)
        slices = mset.slices
        for name, data in arrays.items():
            img[..., slices[name]] = data

        results['img'] = img
        results['img_shape'] = (height, width)
        results['ori_shape'] = (height, width)
        if reference is not None:
            results.setdefault('img_path', paths[reference])
        results['crs'] = grid.crs if grid is not None else None
        results['transform'] = grid.transform if grid is not None else None
        results['reference_modality'] = reference
        results['modality_names'] = mset.names
        results['modality_slices'] = {n: (s.start, s.stop) for n, s in slices.items()}
        results['categorical_channels'] = mset.categorical_channels
        results['missing_modalities'] = tuple(missing)
        results['inactive_modalities'] = tuple(n for n in mset.names if n not in active)
        return results

    @staticmethod
    def _target_grid(results: dict) -> Tuple[Optional[RasterGrid], Optional[Tuple[slice, slice]]]:
        """The grid to read onto (``target_grid``/``target_window``) and, for a window,
        the part of it inside the target grid; ``(None, None)`` without a target."""
        if results.get(GRID_KEY) is None:
            if results.get(WINDOW_KEY) is not None:
                raise KeyError(f'{WINDOW_KEY!r} needs {GRID_KEY!r} (the grid it is a window of)')
            return None, None
        grid = RasterGrid.coerce(results[GRID_KEY])
        window = results.get(WINDOW_KEY)
        if window is None:
            return grid, None
        return grid.window(window), grid.inside(window)

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
        names = list(self.modality_set.active) if self.is_bound else '(not bound yet)'
        return (f'{self.__class__.__name__}(modalities={names}, '
                f'reference={self.reference!r}, resampling={self.resampling!r})')


@TRANSFORMS.register_module()
class SelectModalities(ModalityConsumer, BaseTransform):
    """Restrict a pipeline to a fixed subset of the run's modalities.

    The run's active set (``modalities``) already reaches
    :class:`LoadMultimodalImages`; this transform is for a pipeline that must never
    use some modality whatever the run says (e.g. a dataset known to lack it). The
    result is the intersection with the run's active set.

    Put it BEFORE :class:`LoadMultimodalImages`: it records the subset in
    ``results['active_modalities']`` and the loader then never opens the other
    files. Placed after loading it sets the other channels of ``img`` to NaN.

    Args:
        modalities: the names to keep (must be declared; checked when bound).
    """

    def __init__(self, modalities: Sequence[str]):
        if isinstance(modalities, str) or not modalities:
            raise ValueError('SelectModalities needs a non-empty list of modality names, got '
                             f'{modalities!r}; the run\'s active set is the top-level '
                             '`modalities` and needs no transform')
        self.keep = tuple(modalities)

    def on_bind(self, modality_set: ModalitySet) -> None:
        modality_set.resolve(self.keep)  # unknown names -> error listing the declared

    def transform(self, results: dict) -> dict:
        mset = self.modality_set
        active = [n for n in mset.active if n in self.keep]
        if results.get(ACTIVE_KEY) is not None:
            active = [n for n in active if n in results[ACTIVE_KEY]]
        results[ACTIVE_KEY] = tuple(active)
        if 'img' in results:
            img = results['img']
            if not np.issubdtype(img.dtype, np.floating):
                img = img.astype(np.float32)
            results['img'] = mset.keep_only(img, active, channel_dim=-1) if active else \
                np.full_like(img, np.nan)
            results['inactive_modalities'] = tuple(n for n in mset.names if n not in active)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(modalities={list(self.keep)})'
