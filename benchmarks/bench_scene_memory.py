"""Peak memory of scene inference vs scene size: 2k, 4k, 8k px, each in a fresh process.

Scenes: one ``make_scene`` DFC2023 scene of ``--base`` px (rgb 0.5 m with a nodata
hole, sar at 1 m minus a strip, dsm minus a strip) repeated k × k times into larger
GeoTIFFs (written block by block, 256 px tiles, deflate), so every size has the
same content statistics. Model: the tiny FusionViT-Mask2Former of the tests
(random weights), semantic config, COG output. Each size runs in its own
subprocess (``--child``), which prints its peak RSS (``ru_maxrss``: model, torch,
reading, merging, writing and the COG conversion included), tiles/s and km²/h at
the scene's GSD. Nothing is asserted.

    .venv/bin/python benchmarks/bench_scene_memory.py --sizes 2048 4096 8192
"""
import argparse
import json
import os
import os.path as osp
import resource
import subprocess
import sys
import tempfile
import time



def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', type=int, nargs='+', default=[2048, 4096, 8192])
    parser.add_argument('--base', type=int, default=1024, help='generated scene size')
    parser.add_argument('--tile-size', type=int, default=256)
    parser.add_argument('--overlap', type=int, default=32)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--gdal-cachemax', default='64',
                        help="GDAL_CACHEMAX of the children (MB; '' = GDAL's default, "
                        '5%% of RAM)')
    parser.add_argument('--work-dir', default=None, help='keep the scenes here')
    parser.add_argument('--child', nargs=2, metavar=('SCENE_DIR', 'OUT'), default=None)
    return parser.parse_args()


def tile_scene(base: dict, out_dir: str, k: int) -> dict:
    """Each modality file of ``base`` repeated k x k times (same pixel size/origin)."""
    import rasterio
    from rasterio.windows import Window
    os.makedirs(out_dir, exist_ok=True)
    files = {}
    for name in ('rgb', 'sar', 'dsm'):
        with rasterio.open(base[name]) as src:
            data = src.read()
            profile = dict(src.profile, width=src.width * k, height=src.height * k,
                           tiled=True, blockxsize=256, blockysize=256, compress='deflate')
        files[name] = path = osp.join(out_dir, f'{name}.tif')
        with rasterio.open(path, 'w', **profile) as dst:
            for i in range(k):
                for j in range(k):
                    dst.write(data, window=Window(j * data.shape[2], i * data.shape[1],
                                                  data.shape[2], data.shape[1]))
    return files


def child(scene_dir: str, out: str, args) -> None:
    import torch

    from incomplete_fusion.apis import infer_scene, init_model
    from incomplete_fusion.testing.tiny import (SEMANTIC_CONFIG, tiny_scene_config,
                                                tiny_scene_overrides)
    if args.threads:
        torch.set_num_threads(args.threads)
    size = args.tile_size
    torch.manual_seed(0)
    model = init_model(tiny_scene_config(SEMANTIC_CONFIG, tiny_scene_overrides(tile=size),
                                         scale=(size, size)), None)
    files = {n: osp.join(scene_dir, f'{n}.tif') for n in ('rgb', 'sar', 'dsm')}
    rss_model = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = infer_scene(model, files, out, tile_size=size, overlap=args.overlap,
                         batch_size=args.batch_size, progress=False)
    grid = result.grid
    km2 = grid.width * grid.height * abs(grid.transform.a * grid.transform.e) / 1e6
    print(json.dumps(dict(
        width=grid.width, height=grid.height, tiles=result.num_tiles, seconds=result.seconds,
        model_seconds=result.model_seconds, km2=km2, gsd=abs(grid.transform.a),
        rss_before_mib=rss_model, peak_rss_mib=resource.getrusage(
            resource.RUSAGE_SELF).ru_maxrss / 1024, buffers_mib=result.peak_buffer_bytes / 2**20,
        threads=torch.get_num_threads())))


def main():
    args = parse_args()
    if args.child:
        return child(*args.child, args)
    from incomplete_fusion.testing import make_scene
    work = args.work_dir or tempfile.mkdtemp(prefix='bench_scene_memory_')
    base_dir = osp.join(work, f'base_{args.base}')
    tic = time.perf_counter()
    if not osp.exists(osp.join(base_dir, 'dsm.tif')):
        make_scene(base_dir, size=args.base, seed=0)
    base = {n: osp.join(base_dir, f'{n}.tif') for n in ('rgb', 'sar', 'dsm')}
    env = dict(os.environ)
    if args.gdal_cachemax:
        env['GDAL_CACHEMAX'] = args.gdal_cachemax
    print(f'base scene {args.base} px ready in {time.perf_counter() - tic:.0f} s; tile '
          f'{args.tile_size}, overlap {args.overlap}, batch {args.batch_size}, '
          f'GDAL_CACHEMAX={args.gdal_cachemax or "default"}; tiny model, COG output')
    print('| scene px | MPix | tiles | seconds | tiles/s | km²/h | model share | '
          'peak RSS MiB | RSS after model MiB | strip buffers MiB |')
    print('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    rows = []
    for size in args.sizes:
        k = max(1, size // args.base)
        scene_dir = osp.join(work, f'scene_{size}')
        if not osp.exists(osp.join(scene_dir, 'dsm.tif')):
            tile_scene(base, scene_dir, k)
        cmd = [sys.executable, osp.abspath(__file__), '--child', scene_dir,
               osp.join(work, f'pred_{size}.tif'), '--tile-size', str(args.tile_size),
               '--overlap', str(args.overlap), '--batch-size', str(args.batch_size)]
        if args.threads:
            cmd += ['--threads', str(args.threads)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        r = json.loads(done.stdout.strip().splitlines()[-1])
        rows.append(r)
        print(f'| {r["width"]} x {r["height"]} | {r["width"] * r["height"] / 1e6:.1f} | '
              f'{r["tiles"]} | {r["seconds"]:.0f} | {r["tiles"] / r["seconds"]:.2f} | '
              f'{r["km2"] / r["seconds"] * 3600:.2f} | {r["model_seconds"] / r["seconds"]:.0%} | '
              f'{r["peak_rss_mib"]:.0f} | {r["rss_before_mib"]:.0f} | {r["buffers_mib"]:.1f} |',
              flush=True)
    if len(rows) > 1:
        growth = rows[-1]['peak_rss_mib'] / rows[0]['peak_rss_mib'] - 1
        print(f'peak RSS {rows[-1]["width"]} px vs {rows[0]["width"]} px: {growth:+.1%} '
              f'(GSD {rows[0]["gsd"]} m, {rows[0]["threads"]} torch threads)')
    if not args.work_dir:
        import shutil
        shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
