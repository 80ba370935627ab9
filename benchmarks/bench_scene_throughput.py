"""Scene-inference throughput: tiles/s per modality subset, reader pool on/off,
batches per tile row or mixed across rows and scenes, and the share of time the
model waited for data.

Model: the demo model (``mask2former_dfc2023_semantic.py`` + ``configs/demo/cpu_preset.py``:
FusionViT-T depth 6 + Mask2Former, 128 px tiles), random weights (throughput does
not depend on them). Scenes: ``--scenes`` generated ``make_scene`` scenes of
``--size`` px (rgb 0.5 m with a nodata hole, sar 1 m, dsm), each given with only the
subset's modality files. Every configuration predicts all scenes through the
same engine as ``tools/infer_scenes.py`` (:func:`~incomplete_fusion.apis.scene.run_scenes`):

* ``reader``: ``serial`` (tiles read in the model's thread, ``workers=0``) or
  ``pool`` (``--workers`` threads reading ahead, a bounded queue);
* ``batches``: ``per row`` (a batch is tiles of one tile row of one scene, the
  default of ``tools/infer_scenes.py``) or ``mixed`` (``--mix-scenes``: batches fill
  up across rows and scenes).

Printed per row: tiles/s, model share (time in ``model.test_step``) and reading
share (time the model waited for tiles / wall time). Ratios, nothing asserted.

    .venv/bin/python benchmarks/bench_scene_throughput.py --scenes 6 --size 256
"""
import argparse
import os.path as osp
import tempfile

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))

CONFIG = osp.join(REPO, 'configs/fusionvit/mask2former_dfc2023_semantic.py')
PRESET = osp.join(REPO, 'configs/demo/cpu_preset.py')
SUBSETS = {'rgb+sar+dsm': ('rgb', 'sar', 'dsm'), 'sar+dsm': ('sar', 'dsm'), 'rgb': ('rgb', )}


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--scenes', type=int, default=6)
    parser.add_argument('--size', type=int, default=256, help='scene size in px')
    parser.add_argument('--tile-size', type=int, default=128)
    parser.add_argument('--overlap', type=int, default=32)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--workers', type=int, default=2, help='reader threads of the pool')
    parser.add_argument('--subsets', nargs='+', default=list(SUBSETS), choices=list(SUBSETS))
    parser.add_argument('--work-dir', default=None)
    return parser.parse_args()


def predict(model, scenes, out_dir, args, workers, across):
    """All scenes through one stream of the engine; returns its StreamStats."""
    from incomplete_fusion.apis.scene import SceneJob, SceneOptions, run_scenes
    from incomplete_fusion.apis.scene.stream import StreamStats
    options = SceneOptions(tile_size=args.tile_size, overlap=args.overlap, format='gtiff',
                           batch_size=args.batch_size, workers=workers, mix_scenes=across)
    jobs = [SceneJob(name, inputs, osp.join(out_dir, f'{name}.tif'))
            for name, inputs in scenes.items()]
    stats = StreamStats()
    run_scenes(model, jobs, options, raise_errors=True, stats=stats)
    return stats


def main():
    args = parse_args()
    import torch
    from mmengine.config import Config

    from incomplete_fusion.apis import init_model
    from incomplete_fusion.testing import make_scene
    from incomplete_fusion.utils.config import load_config
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_scene_throughput_')
    files = {}
    for k in range(args.scenes):
        folder = osp.join(work, f'scene{k}')
        paths = make_scene(folder, size=args.size, seed=k) if not osp.exists(
            osp.join(folder, 'dsm.tif')) else {m: osp.join(folder, f'{m}.tif')
                                               for m in ('rgb', 'sar', 'dsm')}
        files[f'scene{k}'] = {m: paths[m] for m in ('rgb', 'sar', 'dsm')}
    torch.manual_seed(0)
    model = init_model(load_config(CONFIG, Config.fromfile(PRESET).to_dict()), None)
    print(f'{args.scenes} scenes of {args.size} px, tile {args.tile_size}, overlap '
          f'{args.overlap}, batch {args.batch_size}, demo model (random weights), '
          f'{torch.get_num_threads()} torch threads, pool of {args.workers} reader threads')
    print('| subset | reader | batches | tiles | passes | seconds | tiles/s | model share | '
          'reading share |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    predict(model, {'warmup': files['scene0']}, work, args, 0, False)
    for subset in args.subsets:
        keep = SUBSETS[subset]
        scenes = {s: {m: (p if m in keep else None) for m, p in f.items()}
                  for s, f in files.items()}
        for reader, workers, across in (('serial', 0, False), ('pool', args.workers, False),
                                        ('serial', 0, True), ('pool', args.workers, True)):
            out = osp.join(work, f'out_{subset}_{reader}_{across}')
            s = predict(model, scenes, out, args, workers, across)
            print(f'| {subset} | {reader} | {"mixed" if across else "per row"} | {s.tiles} | '
                  f'{s.batches} | {s.seconds:.1f} | {s.tiles_per_second:.2f} | '
                  f'{s.model_seconds / s.seconds:.0%} | {s.reading_share:.1%} |', flush=True)
    if not args.work_dir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
