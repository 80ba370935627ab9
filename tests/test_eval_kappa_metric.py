"""IoUKappaMetric: OA and Cohen's kappa of a hand-computed confusion matrix, ignored
pixels left out; registered under every scope."""
import math

import numpy as np
import pytest
import torch
from mmengine.registry import METRICS, init_default_scope
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from incomplete_fusion.evaluation.metrics import IoUKappaMetric, cohen_kappa

# rows = label, columns = prediction:  N = 16, agreement 12
CONFUSION = np.array([[5, 1, 0],
                      [2, 3, 1],
                      [0, 0, 4]])
# p_o = 12/16 = 0.75; label totals (6, 6, 4), predicted totals (7, 4, 5):
# p_e = (6·7 + 6·4 + 4·5) / 16² = 86/256; kappa = (0.75 − 86/256) / (1 − 86/256) = 106/170
KAPPA = 106 / 170


def sample_from_confusion(confusion: np.ndarray, ignored: int = 0) -> SegDataSample:
    labels, preds = [], []
    for (label, pred), count in np.ndenumerate(confusion):
        labels += [label] * count
        preds += [pred] * count
    labels += [255] * ignored  # ignored pixels, predicted as class 0
    preds += [0] * ignored
    sample = SegDataSample()
    sample.gt_sem_seg = PixelData(data=torch.tensor(labels)[None, None])
    sample.pred_sem_seg = PixelData(data=torch.tensor(preds)[None, None])
    return sample


def evaluate(samples) -> dict:
    metric = IoUKappaMetric(ignore_index=255)
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    metric.process([], [s.to_dict() for s in samples])
    return metric.compute_metrics(metric.results)


def test_kappa_and_overall_accuracy_of_a_hand_computed_confusion_matrix():
    metrics = evaluate([sample_from_confusion(CONFUSION, ignored=7)])
    assert metrics['kappa'] == round(KAPPA * 100, 2) == 62.35
    assert metrics['aAcc'] == 75.0
    assert {'mIoU', 'mFscore', 'IoU.a', 'F1.c'} <= set(metrics)


def test_kappa_accumulates_over_samples_like_one_confusion_matrix():
    split = [sample_from_confusion(CONFUSION * 0 + np.diag(np.diag(CONFUSION))),
             sample_from_confusion(CONFUSION - np.diag(np.diag(CONFUSION)))]
    assert evaluate(split)['kappa'] == 62.35


def test_cohen_kappa_edge_cases():
    perfect = torch.tensor([3.0, 5.0])
    assert cohen_kappa(perfect, perfect, perfect) == pytest.approx(1.0)  # float division
    one_class = torch.tensor([4.0, 0.0])
    assert math.isnan(cohen_kappa(one_class, one_class, one_class))  # chance agreement 1
    assert math.isnan(cohen_kappa(torch.zeros(2), torch.zeros(2), torch.zeros(2)))


@pytest.mark.parametrize('scope', ['mmseg', 'mmdet'])
def test_registered(scope):
    init_default_scope(scope)
    metric = METRICS.build(dict(type='IoUKappaMetric', ignore_index=255))
    assert isinstance(metric, IoUKappaMetric)
