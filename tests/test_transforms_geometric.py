"""Stock geometric transforms on N-channel float images with NaN keep modalities aligned."""
import numpy as np
import pytest
from mmdet.registry import TRANSFORMS as DET_TRANSFORMS
from mmdet.structures.bbox import HorizontalBoxes
from mmdet.structures.mask import BitmapMasks
from mmseg.registry import TRANSFORMS as SEG_TRANSFORMS

from incomplete_fusion.datasets.transforms.geometric import categorical_channels_are_integral

MARKER = (slice(20, 26), slice(30, 37))
CONTINUOUS = [0, 1, 2, 3, 4, 6]
CATEGORICAL = [5]


def marker_image(seed=0):
    """7 channels: continuous channels 0 with a 10.0 marker; channel 5 classes 2 / 7."""
    rng = np.random.default_rng(seed)
    img = np.zeros((64, 64, 7), np.float32)
    img[MARKER] = 10.0
    img[..., 5] = 2.0
    img[MARKER + (5, )] = 7.0
    # Missing pixels away from the marker (NaN must not break anything).
    img[rng.integers(40, 60), rng.integers(0, 20), :3] = np.nan
    seg = np.zeros((64, 64), np.uint8)
    seg[MARKER] = 1
    return img, seg


def centroid(mask):
    ys, xs = np.nonzero(mask)
    return np.array([ys.mean(), xs.mean()])


def check_aligned(img, extra_masks):
    finite = np.nan_to_num(img, nan=0.0)
    continuous = [finite[..., c] > 5.0 for c in CONTINUOUS]
    for mask in continuous[1:]:
        np.testing.assert_array_equal(mask, continuous[0])
    categorical = img[..., 5] == 7.0
    assert categorical.any(), 'the marker was cropped away'
    assert categorical_channels_are_integral(img, CATEGORICAL)
    assert set(np.unique(img[..., 5][np.isfinite(img[..., 5])])) <= {2.0, 7.0}
    for mask in extra_masks:  # nearest-resized annotations: exactly the categorical marker
        np.testing.assert_array_equal(mask, categorical)
    assert np.abs(centroid(continuous[0]) - centroid(categorical)).max() <= 1.0


@pytest.mark.parametrize('seed', range(4))
def test_mmseg_lsj_pipeline_keeps_modalities_aligned(seed):
    img, seg = marker_image(seed)
    np.random.seed(seed)
    results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2], gt_seg_map=seg,
                   seg_fields=['gt_seg_map'], categorical_channels=CATEGORICAL)
    pipeline = [
        dict(type='RandomResize', scale=(64, 64), ratio_range=(0.5, 2.0),
             resize_type='MultimodalResize', keep_ratio=True),
        dict(type='RandomCrop', crop_size=(40, 40), cat_max_ratio=1.0),
        dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    ]
    for cfg in pipeline:
        results = SEG_TRANSFORMS.build(cfg)(results)
        if results['gt_seg_map'].sum() == 0:
            pytest.skip('random crop removed the marker')
    assert results['img'].shape[2] == 7 and results['img'].dtype == np.float32
    check_aligned(results['img'], [results['gt_seg_map'] == 1])


@pytest.mark.parametrize('seed', range(4))
def test_mmdet_lsj_pipeline_keeps_modalities_aligned(seed):
    img, seg = marker_image(seed)
    np.random.seed(seed)
    mask = seg[None].astype(np.uint8)
    results = dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2],
                   gt_bboxes=HorizontalBoxes(np.array([[30, 20, 37, 26]], np.float32)),
                   gt_bboxes_labels=np.array([0]), gt_ignore_flags=np.array([False]),
                   gt_masks=BitmapMasks(mask, 64, 64), categorical_channels=CATEGORICAL)
    pipeline = [
        dict(type='RandomResize', scale=(64, 64), ratio_range=(0.5, 2.0),
             resize_type='MultimodalDetResize', keep_ratio=True),
        dict(type='RandomCrop', crop_size=(40, 40), crop_type='absolute', recompute_bbox=True,
             allow_negative_crop=True),
        dict(type='RandomFlip', prob=0.5, direction=['horizontal', 'vertical']),
    ]
    for cfg in pipeline:
        results = DET_TRANSFORMS.build(cfg)(results)
    if len(results['gt_masks']) == 0 or results['gt_masks'].masks.sum() == 0:
        pytest.skip('random crop removed the marker')
    check_aligned(results['img'], [results['gt_masks'].masks[0] == 1])
    x1, y1, x2, y2 = results['gt_bboxes'].tensor[0].tolist()
    ys, xs = np.nonzero(results['gt_masks'].masks[0])
    assert abs(x1 - xs.min()) <= 1 and abs(y1 - ys.min()) <= 1


def test_stock_resize_would_corrupt_categorical_channels():
    """Why MultimodalResize exists: bilinear resizing invents classes at boundaries."""
    img, _ = marker_image()
    stock = SEG_TRANSFORMS.build(dict(type='Resize', scale=(91, 91), keep_ratio=False))
    out = stock(dict(img=img.copy()))['img']
    assert not categorical_channels_are_integral(out, CATEGORICAL)
    ours = SEG_TRANSFORMS.build(dict(type='MultimodalResize', scale=(91, 91), keep_ratio=False))
    out2 = ours(dict(img=img.copy(), categorical_channels=CATEGORICAL))['img']
    assert categorical_channels_are_integral(out2, CATEGORICAL)
    np.testing.assert_array_equal(out2[..., CONTINUOUS], out[..., CONTINUOUS])


def test_bilinear_resize_spreads_nan_only_to_direct_neighbours():
    img = np.ones((32, 32, 5), np.float32)
    img[10, 12, :] = np.nan
    out = SEG_TRANSFORMS.build(dict(type='MultimodalResize', scale=(64, 64),
                                    keep_ratio=False))(dict(img=img))['img']
    nan = np.isnan(out[..., 0])
    ys, xs = np.nonzero(nan)
    assert nan.any() and ys.min() >= 2 * 10 - 2 and ys.max() <= 2 * 10 + 3
    assert xs.min() >= 2 * 12 - 2 and xs.max() <= 2 * 12 + 3
    assert np.isfinite(out[..., 0][~nan]).all()
    np.testing.assert_array_equal(np.isnan(out), np.repeat(nan[..., None], 5, axis=2))
