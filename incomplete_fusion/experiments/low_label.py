"""Low-label fine-tuning: learning curves per modality subset, MultiMAE vs scratch,
over training seeds.

For each training seed, labelled fraction of the training tiles (a stratified
:class:`~incomplete_fusion.datasets.label_subset.LabelledSubset`; the same tiles for
every seed and init) and initialisation, one training run, evaluated on every modality
subset on the test tiles (the table) and the validation tiles (choices):

- ``scratch``: ``config`` (the semantic FusionViT config) from a random init;
- ``multimae``: ``finetune_config`` (the backbone and fusion tokens at 0.1x the learning
  rate, the paper's recipe) from the backbone of a MultiMAE pretraining of the same
  seed on the same data (or of a given checkpoint).

The runs are the robustness study's :class:`Run` s: resumed, published to and restored
from a results folder. The command line: ``tools/low_label_study.py``; docs/results.md,
"Low-label fine-tuning".
"""
import csv
import math
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .compose import REPO, common_options, compose_config
from .data import make_dfc2023_data
from .multimae import MULTIMAE_PRESET, multimae_run
from .robustness import TEST_SPLIT, print_plan, publish_to
from .runs import Run, config_digest, execute, read_subset_csv, subset_csv
from .seed_statistics import SeedStatistics

INITS = ('scratch', 'multimae')
CONFIGS = osp.join(REPO, 'configs', 'fusionvit')
DEFAULT_CONFIG = osp.join(CONFIGS, 'mask2former_dfc2023_semantic.py')
FINETUNE_CONFIG = osp.join(CONFIGS, 'mask2former_dfc2023_semantic_finetune.py')


@dataclass
class LowLabelSettings:
    """What the low-label study trains and on which data (the defaults: the CPU study)."""

    config: str = DEFAULT_CONFIG  # scratch
    finetune_config: str = FINETUNE_CONFIG  # multimae
    preset: Optional[str] = osp.join(REPO, 'configs', 'demo', 'cpu_preset.py')
    multimae_preset: Optional[str] = MULTIMAE_PRESET
    pretrain_epochs: int = 60
    pretrained: Optional[str] = None  # a checkpoint for every seed instead of pretraining
    fractions: List[float] = field(default_factory=lambda: [0.1, 0.25, 1.0])
    inits: List[str] = field(default_factory=lambda: list(INITS))
    seeds: List[int] = field(default_factory=lambda: [0, 1])
    iters: int = 400
    subset_seed: int = 0
    stratify: bool = True
    data_root: Optional[str] = None  # None: generate DFC2023-style data in the work dir
    num_train: int = 96
    num_val: int = 16
    num_test: int = 32
    tile_size: int = 128
    data_seed: int = 0
    cfg_options: List[str] = field(default_factory=list)
    pretrain_options: List[str] = field(default_factory=list)
    results_dir: Optional[str] = osp.join(REPO, 'docs', 'results', 'low_label')


def run_name(init: str, fraction: float) -> str:
    """The run's folder (and published record) name."""
    return f'{init}_f{fraction:g}'


def variant_name(init: str, fraction: float) -> str:
    """The run's variant: its name in the plan and its key in the seeds' statistics."""
    return f'{init} {fraction:g}'


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


def plan(settings: LowLabelSettings, work_dir: str, data_root: str) -> List[Run]:
    """Every run: the pretrainings first (they run in parallel with ``jobs`` > 1),
    then the scratch runs, then the runs that start from a pretraining."""
    from incomplete_fusion.datasets.label_subset import wrap_train_dataset
    splits = [] if settings.data_root else TEST_SPLIT
    given_data = {'data': {'data_root': data_root}} if settings.data_root else {}
    pretrainings, runs = [], []
    for seed in settings.seeds:
        base = common_options(data_root, seed, settings.iters) + splits + settings.cfg_options
        pretrain = None
        if 'multimae' in settings.inits and not settings.pretrained:
            pretrain = multimae_run(osp.join(work_dir, f'seed{seed}', 'multimae'), data_root,
                                    seed, settings.pretrain_epochs, settings.multimae_preset,
                                    settings.pretrain_options)
            pretrainings.append(pretrain)
        for init in settings.inits:
            for fraction in settings.fractions:
                options, needs, config = list(base), [], settings.config
                record = dict(given_data)
                if init == 'multimae':
                    config = settings.finetune_config
                    checkpoint = osp.abspath(settings.pretrained or pretrain.checkpoint)
                    options.append(f'model.backbone.init_cfg.checkpoint={checkpoint}')
                    if pretrain:
                        needs = [pretrain]
                        record['pretrain_sha256'] = config_digest(pretrain.cfg, work_dir)
                cfg = compose_config(config, settings.preset or None, options)
                wrap_train_dataset(cfg, fraction=fraction, seed=settings.subset_seed,
                                   stratify=settings.stratify)
                out = osp.join(work_dir, f'seed{seed}', run_name(init, fraction))
                run = publish_to(settings, work_dir, Run(
                    'train', variant_name(init, fraction), seed, out, cfg, settings.preset,
                    osp.join(out, 'train', f'iter_{settings.iters}.pth'), needs), **record)
                for dependency in needs:
                    dependency.needed_by.append(run)
                runs.append(run)
    return pretrainings + sorted(runs, key=lambda run: bool(run.needs))


def summarise(work_dir: str, settings: LowLabelSettings, metric: str,
              split: str = 'test') -> Tuple[SeedStatistics, List[Tuple[str, float]]]:
    """The seeds' statistics of every (init, fraction) (its variant name: ``"<init>
    <fraction>"``) and the (init, fraction) of each."""
    results, names, keys = {}, None, []
    for init in settings.inits:
        for fraction in settings.fractions:
            keys.append((init, fraction))
            for seed in settings.seeds:
                path = subset_csv(osp.join(work_dir, f'seed{seed}', run_name(init, fraction)),
                                  split)
                names, rows = read_subset_csv(path, metric)
                results.setdefault(variant_name(init, fraction), {})[seed] = dict(rows)
    return SeedStatistics(names, results), keys


def to_markdown(stats: SeedStatistics, keys: List[Tuple[str, float]]) -> str:
    """Rows (init, fraction); columns the subsets, their mean and the worst subset,
    each as mean ± std over the seeds."""
    rows = list(stats.subsets) + ['mean', 'worst']
    header = ['init', 'fraction'] + [stats.row_label(r) for r in rows]
    lines = ['| ' + ' | '.join(header) + ' |',
             '|' + '|'.join([':--', '--:'] + ['--:'] * len(rows)) + '|']
    for init, fraction in keys:
        variant = variant_name(init, fraction)
        cells = [stats.stat(variant, row).format('{:.1f}') for row in rows]
        lines.append('| ' + ' | '.join([init, f'{fraction:g}'] + cells) + ' |')
    return '\n'.join(lines) + '\n'


def write_csv(path: str, stats: SeedStatistics, keys: List[Tuple[str, float]]) -> None:
    """One row per (init, fraction, seed): every subset, the mean and the worst subset."""
    rows = list(stats.subsets) + ['mean', 'worst']
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(['init', 'fraction', 'seed'] + [stats.row_label(r) for r in rows])
        for init, fraction in keys:
            per_row = [stats.per_seed(variant_name(init, fraction), row) for row in rows]
            for i, seed in enumerate(stats.seeds):
                writer.writerow([init, fraction, seed] + [values[i] for values in per_row])


def plot(path: str, stats: SeedStatistics, keys: List[Tuple[str, float]], metric: str) -> None:
    """One panel per subset (and the mean): the metric against the labelled fraction,
    a line per init, error bars one std over the seeds."""
    from matplotlib.figure import Figure  # no pyplot: headless, no global state
    rows = list(stats.subsets) + ['mean']
    cols, nrows = 4, -(-len(rows) // 4)
    fig = Figure(figsize=(3.2 * cols, 2.6 * nrows))
    axes = fig.subplots(nrows, cols, squeeze=False, sharey=True).ravel()
    fractions = sorted({f for _, f in keys})
    for ax, row in zip(axes, rows):
        for init in dict.fromkeys(i for i, _ in keys):
            points = [stats.stat(variant_name(init, f), row) for f in fractions]
            ax.errorbar(fractions, [p.mean for p in points],
                        yerr=[0 if math.isnan(p.std) else p.std for p in points],
                        marker='o', capsize=3, label=init)
        ax.set_xscale('log')
        ax.minorticks_off()
        ax.set_xticks(fractions, [f'{f:g}' for f in fractions], fontsize=7)
        ax.set_title(stats.row_label(row) if row != 'mean' else 'mean over subsets',
                     fontsize=9)
        ax.set_xlabel('labelled fraction', fontsize=8)
    for ax in axes[len(rows):]:
        ax.set_visible(False)
    axes[0].set_ylabel(metric)
    axes[0].legend(fontsize=8)
    fig.suptitle(f'{metric} per modality subset vs labelled fraction, '
                 f'{len(stats.seeds)} seed(s)')
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def run_low_label(settings: LowLabelSettings, work_dir: str, metric: str = 'IoU.building',
                  jobs: int = 1, dry_run: bool = False) -> Tuple[Optional[str], Dict[str, str]]:
    """Train and evaluate (or restore) every run, write ``low_label.{md,csv,png}``
    (test tiles) and ``low_label_val.{md,csv}``. Returns the test table (None if a
    run failed or on a dry run) and the failed runs with why."""
    work_dir = osp.abspath(work_dir)
    data_root = (osp.abspath(settings.data_root) + '/' if settings.data_root
                 else osp.join(work_dir, 'data', 'dfc2023') + '/')
    runs = plan(settings, work_dir, data_root)
    if dry_run:
        print_plan(runs, jobs)
        return None, {}
    if settings.pretrained and 'multimae' in settings.inits:
        check_pretrained(settings.pretrained)
    if not settings.data_root:
        make_dfc2023_data(data_root, settings.num_train, settings.num_val, settings.tile_size,
                          settings.data_seed, settings.num_test)
    failed = execute(runs, jobs, work_dir)
    if failed:
        return None, failed
    tables = {}
    for split, stem in (('test', 'low_label'), ('val', 'low_label_val')):
        stats, keys = summarise(work_dir, settings, metric, split)
        tables[split] = to_markdown(stats, keys)
        with open(osp.join(work_dir, stem + '.md'), 'w') as f:
            f.write(tables[split])
        write_csv(osp.join(work_dir, stem + '.csv'), stats, keys)
        if split == 'test':
            plot(osp.join(work_dir, stem + '.png'), stats, keys, metric)
    return tables['test'], failed
