"""Resizing that keeps categorical channels categorical.

``MultimodalResize`` (for mmseg/mmcv ``Resize``) and ``MultimodalDetResize`` (for
mmdet's ``Resize``; both also as ``RandomResize(resize_type=...)``) resize like the
stock transforms, then redo the categorical channels
(``results['categorical_channels']``) with nearest-neighbour, so no class is
invented at boundaries. Continuous channels are bilinear; NaN spreads to at most the
one-pixel neighbourhood its kernel touches. Crop, flip and padding need no change.
See docs/user_guides/2_dataset_prepare.md#3-transforms-registered-in-the-root-transforms-usable-from-mmdet-and-mmseg-scopes.
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
