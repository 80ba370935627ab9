"""Batch padding of N-channel inputs: padding means missing (NaN)."""
import math

import pytest
import torch
from mmdet.registry import MODELS as DET_MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.structures import InstanceData, PixelData
from mmseg.registry import MODELS as SEG_MODELS
from mmseg.structures import SegDataSample

from incomplete_fusion.binding import bind
from incomplete_fusion.modalities import ModalitySet

SPECS = [dict(name='rgb', channels=3), dict(name='sar', channels=1), dict(name='dsm', channels=1)]


def build(registry, cfg, active=None):
    """A preprocessor with the run's modalities bound, as the loops do."""
    pre = registry.build(cfg)
    bind(ModalitySet.from_config(SPECS, active), pre)
    return pre


def det_batch(shapes, channels=5):
    inputs, samples = [], []
    for i, (h, w) in enumerate(shapes):
        inputs.append(torch.arange(channels * h * w, dtype=torch.float32).reshape(channels, h, w))
        s = DetDataSample(metainfo=dict(img_shape=(h, w)))
        s.gt_instances = InstanceData(masks=BitmapMasks(torch.ones(1, h, w).numpy(), h, w),
                                      bboxes=torch.tensor([[0.0, 0.0, w, h]]),
                                      labels=torch.tensor([0]))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def check_nan_padded(out, shapes, channels=5):
    batch = out['inputs']
    assert batch.shape[1] == channels
    for i, (h, w) in enumerate(shapes):
        expected = torch.arange(channels * h * w, dtype=torch.float32).reshape(channels, h, w)
        torch.testing.assert_close(batch[i, :, :h, :w], expected)
        pad = torch.ones(batch.shape[-2:], dtype=torch.bool)
        pad[:h, :w] = False
        assert torch.isnan(batch[i][:, pad]).all()


def test_stock_det_preprocessor_pads_nan_when_told_and_bgr_to_rgb_drops_channels():
    shapes = [(20, 30), (33, 17)]
    stock = DET_MODELS.build(dict(type='DetDataPreprocessor', pad_size_divisor=8,
                                  pad_value=float('nan')))
    check_nan_padded(stock(det_batch(shapes)), shapes)
    # Why our subclass refuses bgr_to_rgb: the stock one silently keeps only 3 channels.
    bgr = DET_MODELS.build(dict(type='DetDataPreprocessor', bgr_to_rgb=True))
    assert bgr(det_batch([(8, 8)]))['inputs'].shape[1] == 3


def test_multimodal_det_preprocessor_pads_nan_and_masks_zero():
    shapes = [(20, 30), (33, 17)]
    pre = build(DET_MODELS, dict(type='MultimodalDetDataPreprocessor', pad_size_divisor=16,
                                 pad_mask=True))
    out = pre(det_batch(shapes), training=True)
    assert tuple(out['inputs'].shape) == (2, 5, 48, 32)
    check_nan_padded(out, shapes)
    masks = out['data_samples'][0].gt_instances.masks.masks
    assert masks.shape[-2:] == (48, 32) and masks[:, 20:].sum() == 0


def test_batch_fixed_size_pad_is_forced_to_nan():
    with pytest.warns(UserWarning, match='img_pad_value=0 replaced by NaN'):
        pre = build(DET_MODELS, dict(
            type='MultimodalDetDataPreprocessor', pad_size_divisor=1, pad_mask=True,
            batch_augments=[dict(type='BatchFixedSizePad', size=(40, 40), img_pad_value=0,
                                 pad_mask=True, mask_pad_value=0)]))
    out = pre(det_batch([(20, 30), (33, 17)]), training=True)
    assert tuple(out['inputs'].shape) == (2, 5, 40, 40)
    assert torch.isnan(out['inputs'][:, :, 33:]).all()
    assert out['data_samples'][1].batch_input_shape == (40, 40)


@pytest.mark.parametrize('bad', [dict(mean=[1.0, 2.0, 3.0], std=[1.0, 1.0, 1.0]),
                                 dict(bgr_to_rgb=True), dict(pad_value=0)])
def test_multimodal_det_preprocessor_refuses_normalisation_and_non_nan_padding(bad):
    with pytest.raises(ValueError, match='LoadMultimodalImages|NaN'):
        DET_MODELS.build(dict(type='MultimodalDetDataPreprocessor', **bad))


def test_channel_count_is_checked_against_the_specs():
    pre = build(DET_MODELS, dict(type='MultimodalDetDataPreprocessor'))
    with pytest.raises(ValueError, match='4 channels.*declare 5'):
        pre(det_batch([(8, 8)], channels=4))


def test_inactive_modalities_are_nan_whatever_the_pipeline_gave():
    pre = build(DET_MODELS, dict(type='MultimodalDetDataPreprocessor'), active=['sar'])
    out = pre(det_batch([(8, 8)]))['inputs'][0]
    assert torch.isnan(out[[0, 1, 2, 4]]).all() and torch.isfinite(out[3]).all()


def test_multimodal_seg_preprocessor_train_and_test_padding():
    pre = build(SEG_MODELS, dict(type='MultimodalSegDataPreprocessor', size=(32, 32),
                                 test_cfg=dict(size_divisor=16)))
    inputs, samples = [], []
    for h, w in [(20, 30), (25, 17)]:
        inputs.append(torch.arange(5 * h * w, dtype=torch.float32).reshape(5, h, w))
        s = SegDataSample(metainfo=dict(img_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=torch.ones(1, h, w, dtype=torch.long))
        samples.append(s)
    out = pre(dict(inputs=inputs, data_samples=samples), training=True)
    assert tuple(out['inputs'].shape) == (2, 5, 32, 32)
    check_nan_padded(out, [(20, 30), (25, 17)])
    seg = out['data_samples'][0].gt_sem_seg.data
    assert (seg[:, 20:] == 255).all() and (seg[:, :20, :30] == 1).all()
    test_inputs = [torch.zeros(5, 20, 30)]
    test_samples = [SegDataSample(metainfo=dict(img_shape=(20, 30)))]
    out = pre(dict(inputs=test_inputs, data_samples=test_samples), training=False)
    assert tuple(out['inputs'].shape) == (1, 5, 32, 32)
    assert torch.isnan(out['inputs'][0, :, 20:]).all() and not torch.isnan(
        out['inputs'][0, :, :20, :30]).any()
    assert math.isnan(pre.pad_val)
