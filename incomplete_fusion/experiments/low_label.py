"""Low-label fine-tuning: learning curves per modality subset, MultiMAE vs scratch.

For each labelled fraction of the training tiles (a seeded, stratified
:class:`~incomplete_fusion.datasets.label_subset.LabelledSubset`) and each
initialisation (``scratch``; ``multimae``: the backbone of a MultiMAE checkpoint),
a config (+ preset + overrides) is trained with ``tools/train.py`` and evaluated on
every modality subset with ``tools/test.py --all-subsets``; only the initialisation
and the fraction differ between runs. The command line: ``tools/low_label_study.py``;
docs/results.md, "Low-label fine-tuning".
"""
import csv
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from ..evaluation.subset_table import subset_label
from .compose import REPO, common_options, compose_config, write_config
from .data import make_dfc2023_data
from .runs import read_subset_csv
from .tool_runs import test_all_subsets, train

INITS = ('scratch', 'multimae')
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'fusionvit', 'mask2former_dfc2023_semantic.py')
Row = Tuple[str, float, Dict[str, float]]  # init, fraction, subset label -> value


@dataclass
class LowLabelSettings:
    """What the low-label study trains (one seed) and on which data."""

    config: str = DEFAULT_CONFIG
    preset: Optional[str] = osp.join(REPO, 'configs', 'demo', 'cpu_preset.py')
    fractions: List[float] = field(default_factory=lambda: [0.05, 0.1, 0.25, 0.5, 1.0])
    inits: List[str] = field(default_factory=lambda: list(INITS))
    pretrained: Optional[str] = None
    iters: Optional[int] = None
    subset_seed: int = 0
    stratify: bool = True
    data_root: Optional[str] = None  # None: generate DFC2023-style data in the work dir
    num_train: int = 96
    num_val: int = 16
    tile_size: int = 128
    seed: int = 0  # training seed (and data generation)
    cfg_options: List[str] = field(default_factory=list)


def run_dir(work_dir: str, init: str, fraction: float) -> str:
    return osp.join(work_dir, f'{init}_f{fraction:g}')


def check_pretrained(path: str) -> None:
    """The checkpoint exists and holds ``backbone.`` weights."""
    import torch
    if not osp.isfile(path):
        raise FileNotFoundError(f'--pretrained {path} does not exist')
    state = torch.load(path, map_location='cpu', weights_only=False)
    state = state.get('state_dict', state)
    if not any(k.startswith('backbone.') for k in state):
        raise ValueError(f'{path} holds no backbone.* weights (a MultiMAE pretraining '
                         'checkpoint of tools/train.py is expected)')


def init_options(init: str, pretrained: str) -> List[str]:
    if init == 'scratch':
        return []
    return ['model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={osp.abspath(pretrained)}',
            'model.backbone.init_cfg.prefix=backbone.']


def collect(work_dir: str, inits: Sequence[str], fractions: Sequence[float],
            metric: str) -> Tuple[List[str], List[Row]]:
    """Subset labels (table order) and one row per (init, fraction) from the runs' CSVs."""
    labels, rows = None, []
    for init in inits:
        for fraction in fractions:
            _, values = read_subset_csv(
                osp.join(run_dir(work_dir, init, fraction), 'subset_eval.csv'), metric)
            row_labels = [subset_label(subset) for subset, _ in values]
            if labels is None:
                labels = row_labels
            assert row_labels == labels, 'runs were evaluated on different subsets'
            rows.append((init, fraction, dict(zip(row_labels, (v for _, v in values)))))
    return labels, rows


def to_markdown(labels: Sequence[str], rows: Sequence[Row]) -> str:
    header = ['init', 'fraction'] + list(labels) + ['mean']
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join([':--', '--:'] + ['--:'] * (len(labels) + 1)) + '|']
    for init, fraction, values in rows:
        cells = [values[label] for label in labels]
        cells.append(sum(cells) / len(cells))
        lines.append('| ' + ' | '.join([init, f'{fraction:g}'] + [f'{v:.2f}' for v in cells])
                     + ' |')
    return '\n'.join(lines) + '\n'


def write_csv(path: str, labels: Sequence[str], rows: Sequence[Row]) -> None:
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['init', 'fraction'] + list(labels) + ['mean'])
        for init, fraction, values in rows:
            cells = [values[label] for label in labels]
            writer.writerow([init, fraction] + cells + [sum(cells) / len(cells)])


def plot(path: str, labels: Sequence[str], rows: Sequence[Row], metric: str) -> None:
    """One panel per subset: the metric against the labelled fraction, a line per init."""
    from matplotlib.figure import Figure  # no pyplot: headless, no global state
    cols = min(4, len(labels))
    nrows = -(-len(labels) // cols)
    fig = Figure(figsize=(3.2 * cols, 2.6 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False, sharey=True).ravel()
    inits = list(dict.fromkeys(init for init, _, _ in rows))
    for ax, label in zip(axes, labels):
        for init in inits:
            points = sorted((f, v[label]) for i, f, v in rows if i == init)
            ax.plot([p[0] for p in points], [p[1] for p in points], marker='o', label=init)
        ax.set_xscale('log')
        ax.minorticks_off()
        fractions = sorted({f for _, f, _ in rows})
        ax.set_xticks(fractions, [f'{f:g}' for f in fractions], fontsize=7)
        ax.set_title(label, fontsize=9)
        ax.set_xlabel('labelled fraction', fontsize=8)
    for ax in axes[len(labels):]:
        ax.set_visible(False)
    axes[0].set_ylabel(metric)
    axes[0].legend(fontsize=8)
    fig.suptitle(f'{metric} per modality subset vs labelled fraction')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_low_label(settings: LowLabelSettings, work_dir: str,
                  metric: str = 'IoU.building') -> str:
    """Train and evaluate every (init, fraction) that is not there yet; write
    ``low_label.{md,csv,png}``; return the markdown table."""
    from incomplete_fusion.datasets.label_subset import wrap_train_dataset
    work_dir = osp.abspath(work_dir)
    if settings.data_root:
        data_root = osp.abspath(settings.data_root) + '/'
    else:
        data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
        make_dfc2023_data(data_root, settings.num_train, settings.num_val, settings.tile_size,
                          settings.seed)
    if 'multimae' in settings.inits:
        check_pretrained(settings.pretrained)
    options = common_options(data_root, settings.seed, settings.iters) + settings.cfg_options
    for init in settings.inits:
        for fraction in settings.fractions:
            out = run_dir(work_dir, init, fraction)
            if osp.exists(osp.join(out, 'subset_eval.csv')):
                print(f'{init} at {fraction:g}: reusing {out}')
                continue
            cfg = compose_config(settings.config, settings.preset or None,
                                 options + init_options(init, settings.pretrained))
            wrap_train_dataset(cfg, fraction=fraction, seed=settings.subset_seed,
                               stratify=settings.stratify)
            config_path = write_config(cfg, out, settings.preset)
            checkpoint = train(config_path, osp.join(out, 'train'))
            test_all_subsets(config_path, checkpoint, out)
    labels, rows = collect(work_dir, settings.inits, settings.fractions, metric)
    table = to_markdown(labels, rows)
    with open(osp.join(work_dir, 'low_label.md'), 'w') as f:
        f.write(table)
    write_csv(osp.join(work_dir, 'low_label.csv'), labels, rows)
    plot(osp.join(work_dir, 'low_label.png'), labels, rows, metric)
    return table
