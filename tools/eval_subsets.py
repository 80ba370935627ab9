"""Evaluate a checkpoint on every non-empty modality subset (paper Tables I-IV).

An alias of ``tools/test.py CONFIG CKPT --all-subsets`` (the registered
``SubsetTestLoop``, which the stock mmdet/mmseg test tools reach with
``--cfg-options test_cfg.type=SubsetTestLoop``) that also takes ``--subsets`` and
``--metrics``; from Python: ``incomplete_fusion.evaluation.evaluate_subsets``.
Writes ``subset_eval.{md,csv,png}`` to the work dir.

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
    cache_config_formatting, load_config, prepare_cpu_distributed)


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
    prepare_cpu_distributed(cfg, args.launcher)
    subsets = [s.split(',') for s in args.subsets] if args.subsets else None
    table = evaluate_subsets(cfg, args.checkpoint, work_dir=args.work_dir, subsets=subsets,
                             metric_keys=args.metrics, launcher=args.launcher)
    print(table.to_markdown())


if __name__ == '__main__':
    main()
