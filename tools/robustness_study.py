"""The robustness study: every missing-modality strategy, several seeds, one command.

Each variant is trained with the same data, budget (preset + iterations) and seed,
then evaluated on every modality subset with ``tools/test.py --all-subsets``, on the
test tiles (the table) and on the validation tiles (where choices are made); this
is repeated for each seed (``randomness.seed``: model initialisation and every
random draw). The data is generated once per ``--data-seed`` and shared by all runs::

    python tools/robustness_study.py --work-dir work_dirs/robustness          # CPU preset
    python tools/robustness_study.py --seeds 0 1 2 --variants FusionViT MultiViT --iters 400
    python tools/robustness_study.py --dry-run                                 # the plan

Every finished run is published to ``--results-dir`` (per-subset CSVs + a JSON
record: config digest, data, wall time; commit them) and restored from there
instead of trained again, so a study resumes on a fresh machine.

Variants: FusionViT, FusionViT paper init (``fusion_init='learned'``), its
ablations (w/o mask, w/o random, w/o modality attn), MultiViT, PerceiverIO,
self-distillation (trained), and fill-in: evaluation only,
the ``w/o random`` (full-modality) checkpoint of the same seed with the fill-in
config, whose generator is a MultiMAE checkpoint pretrained per seed
(``configs/fusionvit/multimae_dfc2023.py`` + ``--multimae-preset``).

Writes ``<work_dir>/seed<k>/<variant>/`` (composed config, ``train/``,
``eval{,_val}/subset_eval.*``), ``<work_dir>/seed<k>/multimae/`` and the summaries
``robustness{,_val}.{md,csv,png}``, ``_heatmap.png``, ``_seeds.csv``
(:class:`~incomplete_fusion.experiments.SeedStatistics`). A run whose composed config
changed is refused. docs/results.md, "Robustness study".
"""
import argparse
import os
import os.path as osp
import sys
import time
from dataclasses import fields

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from incomplete_fusion.experiments.robustness import (  # noqa: E402
    VARIANTS, StudySettings, plan, print_plan, run_study, study_id)

DEFAULT = StudySettings()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/robustness')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--seeds', nargs='+', type=int, default=DEFAULT.seeds,
                        help='training seeds (randomness.seed); one run per variant and seed')
    parser.add_argument('--iters', '--budget', type=int, default=DEFAULT.iters,
                        help='training iterations per variant (the same for all)')
    parser.add_argument('--preset', default=DEFAULT.preset,
                        help='partial config merged on top of every variant (empty: none)')
    parser.add_argument('--multimae-preset', default=DEFAULT.multimae_preset,
                        help='partial config merged on the MultiMAE pretraining (empty: none)')
    parser.add_argument('--pretrain-epochs', type=int, default=DEFAULT.pretrain_epochs,
                        help='MultiMAE pretraining epochs (fill-in only)')
    parser.add_argument('--metric', default='IoU.building', help='metric of the summary')
    parser.add_argument('--num-train', type=int, default=DEFAULT.num_train)
    parser.add_argument('--num-val', type=int, default=DEFAULT.num_val,
                        help='validation tiles (the training run\'s val, choices)')
    parser.add_argument('--num-test', type=int, default=DEFAULT.num_test,
                        help='test tiles (the table): generated like val, used for nothing else')
    parser.add_argument('--results-dir', default=DEFAULT.results_dir,
                        help='where finished runs are published and restored from '
                        '(empty: nowhere)')
    parser.add_argument('--tile-size', type=int, default=DEFAULT.tile_size,
                        help='generated tile size (px)')
    parser.add_argument('--data-seed', type=int, default=DEFAULT.data_seed,
                        help='seed of the generated data')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs at a time; each gets OMP_NUM_THREADS / jobs threads')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides applied to every variant')
    parser.add_argument('--pretrain-options', nargs='+', default=[],
                        help='extra key=value overrides of the MultiMAE pretraining')
    parser.add_argument('--dry-run', action='store_true',
                        help='compose every config and print the plan; train nothing')
    args = parser.parse_args(argv)
    args.variants = list(dict.fromkeys(args.variants))
    if min(args.iters, args.pretrain_epochs, args.jobs, args.num_val, args.num_test) < 1:
        parser.error('--iters, --pretrain-epochs, --jobs, --num-val, --num-test must be >= 1')
    return args


def settings_of(args: argparse.Namespace) -> StudySettings:
    return StudySettings(**{f.name: getattr(args, f.name) for f in fields(StudySettings)})


def main(argv=None) -> None:
    args = parse_args(argv)
    settings = settings_of(args)
    if args.dry_run:
        work_dir = osp.abspath(args.work_dir)
        data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
        print(f'preset: {args.preset or "none"}; data: {args.num_train} train + {args.num_val} '
              f'val + {args.num_test} test generated DFC2023 tiles of {args.tile_size} px '
              f'(seed {args.data_seed}) in {data_root}')
        if args.results_dir:
            print(f'published results: {osp.join(args.results_dir, study_id(settings))}')
        print_plan(plan(settings, work_dir, data_root), args.jobs)
        return
    start = time.perf_counter()
    stats, failed = run_study(settings, args.work_dir, args.jobs, args.metric)
    failure = RuntimeError('failed runs (rerun the command to resume):\n' + '\n'.join(
        f'  {name}: {why}' for name, why in failed.items()))
    if stats is None:
        raise failure
    print(f'\n{args.metric}, mean ± std over seeds {args.seeds}, per modality subset (rows) '
          f'and variant (columns); study took {(time.perf_counter() - start) / 60:.1f} min:\n')
    print(stats.to_markdown())
    print(f'written: {osp.join(osp.abspath(args.work_dir), "robustness.md")}, .csv, '
          f'_seeds.csv, .png, _heatmap.png (and robustness_val.*: the validation tiles)')
    if failed:
        raise failure


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
