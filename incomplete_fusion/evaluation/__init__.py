"""Evaluation: per-class segmentation metric and per-modality-subset tables."""
from .metrics import PerClassIoUMetric
from .subset_eval import evaluate_subsets
from .subset_table import SubsetTable, metric_label, subset_label

__all__ = ['PerClassIoUMetric', 'SubsetTable', 'evaluate_subsets', 'metric_label',
           'subset_label']
