"""Scene-inference throughput: megapixels and km² per minute on a generated scene.

Generates one synthetic scene (``make_scene``: rgb 0.5 m with a nodata hole, sar at
half resolution minus a strip, dsm minus a strip), builds the model of CONFIG (random
weights unless --checkpoint is given: throughput does not depend on the weights) and
runs :func:`incomplete_fusion.apis.infer_scene` on it, once per requested modality
set. Prints figures measured in this one run; nothing is asserted.

    .venv/bin/python benchmarks/bench_scene_inference.py \\
        configs/fusionvit/mask2former_dfc2023_semantic.py --size 1024 --tile-size 256
"""
import argparse
import os.path as osp
import resource
import tempfile
import time

from mmengine.config import DictAction



def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('config')
    parser.add_argument('--checkpoint', default=None)
    parser.add_argument('--size', type=int, default=1024, help='scene size in pixels (0.5 m)')
    parser.add_argument('--tile-size', type=int, default=None)
    parser.add_argument('--overlap', type=int, default=None)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None, help='torch intra-op threads')
    parser.add_argument('--subsets', nargs='+', default=['all', 'sar,dsm'],
                        help="modality sets to time, 'all' = every file of the scene")
    parser.add_argument('--score-thr', type=float, default=0.5)
    parser.add_argument('--scene-dir', default=None,
                        help='keep the generated scene here and reuse it on later runs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args()


def main():
    args = parse_args()
    import torch

    from incomplete_fusion.apis import infer_scene, init_model
    from incomplete_fusion.testing import make_scene
    if args.threads:
        torch.set_num_threads(args.threads)
    model = init_model(args.config, args.checkpoint, device=args.device,
                       cfg_options=args.cfg_options)
    names = [s['name'] for s in model.cfg.modality_specs]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        layout = 'dfc2023' if 'rgb' in names else 'quadruplet'
        scene_dir = args.scene_dir or tmp
        if args.scene_dir:
            scene_dir = osp.join(args.scene_dir, f'{layout}_{args.size}')
        files = {n: osp.join(scene_dir, f'{n}.tif') for n in names}
        if not all(osp.exists(p) for p in files.values()):
            files = make_scene(scene_dir, layout=layout, size=args.size, seed=0)
        files = {k: v for k, v in files.items() if k in names}
        print(f'scene: {args.size} x {args.size} px ({layout}), ready in '
              f'{time.perf_counter() - t0:.1f} s; device {args.device}, '
              f'{torch.get_num_threads()} threads; config {args.config}')
        print('| modalities | tiles | seconds | model share | MPix/min | km²/min | '
              'strip buffers MiB |')
        print('| --- | --- | --- | --- | --- | --- | --- |')
        for subset in args.subsets:
            keep = names if subset == 'all' else subset.split(',')
            inputs = {n: (files.get(n) if n in keep else None) for n in names}
            out = osp.join(tmp, f'pred_{subset.replace(",", "_")}.tif')
            result = infer_scene(model, inputs, out, tile_size=args.tile_size,
                                 overlap=args.overlap, batch_size=args.batch_size,
                                 score_thr=args.score_thr, progress=False)
            grid = result.grid
            km2 = grid.width * grid.height * abs(grid.transform.a * grid.transform.e) / 1e6
            minutes = result.seconds / 60
            print(f'| {"+".join(n for n in names if n in keep)} | {result.num_tiles} | '
                  f'{result.seconds:.1f} | {result.model_seconds / result.seconds:.0%} | '
                  f'{result.megapixels / minutes:.2f} | '
                  f'{km2 / minutes:.3f} | {result.peak_buffer_bytes / 2**20:.1f} |')
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'peak RSS of the process (model, torch and the generated scene included): '
          f'{peak:.0f} MiB')
    if args.device.startswith('cuda'):
        print(f'peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB')


if __name__ == '__main__':
    main()
