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
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from incomplete_fusion.experiments.low_label import (  # noqa: E402
    DEFAULT_CONFIG, INITS, REPO, LowLabelSettings, run_low_label)


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


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = LowLabelSettings(
        config=args.config, preset=args.preset, fractions=args.fractions, inits=args.inits,
        pretrained=args.pretrained, iters=args.iters, subset_seed=args.subset_seed,
        stratify=not args.no_stratify, data_root=args.data_root, num_train=args.num_train,
        num_val=args.num_val, tile_size=args.tile_size, seed=args.seed,
        cfg_options=args.cfg_options)
    table = run_low_label(settings, args.work_dir, args.metric)
    print(f'\n{args.metric} per (init, labelled fraction) (rows) and modality subset '
          f'(columns):\n')
    print(table)
    print(f'written: {osp.join(osp.abspath(args.work_dir), "low_label.md")}, .csv, .png')


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
