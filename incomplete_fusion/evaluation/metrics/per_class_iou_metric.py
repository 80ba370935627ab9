"""mmseg's IoU metric, also returning per-class IoU and F1 as scalar entries.

Stock ``IoUMetric`` only prints the per-class table; the per-subset tables
(docs/user_guides/4_train_test.md: mIoU plus per-class IoU and F1) need the numbers themselves.

It also fixes the F-score of a class that is never predicted: stock mmseg computes
precision 0/0 = NaN, so that class's F1 is NaN and the mean F1 silently leaves it
out (a model that predicts one class of five reported mF1 = that class's F1). Here
F_beta = (1 + beta²)·TP / ((1 + beta²)·TP + beta²·FN + FP), which is 0 for a class
that is present but never predicted, and NaN only for a class absent from both the
labels and the predictions.
"""
from typing import Dict, List, Optional

import numpy as np
from mmseg.evaluation import IoUMetric

from ...registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """``IoUMetric`` with ``IoU.<class>`` and ``F1.<class>`` (percent) in its results.

    Defaults to ``iou_metrics=['mIoU', 'mFscore']`` so F1 is always there.
    """

    def __init__(self, iou_metrics: List[str] = ('mIoU', 'mFscore'), **kwargs) -> None:
        super().__init__(iou_metrics=list(iou_metrics), **kwargs)

    @staticmethod
    def total_area_to_metrics(total_area_intersect, total_area_union, total_area_pred_label,
                              total_area_label, metrics=('mIoU', ), nan_to_num: Optional[int] = None,
                              beta: int = 1) -> dict:
        ret = IoUMetric.total_area_to_metrics(total_area_intersect, total_area_union,
                                              total_area_pred_label, total_area_label,
                                              list(metrics), None, beta)
        if 'Fscore' in ret:
            b2 = float(beta) ** 2
            denom = (b2 * total_area_label + total_area_pred_label).double().numpy()
            tp = total_area_intersect.double().numpy()
            with np.errstate(invalid='ignore', divide='ignore'):
                ret['Fscore'] = np.where(denom > 0, (1 + b2) * tp / denom, np.nan)
        if nan_to_num is not None:
            ret = {k: np.nan_to_num(v, nan=nan_to_num) for k, v in ret.items()}
        return ret

    def compute_metrics(self, results: list) -> Dict[str, float]:
        metrics = super().compute_metrics(results)
        if self.format_only or not results:
            return metrics
        totals = [sum(column) for column in zip(*results)]
        per_class = self.total_area_to_metrics(*totals, self.metrics, self.nan_to_num, self.beta)
        label = {'IoU': 'IoU', 'Fscore': 'F1' if self.beta == 1 else f'F{self.beta}'}
        for key, values in per_class.items():
            if key not in label:
                continue
            for name, value in zip(self.dataset_meta['classes'], values):
                metrics[f'{label[key]}.{name}'] = round(float(value) * 100, 2)
        return metrics
