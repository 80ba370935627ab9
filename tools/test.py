"""Test a checkpoint, like mmdet's / mmseg's ``tools/test.py``.

``--cfg-options modalities=[sar,dsm]`` evaluates with only those modalities
(the others are all-NaN and their files are never read); ``--all-subsets``
evaluates every non-empty modality subset with the model loaded once and
writes ``subset_eval.{md,csv,png}`` to the work dir: it selects the registered
``SubsetTestLoop``, so with a stock test tool
``--cfg-options test_cfg.type=SubsetTestLoop`` does the same.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

import incomplete_fusion  # noqa: E402,F401  (registers components, applies compat shims)
from mmengine.config import DictAction  # noqa: E402
from mmengine.dist import is_main_process  # noqa: E402

from incomplete_fusion.binding import modality_set_of  # noqa: E402
from incomplete_fusion.utils import (  # noqa: E402
    build_runner, cache_config_formatting, load_config, prepare_cpu_distributed)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and evaluate) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir',
                        help='the directory to save the file containing evaluation metrics')
    parser.add_argument('--out', type=str,
                        help='dump predictions to a pickle file for offline evaluation')
    parser.add_argument('--show', action='store_true', help='show prediction results')
    parser.add_argument('--show-dir', help='directory where painted images will be saved (relative '
                        'to the timestamped log dir)')
    parser.add_argument('--wait-time', type=float, default=2, help='the interval of show (s)')
    parser.add_argument('--all-subsets', action='store_true',
                        help='evaluate every non-empty subset of the active modalities and write '
                        'subset_eval.{md,csv,png} to the work dir')
    parser.add_argument(
        '--preset', nargs='+', default=[], metavar='FILE',
        help='partial config files merged on top of the config in order, before '
        '--cfg-options (the presets the model was trained with)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs, e.g. modalities=[sar,dsm]')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def enable_visualization(cfg, args) -> None:
    """Turn on the stock ``DetVisualizationHook`` / ``SegVisualizationHook``."""
    hook = cfg.default_hooks.get('visualization', None)
    if hook is None:
        raise RuntimeError('--show/--show-dir needs default_hooks.visualization in the config')
    hook['draw'] = True
    if args.show:
        hook['show'] = True
        hook['wait_time'] = args.wait_time
    if args.show_dir:
        hook['test_out_dir'] = args.show_dir
    if hook.get('type', '').endswith('DetVisualizationHook'):
        hook.setdefault('interval', 1)


def main(argv=None):
    args = parse_args(argv)
    cache_config_formatting()
    cfg = load_config(args.config, args.cfg_options, args.preset)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        enable_visualization(cfg, args)
    if args.out is not None:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError('--out must be a .pkl file')
        cfg.test_evaluator = [cfg.test_evaluator] if isinstance(cfg.test_evaluator, dict) \
            else list(cfg.test_evaluator)
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))

    prepare_cpu_distributed(cfg, args.launcher)
    if is_main_process() and 'modality_specs' in cfg:
        print(modality_set_of(cfg).describe(), flush=True)
    if args.all_subsets:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, type='SubsetTestLoop')
    runner = build_runner(cfg)
    runner.test()


if __name__ == '__main__':
    main()
