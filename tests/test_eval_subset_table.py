"""Per-subset tables (markdown/CSV/heatmap) and the per-class IoU/F1 metric on known inputs."""
import csv
import math

import pytest
import torch

from incomplete_fusion.evaluation import PerClassIoUMetric, SubsetTable
from incomplete_fusion.modalities import nonempty_subsets

NAMES = ('rgb', 'sar', 'dsm')


def make_table():
    table = SubsetTable(NAMES, metric_keys=['coco/segm_mAP_50', 'coco/segm_mAP'])
    for k, subset in enumerate(nonempty_subsets(NAMES)):
        table.add(subset, {'coco/segm_mAP_50': 0.1 * (k + 1), 'coco/segm_mAP': 0.05 * k,
                           'coco/segm_mAP_copypaste': '0.1 0.2', 'extra': 3})
    return table


def test_markdown_has_paper_layout():
    md = make_table().to_markdown().splitlines()
    assert md[0] == '| RGB | SAR | DSM | AP@50 | AP |'
    assert len(md) == 2 + 7
    assert md[2] == '| ✓ |  |  | 0.100 | 0.000 |'  # RGB only
    assert md[-1] == '| ✓ | ✓ | ✓ | 0.700 | 0.300 |'


def test_csv_and_png(tmp_path):
    paths = make_table().save(str(tmp_path), title='t')
    with open(paths['csv']) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ['subset', 'rgb', 'sar', 'dsm', 'coco/segm_mAP_50', 'coco/segm_mAP']
    assert rows[4] == ['RGB+SAR', '1', '1', '0', str(0.1 * 4), str(0.05 * 3)]
    with open(paths['png'], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_default_columns_are_the_numeric_metrics():
    table = SubsetTable(NAMES)
    table.add(('rgb', ), {'mIoU': 50.0, 'note': 'text', 'aAcc': 90})
    assert table.columns == ['mIoU', 'aAcc']
    table.add(('sar', ), {'aAcc': 80})
    assert math.isnan(table.value(1, 'mIoU'))  # missing metric -> NaN, not a crash
    assert 'nan' in table.to_markdown()


def test_per_class_iou_and_f1_on_known_masks():
    metric = PerClassIoUMetric()
    metric.dataset_meta = dict(classes=('background', 'building'))
    pred = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1]])
    gt = torch.tensor([[0, 0, 0, 1], [0, 0, 255, 1]])  # 255 ignored
    metric.process({}, [dict(pred_sem_seg=dict(data=pred[None]), gt_sem_seg=dict(data=gt[None]))])
    result = metric.compute_metrics(metric.results)
    # background: pred {4 px}, gt {5 px}, intersection 4 -> IoU 4/5, F1 2*4/(4+5)
    # building: pred {3 px (ignored excluded)}, gt {2}, inter 2 -> IoU 2/3, F1 2*2/(3+2)
    assert result['IoU.background'] == pytest.approx(80.0)
    assert result['IoU.building'] == pytest.approx(66.67, abs=0.01)
    assert result['F1.background'] == pytest.approx(100 * 8 / 9, abs=0.01)
    assert result['F1.building'] == pytest.approx(80.0)
    assert result['mIoU'] == pytest.approx((80.0 + 66.67) / 2, abs=0.01)


def test_a_class_never_predicted_counts_as_f1_zero_not_as_missing():
    """Stock mmseg leaves such a class out of mF1 (precision 0/0); that inflates mF1."""
    metric = PerClassIoUMetric()
    metric.dataset_meta = dict(classes=('impervious', 'building', 'car'))
    pred = torch.zeros(2, 4, dtype=torch.long)  # predicts impervious everywhere
    gt = torch.tensor([[0, 0, 0, 0], [0, 0, 1, 1]])  # no car anywhere
    metric.process({}, [dict(pred_sem_seg=dict(data=pred[None]), gt_sem_seg=dict(data=gt[None]))])
    result = metric.compute_metrics(metric.results)
    assert result['F1.impervious'] == pytest.approx(100 * 2 * 6 / (8 + 6), abs=0.01)
    assert result['F1.building'] == 0.0
    assert math.isnan(result['F1.car'])  # absent from labels and predictions: undefined
    assert result['mFscore'] == pytest.approx((100 * 12 / 14 + 0.0) / 2, abs=0.01)
