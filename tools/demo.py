"""The README's main job, end to end, on a small generated DFC2023-style dataset.

    python tools/demo.py --work-dir work_dirs/demo

1. generates the synthetic dataset (``tools/make_synthetic_data.py``'s generator),
2. trains FusionViT + Mask2Former with random modality combinations
   (``tools/train.py``, config ``configs/demo/fusionvit_demo_dfc2023.py``),
3. evaluates every non-empty modality subset once (``tools/eval_subsets.py``) and
   prints the table,
4. draws a qualitative panel (modalities, ground truth, prediction per subset),
5. generates a larger synthetic scene whose modalities lie on different grids and
   predicts it into a GeoTIFF with ``tools/infer.py``.

Every step is one of the project's own tools run as a user would run it, so the
demo proves the same commands that the README documents. Results land in the work
dir: ``subset_eval.{md,csv,png}``, ``qualitative.png``, ``scene/`` (inputs) and
``scene_prediction.tif``.
"""
import argparse
import os
import os.path as osp
import subprocess
import sys
import time
from typing import List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)  # run from a checkout

DEFAULT_CONFIG = osp.join(REPO, 'configs', 'demo', 'fusionvit_demo_dfc2023.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (default: the config\'s max_iters)')
    parser.add_argument('--num-train', type=int, default=48, help='generated training tiles')
    parser.add_argument('--num-val', type=int, default=12, help='generated validation tiles')
    parser.add_argument('--tile-size', type=int, default=128, help='generated tile size (px)')
    parser.add_argument('--scene-size', type=int, default=512, help='generated scene size (px)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides passed to every tool')
    return parser.parse_args(argv)


def run_tool(script: str, *args: str) -> None:
    """Run one of tools/*.py in a fresh interpreter, as a user would."""
    command = [sys.executable, osp.join(REPO, 'tools', script), *args]
    print(f'\n$ {" ".join(command)}', flush=True)
    subprocess.run(command, check=True, cwd=REPO)


def make_data(data_root: str, args) -> None:
    from incomplete_fusion.datasets.synthetic import make_dfc2023
    if osp.isdir(data_root):
        print(f'reusing the generated dataset in {data_root}')
        return
    print(f'generating {args.num_train}+{args.num_val} synthetic DFC2023 tiles of '
          f'{args.tile_size} px in {data_root}', flush=True)
    make_dfc2023(data_root, num_train=args.num_train, num_val=args.num_val,
                 size=args.tile_size, seed=args.seed, cloud_holes=0.2)


def draw_panel(config: str, checkpoint: str, options: List[str], out_file: str) -> None:
    from mmengine.config import DictAction
    from mmengine.registry import DATASETS, init_default_scope
    from mmengine.runner import load_checkpoint

    from incomplete_fusion.utils import load_config
    from incomplete_fusion.visualization import subset_prediction_panel

    parser = argparse.ArgumentParser()
    parser.add_argument('--o', nargs='+', action=DictAction, default={})
    cfg = load_config(config, parser.parse_args(['--o', *options]).o if options else None)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    from mmengine.registry import MODELS
    model = MODELS.build(cfg.model)
    load_checkpoint(model, checkpoint, map_location='cpu')
    model.eval()
    dataset = DATASETS.build(cfg.test_dataloader.dataset)
    names = [s['name'] for s in cfg.modality_specs]
    subsets = [names] + [[n] for n in names]
    subset_prediction_panel(model, dataset, cfg.modality_specs, out_file,
                            indices=range(min(2, len(dataset))), subsets=subsets)
    print(f'qualitative panel: {out_file}')


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    work_dir = osp.abspath(args.work_dir)
    os.makedirs(work_dir, exist_ok=True)
    data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
    make_data(data_root, args)

    options = [f'data_root={data_root}', *args.cfg_options]
    train_options = list(options)
    if args.iters is not None:
        train_options += [f'train_cfg.max_iters={args.iters}', f'train_cfg.val_interval={args.iters}',
                          f'default_hooks.checkpoint.interval={args.iters}']
    train_dir = osp.join(work_dir, 'train')
    run_tool('train.py', args.config, '--work-dir', train_dir, '--cfg-options', *train_options)
    checkpoint = osp.join(train_dir, open(osp.join(train_dir, 'last_checkpoint')).read().strip())

    run_tool('eval_subsets.py', args.config, checkpoint, '--work-dir', work_dir,
             '--cfg-options', *options)
    draw_panel(args.config, checkpoint, options, osp.join(work_dir, 'qualitative.png'))

    from incomplete_fusion.datasets.synthetic import make_scene
    scene = make_scene(osp.join(work_dir, 'scene'), layout='dfc2023', size=args.scene_size,
                       seed=args.seed + 1)
    inputs = [f'--input={name}={scene[name]}' for name in ('rgb', 'sar', 'dsm')]
    run_tool('infer.py', args.config, checkpoint, *inputs,
             '--out', osp.join(work_dir, 'scene_prediction.tif'), '--cfg-options', *options)

    print(f'\ndemo finished in {(time.perf_counter() - start) / 60:.1f} min; results in {work_dir}:')
    for name in sorted(os.listdir(work_dir)):
        print(f'  {name}')
    with open(osp.join(work_dir, 'subset_eval.md')) as f:
        print('\n' + f.read())


if __name__ == '__main__':
    main()
