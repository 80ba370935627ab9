"""Train a model from a config, like mmdet's / mmseg's ``tools/train.py``.

Works for mmdet-, mmseg- and mmpretrain-scoped configs (the runner picks the
scope from ``default_scope``). The stock tools of those packages run this
package's configs just as well (the loops named in the config apply
``--cfg-options modalities=[...]``); this one adds:
- the active modalities are printed at start;
- on a machine without GPU, ``--launcher pytorch`` runs on gloo.
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
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='enable automatically scaling LR')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from the given checkpoint; without a path, from the latest '
        'checkpoint in the work dir')
    parser.add_argument(
        '--preset', nargs='+', default=[], metavar='FILE',
        help='partial config files merged on top of the config in order, before '
        '--cfg-options (e.g. configs/demo/cpu_preset.py: train on 2 CPU cores)')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings in the config, key=value pairs, e.g. '
        'modalities=[sar,dsm] train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def main(argv=None):
    args = parse_args(argv)
    cache_config_formatting()
    cfg = load_config(args.config, args.cfg_options, args.preset)
    cfg.launcher = args.launcher

    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])

    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper == 'AmpOptimWrapper':
            print('AMP training is already enabled in your config.')
        else:
            assert optim_wrapper == 'OptimWrapper', (
                '`--amp` is only supported when the optimizer wrapper type is '
                f'`OptimWrapper` but got {optim_wrapper}.')
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'

    if args.auto_scale_lr:
        if 'auto_scale_lr' in cfg and 'enable' in cfg.auto_scale_lr \
                and 'base_batch_size' in cfg.auto_scale_lr:
            cfg.auto_scale_lr.enable = True
        else:
            raise RuntimeError('cannot find "auto_scale_lr" or "auto_scale_lr.enable" or '
                               '"auto_scale_lr.base_batch_size" in your config')

    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume

    prepare_cpu_distributed(cfg, args.launcher)
    if is_main_process() and 'modality_specs' in cfg:
        print(modality_set_of(cfg).describe(), flush=True)
    runner = build_runner(cfg)
    runner.train()


if __name__ == '__main__':
    main()
