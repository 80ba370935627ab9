"""Resizing that keeps categorical channels categorical.

Stock resizes interpolate every channel bilinearly. For continuous modalities
that is right, and NaN (missing) spreads to the at most one-pixel neighbourhood
whose interpolation kernel touches it — a missing pixel should not produce
"half-valid" values, so this is what we want. For a categorical channel (class
indices such as a Dynamic World map) bilinear interpolation invents classes at
boundaries (between 1 and 8 lies 4), so these resizes redo the categorical
channels (``results['categorical_channels']``, set by ``LoadMultimodalImages``)
with nearest-neighbour. Crop, flip and batch padding move pixels without
interpolating and need no change.

Use ``MultimodalResize`` where mmseg / mmcv ``Resize`` would go and
``MultimodalDetResize`` where mmdet's ``Resize`` would go, also as
``RandomResize(resize_type=...)`` for LSJ-style scale jitter.
"""
import mmcv
import numpy as np
from mmcv.transforms import Resize as MMCVResize
from mmdet.datasets.transforms import Resize as MMDetResize

from ...registry import TRANSFORMS


class _CategoricalNearestMixin:
    """Re-resize the categorical channels of ``img`` with nearest interpolation."""

    def _resize_img(self, results: dict) -> None:
        img = results.get('img')
        categorical = list(results.get('categorical_channels') or [])
        if img is None or not categorical or self.interpolation == 'nearest':
            return super()._resize_img(results)
        source = img[..., categorical]
        super()._resize_img(results)
        out = results['img']
        h, w = out.shape[:2]
        resized = mmcv.imresize(source, (w, h), interpolation='nearest', backend=self.backend)
        out[..., categorical] = resized.reshape(h, w, len(categorical))
        results['img'] = out


@TRANSFORMS.register_module()
class MultimodalResize(_CategoricalNearestMixin, MMCVResize):
    """mmcv/mmseg ``Resize`` with nearest interpolation for categorical channels."""


@TRANSFORMS.register_module()
class MultimodalDetResize(_CategoricalNearestMixin, MMDetResize):
    """mmdet ``Resize`` (boxes, masks, seg maps) with nearest for categorical channels."""


def categorical_channels_are_integral(img: np.ndarray, channels) -> bool:
    """True if the given channels hold only integers or NaN (a sanity check for tests)."""
    values = img[..., list(channels)]
    finite = values[np.isfinite(values)]
    return bool(np.all(finite == np.round(finite)))
