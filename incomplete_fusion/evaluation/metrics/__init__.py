from .kappa_metric import IoUKappaMetric, cohen_kappa
from .per_class_iou_metric import PerClassIoUMetric

__all__ = ['IoUKappaMetric', 'PerClassIoUMetric', 'cohen_kappa']
