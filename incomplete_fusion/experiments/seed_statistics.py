"""Multi-seed statistics of per-subset results, with summary rows over the subsets.

Per variant: each subset's mean and sample std (``ddof=1``) over the seeds; and the
summary rows, each computed *per seed* first, then mean ± std over the seeds:
**mean over subsets**, **worst subset** (which one is kept: ``worst_subsets``), the
**expected score under random sensor failure** (each modality missing independently
with probability p, renormalised over the non-empty subsets: :func:`failure_weights`;
needs every non-empty subset) and the **relative drop** of the worst subset from all
modalities (%). With one seed the std is NaN (shown as the mean alone).
See docs/results.md, "Robustness study".
"""
import csv
import itertools
import math
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from ..evaluation.subset_table import subset_label

Subset = Tuple[str, ...]
FAILURE_PROBS = (0.1, 0.3)  # p of the expected-score-under-failure rows
# the rows below the subsets
SUMMARY_ROWS = ('mean', 'worst', *(f'failure p={p:g}' for p in FAILURE_PROBS), 'drop')
ROW_LABELS = {'mean': 'mean over subsets', 'worst': 'worst subset',
              'drop': 'drop worst vs all (%)',
              **{f'failure p={p:g}': f'expected, p(missing)={p:g}' for p in FAILURE_PROBS}}


def failure_weights(modalities: Sequence[str], p: float) -> Dict[Subset, float]:
    """Probability of each non-empty subset when every modality is missing
    independently with probability ``p``, renormalised over the non-empty subsets."""
    if not 0 <= p < 1:
        raise ValueError(f'p must be in [0, 1), got {p}')
    n = len(modalities)
    weights = {}
    for k in range(1, n + 1):
        for subset in itertools.combinations(modalities, k):
            weights[subset] = (1 - p) ** k * p ** (n - k) / (1 - p ** n)
    return weights


@dataclass(frozen=True)
class Stat:
    """Values of one quantity over the seeds."""

    values: Tuple[float, ...]

    @property
    def mean(self) -> float:
        return sum(self.values) / len(self.values)

    @property
    def std(self) -> float:
        """Sample standard deviation (``ddof=1``); NaN with fewer than two seeds."""
        n = len(self.values)
        if n < 2:
            return math.nan
        mean = self.mean
        return math.sqrt(sum((v - mean) ** 2 for v in self.values) / (n - 1))

    def format(self, fmt: str = '{:.2f}') -> str:
        if math.isnan(self.std):
            return fmt.format(self.mean)
        return f'{fmt.format(self.mean)} ± {fmt.format(self.std)}'


class SeedStatistics:
    """``results[variant][seed][subset] = value`` summarised over seeds.

    Every variant must have the same seeds and every run the same subsets (a study
    whose runs differ is refused rather than averaged over unequal sets).
    """

    def __init__(self, modalities: Sequence[str],
                 results: Mapping[str, Mapping[int, Mapping[Subset, float]]]):
        if not results:
            raise ValueError('no results to summarise')
        self.modalities = tuple(modalities)
        self.variants = list(results)
        first = next(iter(results.values()))
        self.seeds = sorted(first)
        self.subsets: List[Subset] = [tuple(s) for s in next(iter(first.values()))]
        for variant, per_seed in results.items():
            if sorted(per_seed) != self.seeds:
                raise ValueError(f'{variant!r} has seeds {sorted(per_seed)}, '
                                 f'expected {self.seeds}')
            for seed, values in per_seed.items():
                if sorted(map(tuple, values)) != sorted(self.subsets):
                    raise ValueError(f'{variant!r} seed {seed} was evaluated on other subsets')
        self.results = {v: {s: {tuple(k): float(x) for k, x in results[v][s].items()}
                            for s in self.seeds} for v in self.variants}

    def _summary(self, values: Mapping[Subset, float], row: str) -> float:
        if row == 'mean':
            return sum(values.values()) / len(values)
        if row == 'worst':
            return min(values.values())
        if row == 'drop':
            full = values.get(self.modalities)
            if full is None:
                raise ValueError(f'the drop needs the subset of all modalities {self.modalities}')
            return 100.0 * (full - min(values.values())) / full if full else math.nan
        weights = failure_weights(self.modalities, float(row.rpartition('=')[2]))
        missing = [s for s in weights if s not in values]
        if missing:
            raise ValueError(f'{row!r} needs every non-empty subset; missing: {missing}')
        return sum(w * values[s] for s, w in weights.items())

    def per_seed(self, variant: str, row: object) -> Tuple[float, ...]:
        """One value per seed: a subset's, or a summary row's (``SUMMARY_ROWS``) of that seed."""
        out = []
        for seed in self.seeds:
            values = self.results[variant][seed]
            out.append(self._summary(values, row) if row in SUMMARY_ROWS
                       else values[tuple(row)])
        return tuple(out)

    def stat(self, variant: str, row: object) -> Stat:
        return Stat(self.per_seed(variant, row))

    def leads(self, variant: str, other: str,
              rows: Sequence[str] = ('mean', 'worst')) -> Dict[str, Tuple[float, float, bool]]:
        """Per row: the lead of ``variant`` over ``other`` (difference of the means over
        the seeds), the larger of their two stds, and whether the lead exceeds it (the
        study's decision rule, docs/results.md). Never true with fewer than two seeds."""
        out = {}
        for row in rows:
            a, b = self.stat(variant, row), self.stat(other, row)
            lead, spread = a.mean - b.mean, max(a.std, b.std)
            out[row] = (lead, spread, not math.isnan(spread) and lead > spread)
        return out

    def worst_subsets(self, variant: str) -> Counter:
        """How often each subset was the worst one (ties: the first in table order)."""
        counts = Counter()
        for seed in self.seeds:
            values = self.results[variant][seed]
            counts[min(self.subsets, key=lambda s: values[s])] += 1
        return counts

    def rows(self) -> List[object]:
        """The subsets, then the summary rows that they allow (the failure rows need
        every non-empty subset, the drop the subset of all modalities)."""
        present = set(self.subsets)
        complete = all(s in present for s in failure_weights(self.modalities, 0.0))
        summary = [r for r in SUMMARY_ROWS if r in ('mean', 'worst')
                   or (r == 'drop' and self.modalities in present) or complete]
        return list(self.subsets) + summary

    @staticmethod
    def row_label(row: object) -> str:
        return ROW_LABELS[row] if row in SUMMARY_ROWS else subset_label(row)

    def worst_label(self, variant: str) -> str:
        """E.g. ``SAR ×2, RGB ×1`` (the worst subset of each seed, counted)."""
        return ', '.join(f'{subset_label(s)} ×{n}' for s, n in
                         self.worst_subsets(variant).most_common())

    # ------------------------------------------------------------------ output
    def _fmt(self) -> str:
        values = [abs(v) for r in self.results.values() for s in r.values() for v in s.values()]
        return '{:.3f}' if values and max(values) <= 1.0 else '{:.2f}'

    def to_markdown(self) -> str:
        fmt = self._fmt()
        marks = [m.upper() for m in self.modalities]
        lines = ['| ' + ' | '.join(marks + self.variants) + ' |',
                 '|' + '|'.join([':-:'] * len(marks) + ['--:'] * len(self.variants)) + '|']
        for row in self.rows():
            if row in SUMMARY_ROWS:
                head = [f'**{self.row_label(row)}**'] + [''] * (len(marks) - 1)
            else:
                head = ['✓' if m in row else '' for m in self.modalities]
            cells = [self.stat(v, row).format(fmt) for v in self.variants]
            lines.append('| ' + ' | '.join(head + cells) + ' |')
        which = [self.worst_label(v) for v in self.variants]
        lines.append('| ' + ' | '.join(['*which*'] + [''] * (len(marks) - 1) + which) + ' |')
        return '\n'.join(lines) + '\n'

    def write_csv(self, path: str) -> None:
        """Wide table: per variant its mean and std; then the worst subsets per variant."""
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['subset'] + list(self.modalities)
                            + [f'{v} {k}' for v in self.variants for k in ('mean', 'std')])
            for row in self.rows():
                marks = ([''] * len(self.modalities) if row in SUMMARY_ROWS
                         else [int(m in row) for m in self.modalities])
                stats = [self.stat(v, row) for v in self.variants]
                writer.writerow([row if row in SUMMARY_ROWS else subset_label(row)] + marks
                                + [x for s in stats for x in (s.mean, s.std)])

    def write_seeds_csv(self, path: str) -> None:
        """Long table, one line per (variant, seed, row): the raw values behind the stats."""
        with open(path, 'w', newline='') as f:
            writer = csv.writer(f)
            writer.writerow(['variant', 'seed', 'subset', 'value'])
            for variant in self.variants:
                for row in self.rows():
                    label = row if row in SUMMARY_ROWS else subset_label(row)
                    for seed, value in zip(self.seeds, self.per_seed(variant, row)):
                        writer.writerow([variant, seed, label, value])

    def plot(self, path: str, title: Optional[str] = None) -> None:
        """Bars per variant: mean over subsets and worst subset, ± std over the seeds
        (880 px wide)."""
        import numpy as np
        from matplotlib.figure import Figure  # no pyplot: headless, no global state

        y = np.arange(len(self.variants))[::-1]  # first variant on top
        fig = Figure(figsize=(8.8, 1.2 + 0.55 * len(self.variants)), dpi=100)
        ax = fig.subplots()
        for offset, row in ((0.2, 'mean'), (-0.2, 'worst')):
            stats = [self.stat(v, row) for v in self.variants]
            err = [0.0 if math.isnan(s.std) else s.std for s in stats]
            ax.barh(y + offset, [s.mean for s in stats], 0.4, xerr=err, capsize=3,
                    label=self.row_label(row))
        ax.set_yticks(y, self.variants, fontsize=10)
        ax.legend(fontsize=9, loc='upper center', bbox_to_anchor=(0.5, -0.06), ncol=2,
                  frameon=False)
        ax.grid(axis='x', alpha=0.3)
        ax.set_title(title or f'mean ± std over {len(self.seeds)} seed(s)', fontsize=11)
        fig.tight_layout()
        fig.savefig(path)

    def plot_heatmap(self, path: str, title: Optional[str] = None) -> None:
        """Heatmap of the means (subsets and summary rows x variants; text mean ± std)."""
        import numpy as np
        from matplotlib.figure import Figure

        rows, fmt = self.rows(), self._fmt()
        means = np.array([[self.stat(v, r).mean for v in self.variants] for r in rows])
        colour = np.zeros_like(means)
        for i in range(len(rows)):  # per row: the drop has another scale (and lower is better)
            finite = means[i][np.isfinite(means[i])]
            lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 0.0)
            colour[i] = (means[i] - lo) / (hi - lo if hi > lo else 1.0)
            if rows[i] == 'drop':
                colour[i] = 1 - colour[i]
        fig = Figure(figsize=(max(8.8, 2.4 + 0.9 * len(self.variants)),
                              1.6 + 0.5 * len(rows)), dpi=100)
        heat = fig.subplots()
        heat.imshow(colour, cmap='viridis', vmin=0, vmax=1, aspect='auto')
        heat.set_xticks(range(len(self.variants)), self.variants, rotation=30, ha='right')
        heat.set_yticks(range(len(rows)), [self.row_label(r) for r in rows])
        heat.axhline(len(self.subsets) - 0.5, color='white', lw=2)
        for i, row in enumerate(rows):
            for j, variant in enumerate(self.variants):
                heat.text(j, i, self.stat(variant, row).format(fmt).replace(' ± ', '\n±'),
                          ha='center', va='center', fontsize=7,
                          color='white' if colour[i, j] < 0.6 else 'black')
        heat.set_title(title or f'mean ± std over {len(self.seeds)} seed(s); colour per row',
                       fontsize=10)
        fig.tight_layout()
        fig.savefig(path)

    def save(self, work_dir: str, stem: str, title: Optional[str] = None) -> Dict[str, str]:
        """Write ``<stem>.md``, ``<stem>.csv``, ``<stem>_seeds.csv``, ``<stem>.png`` (bars)
        and ``<stem>_heatmap.png``."""
        os.makedirs(work_dir, exist_ok=True)
        paths = {ext: osp.join(work_dir, f'{stem}.{ext}') for ext in ('md', 'csv', 'png')}
        paths['seeds'] = osp.join(work_dir, f'{stem}_seeds.csv')
        paths['heatmap'] = osp.join(work_dir, f'{stem}_heatmap.png')
        with open(paths['md'], 'w') as f:
            f.write(self.to_markdown())
        self.write_csv(paths['csv'])
        self.write_seeds_csv(paths['seeds'])
        self.plot(paths['png'], title)
        self.plot_heatmap(paths['heatmap'], title)
        return paths
