"""Loading a georeferenced label raster as mmseg's ``gt_seg_map``."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform

from ...modalities import ModalitySpec
from ...registry import TRANSFORMS
from ..geo_io import RasterGrid, read_modality


@TRANSFORMS.register_module()
class LoadLabelRaster(BaseTransform):
    """Read ``results['seg_map_path']`` (a 1-band GeoTIFF) into ``gt_seg_map`` (uint8).

    The raster is read onto the grid of the loaded image (``crs``, ``transform``,
    ``ori_shape`` set by ``LoadMultimodalImages``, nearest resampling) so labels
    stay aligned even when the label grid differs. ``results['label_lut']`` (a
    256-entry table from the dataset, e.g. 9 → 7 class merge) is applied; nodata
    and unmapped values become ``ignore_index``.

    Use it instead of mmseg's ``LoadAnnotations`` for GeoTIFF labels (mmseg reads
    with Pillow/cv2, which neither know nodata nor georeferencing).
    """

    def __init__(self, ignore_index: int = 255):
        self.ignore_index = ignore_index
        self._spec = ModalitySpec(name='label', channels=1, kind='categorical', num_classes=256)

    def transform(self, results: dict) -> dict:
        grid: Optional[RasterGrid] = None
        if results.get('transform') is not None and results.get('ori_shape') is not None:
            h, w = results['ori_shape'][:2]
            grid = RasterGrid(results.get('crs'), results['transform'], int(h), int(w))
        data, _ = read_modality(results['seg_map_path'], self._spec, grid)
        raw = data[..., 0]
        label = np.full(raw.shape, self.ignore_index, np.uint8)
        valid = np.isfinite(raw) & (raw >= 0) & (raw <= 255)
        values = raw[valid].astype(np.int64)
        lut = results.get('label_lut')
        if lut is not None:
            lut = np.asarray(lut, np.uint8)
            label[valid] = lut[values]
        else:
            label[valid] = values.astype(np.uint8)
        results['gt_seg_map'] = label
        results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in results['seg_fields']:
            results['seg_fields'].append('gt_seg_map')
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(ignore_index={self.ignore_index})'
