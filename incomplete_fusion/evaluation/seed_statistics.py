"""Multi-seed statistics of per-subset results: mean ± std, mean over subsets, worst subset.

A study trains each variant with several seeds and evaluates every modality subset.
One seed cannot separate effects from noise, so the table reports, per variant:

- per subset: mean and sample standard deviation (``ddof=1``) over the seeds;
- **mean over subsets** and **worst subset** (the convention of recent
  incomplete-modality papers): computed *per seed* first (the mean of that seed's
  subset values, its minimum), then mean ± std over the seeds. The worst subset can
  differ between seeds; which one it was is kept (``worst_subsets``).

With one seed the std is NaN (shown as the mean alone).
"""
import csv
import math
import os
import os.path as osp
from collections import Counter
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from .subset_table import subset_label

Subset = Tuple[str, ...]
SUMMARY_ROWS = ('mean', 'worst')  # the rows below the subsets


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

    def per_seed(self, variant: str, row: object) -> Tuple[float, ...]:
        """One value per seed: a subset's, or the seed's ``'mean'``/``'worst'`` over subsets."""
        out = []
        for seed in self.seeds:
            values = self.results[variant][seed]
            if row == 'mean':
                out.append(sum(values.values()) / len(values))
            elif row == 'worst':
                out.append(min(values.values()))
            else:
                out.append(values[tuple(row)])
        return tuple(out)

    def stat(self, variant: str, row: object) -> Stat:
        return Stat(self.per_seed(variant, row))

    def worst_subsets(self, variant: str) -> Counter:
        """How often each subset was the worst one (ties: the first in table order)."""
        counts = Counter()
        for seed in self.seeds:
            values = self.results[variant][seed]
            counts[min(self.subsets, key=lambda s: values[s])] += 1
        return counts

    def rows(self) -> List[object]:
        return list(self.subsets) + list(SUMMARY_ROWS)

    @staticmethod
    def row_label(row: object) -> str:
        if row == 'mean':
            return 'mean over subsets'
        if row == 'worst':
            return 'worst subset'
        return subset_label(row)

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
        """Heatmap of the means (subsets, mean, worst x variants; text mean ± std) and
        bars of mean over subsets and worst subset per variant with ±std error bars."""
        import numpy as np
        from matplotlib.figure import Figure  # no pyplot: headless, no global state

        rows, fmt = self.rows(), self._fmt()
        means = np.array([[self.stat(v, r).mean for v in self.variants] for r in rows])
        lo, hi = np.nanmin(means), np.nanmax(means)
        colour = (means - lo) / (hi - lo if hi > lo else 1.0)
        width = 2.0 + 1.25 * len(self.variants)
        fig = Figure(figsize=(2 * width, 1.4 + 0.45 * len(rows)))
        heat, bars = fig.subplots(1, 2)
        heat.imshow(colour, cmap='viridis', vmin=0, vmax=1, aspect='auto')
        heat.set_xticks(range(len(self.variants)), self.variants, rotation=30, ha='right')
        heat.set_yticks(range(len(rows)), [self.row_label(r) for r in rows])
        heat.axhline(len(self.subsets) - 0.5, color='white', lw=2)
        for i, row in enumerate(rows):
            for j, variant in enumerate(self.variants):
                heat.text(j, i, self.stat(variant, row).format(fmt).replace(' ± ', '\n±'),
                          ha='center', va='center', fontsize=7,
                          color='white' if colour[i, j] < 0.6 else 'black')
        heat.set_title(f'mean ± std over {len(self.seeds)} seed(s)', fontsize=10)
        x = np.arange(len(self.variants))
        for offset, row in ((-0.2, 'mean'), (0.2, 'worst')):
            stats = [self.stat(v, row) for v in self.variants]
            err = [0.0 if math.isnan(s.std) else s.std for s in stats]
            bars.bar(x + offset, [s.mean for s in stats], 0.4, yerr=err, capsize=3,
                     label=self.row_label(row))
        bars.set_xticks(x, self.variants, rotation=30, ha='right')
        bars.legend(fontsize=8)
        bars.set_title('mean over subsets, worst subset (± std)', fontsize=10)
        fig.suptitle(title or 'per-subset results over seeds')
        fig.tight_layout()
        fig.savefig(path, dpi=120)

    def save(self, work_dir: str, stem: str, title: Optional[str] = None) -> Dict[str, str]:
        """Write ``<stem>.md``, ``<stem>.csv``, ``<stem>_seeds.csv``, ``<stem>.png``."""
        os.makedirs(work_dir, exist_ok=True)
        paths = {ext: osp.join(work_dir, f'{stem}.{ext}') for ext in ('md', 'csv', 'png')}
        paths['seeds'] = osp.join(work_dir, f'{stem}_seeds.csv')
        with open(paths['md'], 'w') as f:
            f.write(self.to_markdown())
        self.write_csv(paths['csv'])
        self.write_seeds_csv(paths['seeds'])
        self.plot(paths['png'], title)
        return paths
