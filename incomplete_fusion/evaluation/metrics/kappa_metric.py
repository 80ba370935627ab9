"""Segmentation metrics of the land-cover protocols: mIoU, mF1, OA and Cohen's kappa.

:class:`IoUKappaMetric` is :class:`~.per_class_iou_metric.PerClassIoUMetric` (mIoU,
mFscore, per-class IoU/F1, ``aAcc`` = overall accuracy) plus ``kappa``. Kappa needs no
confusion matrix: with N labelled pixels, TP_k, predicted P_k and labelled L_k pixels of
class k (the totals mmseg's ``IoUMetric`` accumulates, ignored pixels excluded),
p_o = ΣTP_k / N, p_e = Σ P_k·L_k / N² and kappa = (p_o − p_e) / (1 − p_e), reported in
percent like the other metrics. Docs: docs/user_guides/datasets/earthmiss.md.
"""
import math
from typing import Dict

import torch

from ...registry import METRICS
from .per_class_iou_metric import PerClassIoUMetric


def cohen_kappa(area_intersect: torch.Tensor, area_pred: torch.Tensor,
                area_label: torch.Tensor) -> float:
    """Cohen's kappa (0..1, NaN when chance agreement is 1) from per-class pixel totals."""
    total = float(area_label.double().sum())
    if total == 0:
        return math.nan
    observed = float(area_intersect.double().sum()) / total
    chance = float((area_pred.double() * area_label.double()).sum()) / total ** 2
    return math.nan if chance >= 1.0 else (observed - chance) / (1.0 - chance)


@METRICS.register_module()
class IoUKappaMetric(PerClassIoUMetric):
    """``PerClassIoUMetric`` with ``kappa`` (percent) in its results."""

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only or not results:
            return metrics
        intersect, _, pred, label = (sum(column) for column in zip(*results))
        metrics['kappa'] = round(cohen_kappa(intersect, pred, label) * 100, 2)
        return metrics
