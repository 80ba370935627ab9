"""Evaluate a checkpoint on every non-empty modality subset (paper Tables I-IV).

The model is loaded once; each subset re-runs the test loop with the other
modalities all-NaN (exactly as ``tools/test.py --cfg-options modalities=[...]``).
Writes ``subset_eval.md``, ``subset_eval.csv`` (rows = subsets, columns = a
check mark per modality + metrics) and ``subset_eval.png`` (heatmap) to the work
dir. From Python: ``incomplete_fusion.evaluation.evaluate_subsets``.

    python tools/eval_subsets.py configs/fusionvit/mask2former_dfc2023.py CKPT
    python tools/eval_subsets.py CONFIG CKPT --subsets rgb sar,dsm --metrics coco/segm_mAP_50
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

import incomplete_fusion  # noqa: E402,F401
from mmengine.config import DictAction  # noqa: E402

from incomplete_fusion.evaluation import evaluate_subsets  # noqa: E402
from incomplete_fusion.utils import (  # noqa: E402
    cache_config_formatting, ensure_synthetic_data, load_config, prepare_cpu_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate every modality subset')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--work-dir', help='where logs and subset_eval.{md,csv,png} go')
    parser.add_argument('--subsets', nargs='+',
                        help='subsets to evaluate, each comma-separated (default: all non-empty '
                        'subsets of the active modalities)')
    parser.add_argument('--metrics', nargs='+', help='metric columns (default: config '
                        '`subset_metrics`, else every numeric metric)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value pairs')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cache_config_formatting()
    cfg = load_config(args.config, args.cfg_options)
    work_dir = args.work_dir or cfg.get('work_dir') or osp.join(
        './work_dirs', osp.splitext(osp.basename(args.config))[0])
    prepare_cpu_distributed(cfg, args.launcher)
    ensure_synthetic_data(cfg)
    subsets = [s.split(',') for s in args.subsets] if args.subsets else None
    table = evaluate_subsets(cfg, args.checkpoint, work_dir=work_dir, subsets=subsets,
                             metric_keys=args.metrics, launcher=args.launcher)
    print(table.to_markdown())


if __name__ == '__main__':
    main()
