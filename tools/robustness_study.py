"""The paper's robustness comparison on generated data, one command.

FusionViT trained with random modality combinations against the MultiViT
baseline and the three ablations (w/o masked attention, w/o random modality
combination, w/o modality attention), each trained with the same data, budget
(preset + iterations) and seed, then evaluated on every modality subset:

    python tools/robustness_study.py --work-dir work_dirs/robustness

Writes ``<work_dir>/<variant>/`` (the composed config, training logs, checkpoint,
subset_eval.{md,csv,png}) and the comparison ``robustness.{md,csv,png}``: rows
are modality subsets, columns the variants, cells the chosen metric.
"""
import argparse
import csv
import os
import os.path as osp
import sys

TOOLS = osp.dirname(osp.abspath(__file__))
sys.path[:0] = [osp.dirname(TOOLS), TOOLS]  # run from a checkout

from experiment_utils import (REPO, common_options, compose_config,  # noqa: E402
                              evaluate_subsets, make_dfc2023_data, train, write_config)

CONFIGS = osp.join(REPO, 'configs', 'fusionvit')
VARIANTS = {
    'FusionViT': 'mask2former_dfc2023_semantic.py',
    'MultiViT': 'multivit_dfc2023_semantic.py',
    'w/o mask': 'mask2former_dfc2023_semantic_wo-mask.py',
    'w/o random': 'mask2former_dfc2023_semantic_wo-random.py',
    'w/o modality attn': 'mask2former_dfc2023_semantic_wo-modality-attn.py',
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/robustness')
    parser.add_argument('--variants', nargs='+', default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument('--preset', default=osp.join(REPO, 'configs', 'demo', 'cpu_preset.py'),
                        help='partial config merged on top of every variant (empty: none)')
    parser.add_argument('--iters', type=int, default=None, help='training iterations per variant')
    parser.add_argument('--metric', default='IoU.building', help='metric shown in the comparison')
    parser.add_argument('--num-train', type=int, default=96)
    parser.add_argument('--num-val', type=int, default=16)
    parser.add_argument('--tile-size', type=int, default=128)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides applied to every variant')
    return parser.parse_args(argv)


def variant_dir(work_dir: str, variant: str) -> str:
    return osp.join(work_dir, variant.replace('/', '').replace(' ', '_').replace('__', '_'))


def read_subset_csv(path: str, metric: str):
    """Modality names and ``[(subset, value)]`` from a ``subset_eval.csv``.

    Its columns are ``subset``, one 0/1 column per modality, then the metrics.
    """
    with open(path) as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    names = header[1:header.index(metric)] if metric in header else None
    if names is None:
        raise KeyError(f'{path} has no column {metric!r}; columns: {header}')
    names = [n for n in names if all(row[n] in ('0', '1') for row in rows)]
    return names, [(tuple(n for n in names if row[n] == '1'), float(row[metric])) for row in rows]


def compare(work_dir: str, variants, metric: str):
    from incomplete_fusion.evaluation.subset_table import SubsetTable
    table = None
    for variant in variants:
        names, rows = read_subset_csv(
            osp.join(variant_dir(work_dir, variant), 'subset_eval.csv'), metric)
        if table is None:
            table = SubsetTable(modalities=tuple(names), metric_keys=list(variants))
            table.rows = [(subset, {}) for subset, _ in rows]
        for (subset, value), (table_subset, values) in zip(rows, table.rows):
            assert subset == table_subset, 'variants were evaluated on different subsets'
            values[variant] = value
    table.save(work_dir, stem='robustness', title=f'{metric} per modality subset and variant',
               shared_scale=True)  # one metric: one colour scale across variants
    return table


def main(argv=None) -> None:
    args = parse_args(argv)
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
    make_dfc2023_data(data_root, args.num_train, args.num_val, args.tile_size, args.seed)
    options = common_options(data_root, args.seed, args.iters) + args.cfg_options
    for variant in args.variants:
        out = variant_dir(work_dir, variant)
        if osp.exists(osp.join(out, 'subset_eval.csv')):
            print(f'{variant}: reusing {out}')
            continue
        cfg = compose_config(osp.join(CONFIGS, VARIANTS[variant]), args.preset or None, options)
        config_path = write_config(cfg, out, args.preset)
        checkpoint = train(config_path, osp.join(out, 'train'))
        evaluate_subsets(config_path, checkpoint, out)
    table = compare(work_dir, args.variants, args.metric)
    print(f'\n{args.metric} per modality subset (rows) and variant (columns):\n')
    print(table.to_markdown())
    print(f'written: {osp.join(work_dir, "robustness.md")}, .csv, .png')


if __name__ == '__main__':
    os.environ.setdefault('PYTHONUNBUFFERED', '1')
    main()
