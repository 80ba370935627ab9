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

Variants: FusionViT, FusionViT + local init (``fusion_init='modality_mean'``), its
ablations (w/o mask, w/o random, w/o modality attn), MultiViT, PerceiverIO,
self-distillation (trained), and fill-in: evaluation only,
the ``w/o random`` (full-modality) checkpoint of the same seed with the fill-in
config, whose generator is a MultiMAE checkpoint pretrained per seed
(``configs/fusionvit/multimae_dfc2023.py`` + ``--multimae-preset``).

Writes ``<work_dir>/seed<k>/<variant>/`` (composed config, ``train/``,
``eval{,_val}/subset_eval.*``), ``<work_dir>/seed<k>/multimae/`` and the summaries
``robustness{,_val}.{md,csv,png}``, ``_heatmap.png``, ``_seeds.csv``
(:class:`~incomplete_fusion.evaluation.SeedStatistics`). A run whose composed config
changed is refused. docs/results.md, "Robustness study".
"""
import argparse
import os
import os.path as osp
import sys
import time
from typing import List

TOOLS = osp.dirname(osp.abspath(__file__))
sys.path[:0] = [osp.dirname(TOOLS), TOOLS]  # run from a checkout

import experiment_utils as eu  # noqa: E402
from experiment_utils import (REPO, common_options, compose_config, describe,  # noqa: E402
                              read_subset_csv)
from study_runs import Published, Run, config_digest, execute, subset_csv  # noqa: E402

CONFIGS = osp.join(REPO, 'configs', 'fusionvit')
VARIANTS = {
    'FusionViT': 'mask2former_dfc2023_semantic.py',
    'FusionViT + local init': 'mask2former_dfc2023_semantic_local-init.py',
    'w/o mask': 'mask2former_dfc2023_semantic_wo-mask.py',
    'w/o random': 'mask2former_dfc2023_semantic_wo-random.py',
    'w/o modality attn': 'mask2former_dfc2023_semantic_wo-modality-attn.py',
    'MultiViT': 'multivit_dfc2023_semantic.py',
    'PerceiverIO': 'perceiverio_dfc2023_semantic.py',
    'self-distillation': 'mask2former_dfc2023_semantic_distill.py',
    'fill-in': 'mask2former_dfc2023_semantic_fillin.py',
}
EVAL_ONLY = {'fill-in': 'w/o random'}  # variant -> the variant whose checkpoint it evaluates
MULTIMAE_CONFIG = osp.join(CONFIGS, 'multimae_dfc2023.py')
DEMO = osp.join(REPO, 'configs', 'demo')
# the test split: the last --num-test generated validation tiles (experiment_utils)
TEST_SPLIT = ['test_dataloader.dataset.ann_file=annotations/buildings_only_test.json',
              'test_dataloader.dataset.data_prefix.img_path=val/']
VAL_SPLIT = ['test_dataloader.dataset.ann_file=annotations/buildings_only_val.json']


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/robustness')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2],
                        help='training seeds (randomness.seed); one run per variant and seed')
    parser.add_argument('--iters', '--budget', type=int, default=400,
                        help='training iterations per variant (the same for all)')
    parser.add_argument('--preset', default=osp.join(DEMO, 'cpu_preset.py'),
                        help='partial config merged on top of every variant (empty: none)')
    parser.add_argument('--multimae-preset', default=osp.join(DEMO, 'cpu_preset_multimae.py'),
                        help='partial config merged on the MultiMAE pretraining (empty: none)')
    parser.add_argument('--pretrain-epochs', type=int, default=20,
                        help='MultiMAE pretraining epochs (fill-in only)')
    parser.add_argument('--metric', default='IoU.building', help='metric of the summary')
    parser.add_argument('--num-train', type=int, default=96)
    parser.add_argument('--num-val', type=int, default=16,
                        help='validation tiles (the training run\'s val, choices)')
    parser.add_argument('--num-test', type=int, default=32,
                        help='test tiles (the table): generated like val, used for nothing else')
    parser.add_argument('--results-dir', default=osp.join(REPO, 'docs', 'results', 'study'),
                        help='where finished runs are published and restored from '
                        '(empty: nowhere)')
    parser.add_argument('--tile-size', type=int, default=128, help='generated tile size (px)')
    parser.add_argument('--data-seed', type=int, default=0, help='seed of the generated data')
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


def variant_dir(work_dir: str, variant: str, seed: int) -> str:
    name = variant.replace('/', '').replace('+', '').replace(' ', '_').replace('__', '_')
    return osp.join(work_dir, f'seed{seed}', name)


def variant_config(variant: str) -> str:
    """The variant's config root; a clear error while it does not exist yet."""
    path = osp.join(CONFIGS, VARIANTS[variant])
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'variant {variant!r} needs the config {path}, which does not exist (yet); '
            f'leave the variant out (--variants ...) or add the config')
    return path


def study_id(args) -> str:
    """The results folder of a preset, budget and dataset, e.g. ``cpu_preset_400it_data0``."""
    preset = osp.splitext(osp.basename(args.preset))[0] if args.preset else 'no-preset'
    return f'{preset}_{args.iters}it_data{args.data_seed}'


def data_settings(args) -> dict:
    return dict(num_train=args.num_train, num_val=args.num_val, num_test=args.num_test,
                tile_size=args.tile_size, data_seed=args.data_seed)


def publish_to(args, work_dir: str, run: Run) -> Run:
    """Give ``run`` its published record under ``--results-dir`` (if any)."""
    if args.results_dir and run.kind != 'pretrain':
        base = osp.join(args.results_dir, study_id(args), f'seed{run.seed}',
                        osp.basename(run.out))
        run.published = Published(osp.abspath(base), dict(
            config_sha256=config_digest(run.cfg, work_dir), data=data_settings(args),
            iters=args.iters))
    run.eval_options = {'val': VAL_SPLIT}
    return run


def plan(args, work_dir: str, data_root: str) -> List[Run]:
    """Every run of the study, dependencies before the runs that need them."""
    for variant in args.variants:
        variant_config(variant)
    needed = list(args.variants)
    needed += [base for v, base in EVAL_ONLY.items() if v in needed and base not in needed]
    runs, evals = [], []  # evaluation-only runs last: their dependencies are done by then
    for seed in args.seeds:
        base = common_options(data_root, seed, args.iters) + TEST_SPLIT + args.cfg_options
        trained = {}
        if any(v in EVAL_ONLY for v in needed):
            out = osp.join(work_dir, f'seed{seed}', 'multimae')
            epochs = args.pretrain_epochs
            options = [f'data_root={data_root}', f'randomness.seed={seed}',
                       f'train_cfg.max_epochs={epochs}',
                       f'default_hooks.checkpoint.interval={epochs}'] + args.pretrain_options
            cfg = compose_config(MULTIMAE_CONFIG, args.multimae_preset or None, options)
            trained['multimae'] = Run('pretrain', 'multimae', seed, out, cfg,
                                      args.multimae_preset, osp.join(out, 'train',
                                                                     f'epoch_{epochs}.pth'))
        for variant in (v for v in needed if v not in EVAL_ONLY):
            out = variant_dir(work_dir, variant, seed)
            cfg = compose_config(variant_config(variant), args.preset or None, base)
            trained[variant] = Run('train', variant, seed, out, cfg, args.preset,
                                   osp.join(out, 'train', f'iter_{args.iters}.pth'))
        runs += trained.values()
        for variant in (v for v in needed if v in EVAL_ONLY):
            segmenter, generator = trained[EVAL_ONLY[variant]], trained['multimae']
            # generator=None: built from the config stored in its checkpoint (any preset)
            options = base + ['model.backbone.generator=None',
                              f'model.backbone.generator_checkpoint={generator.checkpoint}']
            cfg = compose_config(variant_config(variant), args.preset or None, options)
            evals.append(Run('eval', variant, seed, variant_dir(work_dir, variant, seed), cfg,
                             args.preset, segmenter.checkpoint, [segmenter, generator]))
            segmenter.needed_by.append(evals[-1])
            generator.needed_by.append(evals[-1])
    return [publish_to(args, work_dir, run) for run in runs + evals]


def print_plan(runs: List[Run], jobs: int) -> None:
    print(f'{len(runs)} runs, {jobs} at a time; each line: tools run as `python <tool> ...`')
    for run in runs:
        needs = f' (after {", ".join(r.variant for r in run.needs)})' if run.needs else ''
        done = ' -- published, restored without training' if run.restorable() else ''
        print(f'\n[{run.name}] {run.kind}{needs}: {describe(run.cfg)}{done}')
        for command in run.commands():
            print(f'  {command}')


def summarise(work_dir: str, variants: List[str], seeds: List[int], metric: str,
              split: str = 'test'):
    """The multi-seed table (``robustness[_val].*``) from the runs' ``subset_eval.csv``."""
    from incomplete_fusion.evaluation import SeedStatistics
    names, results = None, {}
    for variant in variants:
        for seed in seeds:
            names, rows = read_subset_csv(
                subset_csv(variant_dir(work_dir, variant, seed), split), metric)
            results.setdefault(variant, {})[seed] = dict(rows)
    stats = SeedStatistics(names, results)
    stats.save(work_dir, 'robustness' + ('' if split == 'test' else f'_{split}'),
               title=f'{metric} ({split} tiles), {len(seeds)} seed(s)')
    return stats


def main(argv=None) -> None:
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
    runs = plan(args, work_dir, data_root)
    if args.dry_run:
        print(f'preset: {args.preset or "none"}; data: {args.num_train} train + {args.num_val} '
              f'val + {args.num_test} test generated DFC2023 tiles of {args.tile_size} px '
              f'(seed {args.data_seed}) in {data_root}')
        if args.results_dir:
            print(f'published results: {osp.join(args.results_dir, study_id(args))}')
        print_plan(runs, args.jobs)
        return
    eu.make_dfc2023_data(data_root, args.num_train, args.num_val, args.tile_size,
                         args.data_seed, args.num_test)
    start = time.perf_counter()
    failed = execute(runs, args.jobs, work_dir)
    failure = RuntimeError('failed runs (rerun the command to resume):\n' + '\n'.join(
        f'  {name}: {why}' for name, why in failed.items()))
    # the summary covers the variants whose runs all finished (and none failed)
    done = [v for v in args.variants if all(
        f'seed {s} {v}' not in failed and osp.exists(subset_csv(variant_dir(work_dir, v, s)))
        for s in args.seeds)]
    if not done:
        raise failure
    summarise(work_dir, done, args.seeds, args.metric, 'val')
    stats = summarise(work_dir, done, args.seeds, args.metric)
    print(f'\n{args.metric}, mean ± std over seeds {args.seeds}, per modality subset (rows) '
          f'and variant (columns); study took {(time.perf_counter() - start) / 60:.1f} min:\n')
    print(stats.to_markdown())
    print(f'written: {osp.join(work_dir, "robustness.md")}, .csv, _seeds.csv, .png, '
          f'_heatmap.png (and robustness_val.*: the validation tiles)')
    if failed:
        raise failure


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
