"""Per-modality-subset result tables (the layout of the paper's Tables I-IV).

Rows are the non-empty modality subsets, columns a check mark per modality
followed by the metrics. Written as markdown, CSV and a heatmap PNG.
"""
import csv
import math
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

# Friendlier column headers for the metric keys mmdet/mmseg return.
METRIC_LABELS = {
    'coco/segm_mAP': 'AP',
    'coco/segm_mAP_50': 'AP@50',
    'coco/segm_mAP_75': 'AP@75',
    'coco/segm_mAP_s': 'AP_s',
    'coco/segm_mAP_m': 'AP_m',
    'coco/segm_mAP_l': 'AP_l',
    'coco/bbox_mAP': 'box AP',
    'coco/bbox_mAP_50': 'box AP@50',
    'mFscore': 'mF1',
    'aAcc': 'OA',
}


def metric_label(key: str) -> str:
    return METRIC_LABELS.get(key, key)


def subset_label(subset: Sequence[str]) -> str:
    return '+'.join(name.upper() for name in subset)


def numeric_metrics(metrics: Dict[str, object]) -> Dict[str, float]:
    """The scalar numeric entries of an evaluator's result dict, order kept."""
    out = {}
    for key, value in metrics.items():
        if isinstance(value, bool):
            continue
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    return out


@dataclass
class SubsetTable:
    """Metrics per modality subset.

    Args:
        modalities: the modalities the subsets are drawn from, declared order
            (one check-mark column each).
        rows: ``(subset, metrics)`` pairs, in table order.
        metric_keys: which metrics become columns (default: every numeric key
            of the first row, in its order).
    """

    modalities: Tuple[str, ...]
    rows: List[Tuple[Tuple[str, ...], Dict[str, float]]] = field(default_factory=list)
    metric_keys: Optional[List[str]] = None

    @classmethod
    def read_csv(cls, path: str) -> 'SubsetTable':
        """The table of a CSV written by :meth:`write_csv`. Its modality columns are the
        ones whose upper-case names make up the ``subset`` labels; the metrics follow."""
        with open(path, newline='') as f:
            header, *body = list(csv.reader(f)) or [[]]
        if not header or header[0] != 'subset' or not body:
            raise ValueError(f'{path} is not a subset table (header {header})')
        names = sorted({name for row in body for name in row[0].split('+')})
        n = len(names)
        modalities = tuple(header[1:1 + n])
        if sorted(m.upper() for m in modalities) != names:
            raise ValueError(f'{path}: the subsets name {names} but the columns after '
                             f'"subset" are {list(modalities)}')
        table = cls(modalities, metric_keys=header[1 + n:])
        for row in body:
            subset = tuple(m for m, flag in zip(modalities, row[1:1 + n]) if flag == '1')
            if subset_label(subset) != row[0]:
                raise ValueError(f'{path}: row {row[0]!r} has the marks of {subset}')
            table.rows.append((subset, dict(zip(header[1 + n:], map(float, row[1 + n:])))))
        return table

    def add(self, subset: Sequence[str], metrics: Dict[str, object]) -> None:
        self.rows.append((tuple(subset), numeric_metrics(metrics)))

    @property
    def columns(self) -> List[str]:
        if self.metric_keys is not None:
            return list(self.metric_keys)
        return list(self.rows[0][1]) if self.rows else []

    def value(self, row: int, key: str) -> float:
        return self.rows[row][1].get(key, math.nan)

    def _formats(self) -> Dict[str, str]:
        # metrics in [0, 1] (COCO AP) get 3 decimals, percentages 2
        fmt = {}
        for key in self.columns:
            values = [abs(self.value(i, key)) for i in range(len(self.rows))]
            finite = [v for v in values if math.isfinite(v)]
            fmt[key] = '{:.3f}' if finite and max(finite) <= 1.0 else '{:.2f}'
        return fmt

    def to_markdown(self) -> str:
        fmt = self._formats()
        header = [m.upper() for m in self.modalities] + [metric_label(k) for k in self.columns]
        lines = ['| ' + ' | '.join(header) + ' |',
                 '|' + '|'.join([':-:'] * len(self.modalities) + ['--:'] * len(self.columns)) + '|']
        for i, (subset, _) in enumerate(self.rows):
            marks = ['✓' if m in subset else '' for m in self.modalities]
            values = [fmt[k].format(self.value(i, k)) for k in self.columns]
            lines.append('| ' + ' | '.join(marks + values) + ' |')
        return '\n'.join(lines) + '\n'

    def write_csv(self, path: str) -> None:
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['subset'] + list(self.modalities) + self.columns)
            for i, (subset, _) in enumerate(self.rows):
                writer.writerow([subset_label(subset)]
                                + [int(m in subset) for m in self.modalities]
                                + [self.value(i, k) for k in self.columns])

    def plot_heatmap(self, path: str, title: Optional[str] = None,
                     shared_scale: bool = False) -> None:
        """Subsets x columns; cells show values.

        Colour is normalised per column (different metrics have different
        ranges), or over the whole table with ``shared_scale`` (columns that
        are the same metric for different models, as in the robustness study).
        """
        import numpy as np
        from matplotlib.figure import Figure  # no pyplot: no global backend state, headless

        columns = self.columns
        values = np.array([[self.value(i, k) for k in columns] for i in range(len(self.rows))],
                          dtype=float).reshape(len(self.rows), len(columns))
        axis = None if shared_scale else 0
        lo, hi = np.nanmin(values, axis=axis), np.nanmax(values, axis=axis)
        span = np.where(hi > lo, hi - lo, 1.0)
        colour = (values - lo) / span
        fmt = self._formats()
        fig = Figure(figsize=(1.6 + 1.3 * len(columns), 0.9 + 0.45 * len(self.rows)))
        ax = fig.subplots()
        ax.imshow(colour, cmap='viridis', vmin=0, vmax=1, aspect='auto')
        ax.set_xticks(range(len(columns)), [metric_label(k) for k in columns],
                      rotation=30, ha='right')
        ax.set_yticks(range(len(self.rows)), [subset_label(s) for s, _ in self.rows])
        for i in range(values.shape[0]):
            for j, key in enumerate(columns):
                ax.text(j, i, fmt[key].format(values[i, j]), ha='center', va='center',
                        color='white' if colour[i, j] < 0.6 else 'black', fontsize=8)
        ax.set_title(title or 'metrics per modality subset')
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    def save(self, work_dir: str, stem: str = 'subset_eval', title: Optional[str] = None,
             shared_scale: bool = False) -> Dict[str, str]:
        """Write ``<stem>.md``, ``<stem>.csv`` and ``<stem>.png``; return their paths."""
        os.makedirs(work_dir, exist_ok=True)
        paths = {ext: osp.join(work_dir, f'{stem}.{ext}') for ext in ('md', 'csv', 'png')}
        with open(paths['md'], 'w') as f:
            f.write(self.to_markdown())
        self.write_csv(paths['csv'])
        self.plot_heatmap(paths['png'], title=title, shared_scale=shared_scale)
        return paths
