"""mmseg's IoU metric, also returning per-class IoU and F1 as scalar entries.

Stock ``IoUMetric`` only prints the per-class table; the per-subset tables
(DESIGN.md §9: mIoU plus per-class IoU and F1) need the numbers themselves.
"""
from typing import Dict, List

from mmseg.evaluation import IoUMetric

from ...registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """``IoUMetric`` with ``IoU.<class>`` and ``F1.<class>`` (percent) in its results.

    Defaults to ``iou_metrics=['mIoU', 'mFscore']`` so F1 is always there.
    """

    def __init__(self, iou_metrics: List[str] = ('mIoU', 'mFscore'), **kwargs) -> None:
        super().__init__(iou_metrics=list(iou_metrics), **kwargs)

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
