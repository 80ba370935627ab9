"""The README's main job, end to end, on a small generated DFC2023-style dataset.

    python tools/demo.py --work-dir work_dirs/demo

1. generates the synthetic dataset (``incomplete_fusion.testing.generate``, the entry
   point of ``tools/make_synthetic_data.py``),
2. trains FusionViT + Mask2Former with random modality combinations
   (``tools/train.py``; config ``configs/fusionvit/mask2former_dfc2023_semantic.py``
   with the CPU preset ``configs/demo/cpu_preset.py`` merged on top, written to
   ``<work_dir>/mask2former_dfc2023_semantic_cpu_preset.py``),
3. evaluates every non-empty modality subset once (``tools/test.py --all-subsets``)
   and prints the table,
4. draws a qualitative panel (modalities, ground truth, prediction per subset),
5. generates a larger synthetic scene whose modalities lie on different grids and
   predicts it into a GeoTIFF with ``tools/infer.py``.

Every step is one of the project's own tools run as a user would run it, so the
demo proves the same commands that the README documents. Results land in the work
dir: that config, ``train/`` (logs, checkpoint), ``subset_eval.{md,csv,png}``,
``qualitative.png``, ``scene/`` (inputs) and ``scene_prediction.tif``.
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from incomplete_fusion.experiments import (REPO, common_options, compose_config,  # noqa: E402
                                           make_dfc2023_data, run_tool, test_all_subsets,
                                           train, write_config)

DEFAULT_CONFIG = osp.join(REPO, 'configs', 'fusionvit', 'mask2former_dfc2023_semantic.py')
DEFAULT_PRESET = osp.join(REPO, 'configs', 'demo', 'cpu_preset.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--config', default=DEFAULT_CONFIG)
    parser.add_argument('--preset', default=DEFAULT_PRESET,
                        help='partial config merged on top (empty string: none)')
    parser.add_argument('--iters', type=int, default=None,
                        help='training iterations (default: the preset\'s max_iters)')
    parser.add_argument('--num-train', type=int, default=96, help='generated training tiles')
    parser.add_argument('--num-val', type=int, default=16, help='generated validation tiles')
    parser.add_argument('--tile-size', type=int, default=128, help='generated tile size (px)')
    parser.add_argument('--scene-size', type=int, default=512, help='generated scene size (px)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        help='extra key=value overrides, as for tools/train.py')
    return parser.parse_args(argv)


def draw_panel(config_path: str, checkpoint: str, out_file: str) -> None:
    from mmengine.registry import DATASETS, init_default_scope

    from incomplete_fusion.apis import init_model
    from incomplete_fusion.engine.data_root import rebase_data_root, stale_data_root
    from incomplete_fusion.visualization import subset_prediction_panel

    model = init_model(config_path, checkpoint)
    cfg = model.cfg
    init_default_scope(cfg.default_scope)  # the dataset's pipeline resolves names there
    # outside a Runner, do what the loops do: the run's data_root (the panel binds)
    dataset = DATASETS.build(rebase_data_root(cfg.test_dataloader, stale_data_root(cfg))['dataset'])
    names = [s['name'] for s in cfg.modality_specs]
    subset_prediction_panel(model, dataset, cfg.modality_specs, out_file,
                            indices=range(min(2, len(dataset))),
                            subsets=[names] + [[n] for n in names])
    print(f'qualitative panel: {out_file}')


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    work_dir = osp.abspath(args.work_dir)
    data_root = osp.join(work_dir, 'data', 'dfc2023') + '/'
    os.makedirs(work_dir, exist_ok=True)
    make_dfc2023_data(data_root, args.num_train, args.num_val, args.tile_size, args.seed)
    options = common_options(data_root, args.seed, args.iters) + args.cfg_options
    cfg = compose_config(args.config, args.preset or None, options)
    config_path = write_config(cfg, work_dir, args.preset)
    checkpoint = train(config_path, osp.join(work_dir, 'train'))
    test_all_subsets(config_path, checkpoint, work_dir)
    draw_panel(config_path, checkpoint, osp.join(work_dir, 'qualitative.png'))

    from incomplete_fusion.testing import generate
    scene = generate('dfc2023', osp.join(work_dir, 'scene'), scene=True, overwrite=True,
                     size=args.scene_size, seed=args.seed + 1)
    run_tool('infer.py', config_path, checkpoint,
             *[f'--input={name}={scene[name]}' for name in ('rgb', 'sar', 'dsm')],
             '--out', osp.join(work_dir, 'scene_prediction.tif'))

    print(f'\ndemo finished in {(time.perf_counter() - start) / 60:.1f} min; results in {work_dir}:')
    for name in sorted(os.listdir(work_dir)):
        print(f'  {name}')
    with open(osp.join(work_dir, 'subset_eval.md')) as f:
        print('\n' + f.read())


if __name__ == '__main__':
    main()
