"""Low-label fine-tuning: learning curves per modality subset, MultiMAE vs scratch.

For each training seed, labelled fraction of the training tiles (a seeded, stratified
:class:`~incomplete_fusion.datasets.label_subset.LabelledSubset`, the same tiles for
every run) and initialisation, one training run with ``tools/train.py``, evaluated on
every modality subset with ``tools/test.py --all-subsets`` on the test tiles (the
table) and the validation tiles:

- ``scratch``: ``--config`` (default the semantic FusionViT config);
- ``multimae``: ``--finetune-config`` (backbone and fusion tokens at 0.1x the learning
  rate) from the backbone of a MultiMAE pretrained for ``--pretrain-epochs`` on the
  same data with the same seed (``configs/fusionvit/multimae_dfc2023.py`` +
  ``--multimae-preset``), or of ``--pretrained CHECKPOINT`` for every seed::

    python tools/low_label_study.py --work-dir work_dirs/low_label --jobs 2
    python tools/low_label_study.py --dry-run                                  # the plan

Every finished run is published to ``--results-dir`` (per-subset CSVs + a JSON record;
commit them) and restored from there instead of trained again. Writes
``<work_dir>/seed<k>/{multimae,<init>_f<fraction>}/`` and the summaries
``low_label{,_val}.{md,csv}`` and ``low_label.png`` (mean ± std over the seeds).
docs/results.md, "Low-label fine-tuning".
"""
import argparse
import os
import os.path as osp
import sys
from dataclasses import fields

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from incomplete_fusion.experiments.low_label import (  # noqa: E402
    INITS, LowLabelSettings, run_low_label)

DEFAULT = LowLabelSettings()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/low_label')
    parser.add_argument('--config', default=DEFAULT.config, help='the scratch runs\' config')
    parser.add_argument('--finetune-config', default=DEFAULT.finetune_config,
                        help='the multimae runs\' config (its backbone init_cfg gets the '
                        'checkpoint)')
    parser.add_argument('--preset', default=DEFAULT.preset,
                        help='partial config merged on top of both configs (empty: none)')
    parser.add_argument('--multimae-preset', default=DEFAULT.multimae_preset,
                        help='partial config merged on the MultiMAE pretraining (empty: none)')
    parser.add_argument('--pretrain-epochs', type=int, default=DEFAULT.pretrain_epochs,
                        help='MultiMAE pretraining epochs (one pretraining per seed)')
    parser.add_argument('--pretrained', default=None,
                        help='a MultiMAE checkpoint for every seed instead of pretraining '
                        '(its backbone must have the fine-tuned config\'s sizes)')
    parser.add_argument('--fractions', nargs='+', type=float, default=DEFAULT.fractions)
    parser.add_argument('--inits', nargs='+', default=DEFAULT.inits, choices=INITS)
    parser.add_argument('--seeds', nargs='+', type=int, default=DEFAULT.seeds,
                        help='training seeds (randomness.seed); pretraining per seed')
    parser.add_argument('--iters', type=int, default=DEFAULT.iters,
                        help='training iterations per run')
    parser.add_argument('--metric', default='IoU.building', help='metric in the table')
    parser.add_argument('--subset-seed', type=int, default=DEFAULT.subset_seed,
                        help='seed of the labelled subset (same for every run)')
    parser.add_argument('--no-stratify', dest='stratify', action='store_false',
                        help='uniform subsets')
    parser.add_argument('--data-root', default=None,
                        help='existing DFC2023-layout data (default: generate it in the '
                        'work dir, with a test split)')
    parser.add_argument('--num-train', type=int, default=DEFAULT.num_train)
    parser.add_argument('--num-val', type=int, default=DEFAULT.num_val)
    parser.add_argument('--num-test', type=int, default=DEFAULT.num_test)
    parser.add_argument('--tile-size', type=int, default=DEFAULT.tile_size)
    parser.add_argument('--data-seed', type=int, default=DEFAULT.data_seed,
                        help='seed of the generated data')
    parser.add_argument('--results-dir', default=DEFAULT.results_dir,
                        help='where finished runs are published and restored from '
                        '(empty: nowhere)')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at a time; each gets OMP_NUM_THREADS / jobs threads')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides applied to every fine-tuning run')
    parser.add_argument('--pretrain-options', nargs='+', default=[],
                        help='extra key=value overrides of the MultiMAE pretraining')
    parser.add_argument('--dry-run', action='store_true',
                        help='compose every config and print the plan; train nothing')
    args = parser.parse_args(argv)
    for fraction in args.fractions:
        if not 0 < fraction <= 1:
            parser.error(f'fractions must be in (0, 1], got {fraction}')
    return args


def settings_of(args: argparse.Namespace) -> LowLabelSettings:
    return LowLabelSettings(**{f.name: getattr(args, f.name) for f in fields(LowLabelSettings)})


def main(argv=None) -> None:
    args = parse_args(argv)
    table, failed = run_low_label(settings_of(args), args.work_dir, args.metric, args.jobs,
                                  args.dry_run)
    if failed:
        raise RuntimeError('failed runs (rerun the command to resume):\n' + '\n'.join(
            f'  {name}: {why}' for name, why in failed.items()))
    if table is None:
        return
    print(f'\n{args.metric}, mean ± std over seeds {args.seeds}, per (init, labelled '
          f'fraction) (rows) and modality subset (columns), test tiles:\n')
    print(table)
    print(f'written: {osp.join(osp.abspath(args.work_dir), "low_label.md")}, .csv, .png '
          f'(and low_label_val.*: the validation tiles)')


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
