"""Data preprocessors for N-channel multimodal inputs where padding means missing.

Thin subclasses of mmdet's ``DetDataPreprocessor`` and mmseg's ``SegDataPreProcessor``
that guarantee: ``inputs`` are padded with NaN (also in ``BatchFixedSizePad``, whose
non-NaN ``img_pad_value`` is replaced with a warning); ``mean``/``std``/``bgr_to_rgb``/
``rgb_to_bgr`` are refused with an error saying why (stock values drop or break
channels beyond the third; normalisation happens per modality while loading); the
run's modalities are bound to them, the channel count is checked and inactive
modalities' channels are NaN; ``data['teacher_inputs']`` (self-distillation) is
stacked exactly like ``inputs``. See docs/user_guides/2_dataset_prepare.md#4-data-preprocessors-registered-in-root-models.
"""
import copy
import math
import random
import warnings
from contextlib import contextmanager
from numbers import Number
from typing import Iterator, Optional, Union

import torch
from mmdet.models.data_preprocessors import DetDataPreprocessor
from mmseg.models.data_preprocessor import SegDataPreProcessor

from ...binding import ModalityConsumer
from ...registry import MODELS

PadValue = Union[Number, str]
# data-batch key of the un-dropped inputs (the self-distillation teacher's view)
TEACHER_INPUTS = 'teacher_inputs'


@contextmanager
def replayed_randomness(device: Union[str, torch.device] = 'cpu') -> Iterator[None]:
    """Run a block, then restore Python's, torch's CPU and ``device``'s random states:
    the code after it draws exactly what the block drew (teacher, then student)."""
    device = torch.device(device)
    py_state = random.getstate()
    kwargs = (dict(devices=[]) if device.type == 'cpu' else
              dict(devices=[device.index or 0], device_type=device.type))
    try:
        with torch.random.fork_rng(**kwargs):
            yield
    finally:
        random.setstate(py_state)


def _nan_value(value: PadValue, what: str) -> float:
    """Accept NaN as a float or the string 'nan' (config files cannot always say nan)."""
    value = float(value)
    if not math.isnan(value):
        raise ValueError(
            f'{what} must be NaN for multimodal inputs (padding means missing data), got '
            f'{value}; leave it at its default')
    return value


def _refuse_normalisation(cls_name: str, **options) -> None:
    given = {k: v for k, v in options.items() if v not in (None, False)}
    if given:
        raise ValueError(
            f'{cls_name} does not take {sorted(given)}: normalisation is per modality in '
            'LoadMultimodalImages (modality_specs[*].norm), and bgr_to_rgb would drop every '
            'channel after the third. If the keys come from an inherited stock config, set '
            "data_preprocessor=dict(_delete_=True, type=..., ...) or mean=None, std=None, "
            'bgr_to_rgb=False.')


def _nan_batch_augments(augments) -> None:
    for aug in augments or []:
        value = getattr(aug, 'img_pad_value', None)
        if value is not None and not (isinstance(value, float) and math.isnan(value)):
            warnings.warn(f'{type(aug).__name__}.img_pad_value={value} replaced by NaN: '
                          'padding of multimodal inputs means missing data')
            aug.img_pad_value = float('nan')


class _BoundInputs(ModalityConsumer):
    """Check the channel count and NaN the inactive modalities of ``data['inputs']``."""

    def _apply_modalities(self, data: dict) -> None:
        mset = self.modality_set
        inputs = data['inputs']
        found = inputs.shape[1] if hasattr(inputs, 'shape') else inputs[0].shape[0]
        if found != mset.total_channels:
            raise ValueError(f'{type(self).__name__}: inputs have {found} channels, the '
                             f'modality specs declare {mset.total_channels} ({mset.describe()})')
        if mset.inactive:
            for sample in inputs:
                mset.keep_only(sample, mset.active)

    def _forward_with_teacher(self, data: dict, training: bool) -> dict:
        """The parent's ``forward`` on ``inputs`` and, when present, on
        ``teacher_inputs``: the same code path, replayed from the same Python
        and torch random states (random batch augments draw the same), on a
        copy of the data samples (the parent pads them in place)."""
        data = dict(data)
        teacher = data.pop(TEACHER_INPUTS, None)
        self._apply_modalities(data)
        if teacher is None:
            return super().forward(data, training)
        teacher_data = dict(inputs=teacher, data_samples=copy.deepcopy(data.get('data_samples')))
        self._apply_modalities(teacher_data)
        with replayed_randomness(self.device):
            teacher_out = super().forward(teacher_data, training)
        out = super().forward(data, training)
        out[TEACHER_INPUTS] = teacher_out['inputs']
        return out


@MODELS.register_module()
class MultimodalDetDataPreprocessor(_BoundInputs, DetDataPreprocessor):
    """``DetDataPreprocessor`` for multimodal NaN-aware inputs (mmdet models).

    Args:
        pad_size_divisor, pad_mask, mask_pad_value, pad_seg, seg_pad_value,
        boxtype2tensor, batch_augments: as in ``DetDataPreprocessor``.
        pad_value: must be NaN (default).
    """

    def __init__(self,
                 pad_size_divisor: int = 1,
                 pad_value: PadValue = float('nan'),
                 pad_mask: bool = False,
                 mask_pad_value: int = 0,
                 pad_seg: bool = False,
                 seg_pad_value: int = 255,
                 boxtype2tensor: bool = True,
                 batch_augments: Optional[list] = None,
                 mean=None,
                 std=None,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False,
                 **kwargs):
        _refuse_normalisation(type(self).__name__, mean=mean, std=std, bgr_to_rgb=bgr_to_rgb,
                              rgb_to_bgr=rgb_to_bgr)
        super().__init__(
            pad_size_divisor=pad_size_divisor,
            pad_value=_nan_value(pad_value, 'pad_value'),
            pad_mask=pad_mask,
            mask_pad_value=mask_pad_value,
            pad_seg=pad_seg,
            seg_pad_value=seg_pad_value,
            boxtype2tensor=boxtype2tensor,
            batch_augments=batch_augments,
            **kwargs)
        _nan_batch_augments(self.batch_augments)

    def forward(self, data: dict, training: bool = False) -> dict:
        return self._forward_with_teacher(data, training)


@MODELS.register_module()
class MultimodalSegDataPreprocessor(_BoundInputs, SegDataPreProcessor):
    """``SegDataPreProcessor`` for multimodal NaN-aware inputs (mmseg models).

    Args:
        size, size_divisor, seg_pad_val, batch_augments, test_cfg: as in
            ``SegDataPreProcessor``.
        pad_val: must be NaN (default).
    """

    def __init__(self,
                 size: Optional[tuple] = None,
                 size_divisor: Optional[int] = None,
                 pad_val: PadValue = float('nan'),
                 seg_pad_val: int = 255,
                 batch_augments: Optional[list] = None,
                 test_cfg: Optional[dict] = None,
                 mean=None,
                 std=None,
                 bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False):
        _refuse_normalisation(type(self).__name__, mean=mean, std=std, bgr_to_rgb=bgr_to_rgb,
                              rgb_to_bgr=rgb_to_bgr)
        super().__init__(
            size=size,
            size_divisor=size_divisor,
            pad_val=_nan_value(pad_val, 'pad_val'),
            seg_pad_val=seg_pad_val,
            batch_augments=batch_augments,
            test_cfg=test_cfg)

    def forward(self, data: dict, training: bool = False) -> dict:
        return self._forward_with_teacher(data, training)
