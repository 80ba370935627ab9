"""Low-label fine-tuning: learning curves per modality subset, MultiMAE vs scratch.

For each labelled fraction of the training tiles (a seeded, stratified
:class:`~incomplete_fusion.datasets.label_subset.LabelledSubset`) and each
initialisation (``scratch``; ``multimae``: the backbone of the MultiMAE checkpoint
given by ``--pretrained``), the config (+ preset + overrides) is trained with
``tools/train.py`` and evaluated on every modality subset with ``tools/test.py
--all-subsets``. Only the initialisation and the fraction differ between runs:
same data, schedule, iterations, seeds and learning rates::

    python tools/train.py configs/fusionvit/multimae_dfc2023.py ...   # backbone sizes
    python tools/low_label_study.py --pretrained PATH.pth --work-dir work_dirs/low_label

The checkpoint's backbone must have the sizes of the fine-tuned config after the
preset (mmengine loads ``Pretrained`` weights non-strictly and only logs mismatches).

Writes ``<work_dir>/<init>_f<fraction>/`` (config, training logs, checkpoint,
subset_eval.{md,csv,png}) and ``low_label.{md,csv,png}``: rows are (init, fraction),
columns the metric per modality subset and its mean over subsets; the PNG has one
learning curve per subset.
"""
import argparse
import csv
import os
import os.path as osp
import sys
from typing import Dict, List, Sequence, Tuple

TOOLS = osp.dirname(osp.abspath(__file__))
sys.path[:0] = [osp.dirname(TOOLS), TOOLS]  # run from a checkout

from experiment_utils import (REPO, common_options, compose_config,  # noqa: E402
                              evaluate_subsets, make_dfc2023_data, read_subset_csv, train,
                              write_config)

INITS = ('scratch', 'multimae')
DEFAULT_CONFIG = osp.join(REPO, 'configs', 'fusionvit', 'mask2former_dfc2023_semantic.py')
Row = Tuple[str, float, Dict[str, float]]  # init, fraction, subset label -> value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--pretrained', help='MultiMAE checkpoint (needed for init multimae)')
    parser.add_argument('--work-dir', default='work_dirs/low_label')
    parser.add_argument('--config', default=DEFAULT_CONFIG,
                        help='fine-tuning config (its train dataset gets wrapped)')
    parser.add_argument('--fractions', nargs='+', type=float,
                        default=[0.05, 0.1, 0.25, 0.5, 1.0])
    parser.add_argument('--inits', nargs='+', default=list(INITS), choices=INITS)
    parser.add_argument('--preset', default=osp.join(REPO, 'configs', 'demo', 'cpu_preset.py'),
                        help='partial config merged on top of the config (empty: none)')
    parser.add_argument('--iters', type=int, default=None, help='training iterations per run')
    parser.add_argument('--metric', default='IoU.building', help='metric in the table')
    parser.add_argument('--subset-seed', type=int, default=0,
                        help='seed of the labelled subset (same for every run)')
    parser.add_argument('--no-stratify', action='store_true', help='uniform subsets')
    parser.add_argument('--data-root', default=None,
                        help='existing data (default: generate DFC2023-style data in the '
                        'work dir)')
    parser.add_argument('--num-train', type=int, default=96)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--tile-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0, help='training seed (and data generation)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides applied to every run')
    args = parser.parse_args(argv)
    if 'multimae' in args.inits and not args.pretrained:
        parser.error('init multimae needs --pretrained CHECKPOINT (or --inits scratch)')
    for fraction in args.fractions:
        if not 0 < fraction <= 1:
            parser.error(f'fractions must be in (0, 1], got {fraction}')
    return args


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
    from incomplete_fusion.evaluation.subset_table import subset_label
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


def main(argv=None) -> None:
    from incomplete_fusion.datasets.label_subset import wrap_train_dataset
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    if args.data_root:
        data_root = osp.abspath(args.data_root) + '/'
    else:
        data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
        make_dfc2023_data(data_root, args.num_train, args.num_val, args.tile_size, args.seed)
    if 'multimae' in args.inits:
        check_pretrained(args.pretrained)
    options = common_options(data_root, args.seed, args.iters) + args.cfg_options
    for init in args.inits:
        for fraction in args.fractions:
            out = run_dir(work_dir, init, fraction)
            if osp.exists(osp.join(out, 'subset_eval.csv')):
                print(f'{init} at {fraction:g}: reusing {out}')
                continue
            cfg = compose_config(args.config, args.preset or None,
                                 options + init_options(init, args.pretrained))
            wrap_train_dataset(cfg, fraction=fraction, seed=args.subset_seed,
                               stratify=not args.no_stratify)
            config_path = write_config(cfg, out, args.preset)
            checkpoint = train(config_path, osp.join(out, 'train'))
            evaluate_subsets(config_path, checkpoint, out)
    labels, rows = collect(work_dir, args.inits, args.fractions, args.metric)
    table = to_markdown(labels, rows)
    with open(osp.join(work_dir, 'low_label.md'), 'w') as f:
        f.write(table)
    write_csv(osp.join(work_dir, 'low_label.csv'), labels, rows)
    plot(osp.join(work_dir, 'low_label.png'), labels, rows, args.metric)
    print(f'\n{args.metric} per (init, labelled fraction) (rows) and modality subset '
          f'(columns):\n')
    print(table)
    print(f'written: {osp.join(work_dir, "low_label.md")}, .csv, .png')


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
