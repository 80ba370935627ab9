"""The robustness study: every missing-modality strategy (``VARIANTS``), several
training seeds, one dataset per data seed, each run evaluated on every modality subset
on the test tiles (the table) and the validation tiles (choices); the multi-seed
summary (:class:`SeedStatistics`). Runs are published to and restored from a results
folder (:class:`Published`). The command line: ``tools/robustness_study.py``;
docs/results.md, "Robustness study".
"""
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .compose import REPO, common_options, compose_config, describe
from .data import make_dfc2023_data
from .multimae import MULTIMAE_PRESET, multimae_run
from .runs import Published, Run, config_digest, execute, read_subset_csv, subset_csv
from .seed_statistics import SeedStatistics

CONFIGS = osp.join(REPO, 'configs', 'fusionvit')
VARIANTS = {
    'FusionViT': 'mask2former_dfc2023_semantic.py',
    'FusionViT paper init': 'mask2former_dfc2023_semantic_paper-init.py',
    'w/o mask': 'mask2former_dfc2023_semantic_wo-mask.py',
    'w/o random': 'mask2former_dfc2023_semantic_wo-random.py',
    'w/o modality attn': 'mask2former_dfc2023_semantic_wo-modality-attn.py',
    'MultiViT': 'multivit_dfc2023_semantic.py',
    'PerceiverIO': 'perceiverio_dfc2023_semantic.py',
    'self-distillation': 'mask2former_dfc2023_semantic_distill.py',
    'fill-in': 'mask2former_dfc2023_semantic_fillin.py',
}
EVAL_ONLY = {'fill-in': 'w/o random'}  # variant -> the variant whose checkpoint it evaluates
DEMO = osp.join(REPO, 'configs', 'demo')
# the test split: the last num_test generated validation tiles (data.make_dfc2023_data)
TEST_SPLIT = ['test_dataloader.dataset.ann_file=annotations/buildings_only_test.json',
              'test_dataloader.dataset.data_prefix.img_path=val/']
VAL_SPLIT = ['test_dataloader.dataset.ann_file=annotations/buildings_only_val.json']


@dataclass
class StudySettings:
    """What a study trains and on which data (the defaults: the CPU study)."""

    variants: List[str] = field(default_factory=lambda: list(VARIANTS))
    seeds: List[int] = field(default_factory=lambda: [0, 1, 2])
    iters: int = 400
    preset: Optional[str] = osp.join(DEMO, 'cpu_preset.py')
    multimae_preset: Optional[str] = MULTIMAE_PRESET
    pretrain_epochs: int = 20
    num_train: int = 96
    num_val: int = 16
    num_test: int = 32
    tile_size: int = 128
    data_seed: int = 0
    cfg_options: List[str] = field(default_factory=list)
    pretrain_options: List[str] = field(default_factory=list)
    results_dir: Optional[str] = osp.join(REPO, 'docs', 'results', 'study')


def variant_dir(work_dir: str, variant: str, seed: int) -> str:
    name = variant.replace('/', '').replace('+', '').replace(' ', '_').replace('__', '_')
    return osp.join(work_dir, f'seed{seed}', name)


def variant_config(variant: str) -> str:
    """The variant's config root; a clear error while it does not exist yet."""
    path = osp.join(CONFIGS, VARIANTS[variant])
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'variant {variant!r} needs the config {path}, which does not exist (yet); '
            f'leave the variant out or add the config')
    return path


def study_id(settings: StudySettings) -> str:
    """The results folder of a preset, budget and dataset, e.g. ``cpu_preset_400it_data0``."""
    preset = settings.preset and osp.splitext(osp.basename(settings.preset))[0]
    return f'{preset or "no-preset"}_{settings.iters}it_data{settings.data_seed}'


def data_settings(settings: StudySettings) -> dict:
    return {key: getattr(settings, key)
            for key in ('num_train', 'num_val', 'num_test', 'tile_size', 'data_seed')}


def publish_to(settings: StudySettings, work_dir: str, run: Run, **record) -> Run:
    """Give ``run`` its validation split and its published record under ``results_dir``
    (if any): config digest, data and budget, updated by ``record``."""
    if settings.results_dir and run.kind != 'pretrain':
        base = osp.join(settings.results_dir, study_id(settings), f'seed{run.seed}',
                        osp.basename(run.out))
        record = dict(dict(config_sha256=config_digest(run.cfg, work_dir),
                           data=data_settings(settings), iters=settings.iters), **record)
        run.published = Published(osp.abspath(base), record)
    run.eval_options = {'val': VAL_SPLIT}
    return run


def plan(settings: StudySettings, work_dir: str, data_root: str) -> List[Run]:
    """Every run of the study, dependencies before the runs that need them."""
    for variant in settings.variants:
        variant_config(variant)
    needed = list(settings.variants)
    needed += [base for v, base in EVAL_ONLY.items() if v in needed and base not in needed]
    runs, evals = [], []  # evaluation-only runs last: their dependencies are done by then
    for seed in settings.seeds:
        base = (common_options(data_root, seed, settings.iters) + TEST_SPLIT
                + settings.cfg_options)
        trained = {}
        if any(v in EVAL_ONLY for v in needed):
            trained['multimae'] = multimae_run(
                osp.join(work_dir, f'seed{seed}', 'multimae'), data_root, seed,
                settings.pretrain_epochs, settings.multimae_preset, settings.pretrain_options)
        for variant in (v for v in needed if v not in EVAL_ONLY):
            out = variant_dir(work_dir, variant, seed)
            cfg = compose_config(variant_config(variant), settings.preset or None, base)
            trained[variant] = Run('train', variant, seed, out, cfg, settings.preset,
                                   osp.join(out, 'train', f'iter_{settings.iters}.pth'))
        runs += trained.values()
        for variant in (v for v in needed if v in EVAL_ONLY):
            segmenter, generator = trained[EVAL_ONLY[variant]], trained['multimae']
            # generator=None: built from the config stored in its checkpoint (any preset)
            options = base + ['model.backbone.generator=None',
                              f'model.backbone.generator_checkpoint={generator.checkpoint}']
            cfg = compose_config(variant_config(variant), settings.preset or None, options)
            evals.append(Run('eval', variant, seed, variant_dir(work_dir, variant, seed), cfg,
                             settings.preset, segmenter.checkpoint, [segmenter, generator]))
            segmenter.needed_by.append(evals[-1])
            generator.needed_by.append(evals[-1])
    return [publish_to(settings, work_dir, run) for run in runs + evals]


def print_plan(runs: List[Run], jobs: int) -> None:
    print(f'{len(runs)} runs, {jobs} at a time; each line: tools run as `python <tool> ...`')
    for run in runs:
        needs = f' (after {", ".join(r.variant for r in run.needs)})' if run.needs else ''
        done = ' -- published, restored without training' if run.restorable() else ''
        print(f'\n[{run.name}] {run.kind}{needs}: {describe(run.cfg)}{done}')
        for command in run.commands():
            print(f'  {command}')


def summarise(work_dir: str, variants: List[str], seeds: List[int], metric: str,
              split: str = 'test') -> SeedStatistics:
    """The multi-seed table (``robustness[_val].*``) from the runs' ``subset_eval.csv``."""
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


def run_study(settings: StudySettings, work_dir: str, jobs: int = 1,
              metric: str = 'IoU.building') -> Tuple[Optional[SeedStatistics], Dict[str, str]]:
    """Generate the data, run (or restore) every run, write the summaries of the
    variants whose runs all finished. Returns the test-tile summary (None if no variant
    finished) and the failed runs with why."""
    work_dir = osp.abspath(work_dir)
    data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
    runs = plan(settings, work_dir, data_root)
    make_dfc2023_data(data_root, settings.num_train, settings.num_val, settings.tile_size,
                      settings.data_seed, settings.num_test)
    failed = execute(runs, jobs, work_dir)
    done = [v for v in settings.variants if all(
        f'seed {s} {v}' not in failed and osp.exists(subset_csv(variant_dir(work_dir, v, s)))
        for s in settings.seeds)]
    if not done:
        return None, failed
    summarise(work_dir, done, settings.seeds, metric, 'val')
    return summarise(work_dir, done, settings.seeds, metric), failed
