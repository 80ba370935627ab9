"""Predict many georeferenced scenes in one run (one process, torchrun or srun).

Example::

    python tools/infer_scenes.py CONFIG CHECKPOINT --manifest scenes.csv --out-dir preds/
    python tools/infer_scenes.py CONFIG CHECKPOINT --pattern 'data/{scene}/{modality}.tif' \\
        --out-dir preds/
    tools/dist_infer.sh CONFIG CHECKPOINT 4 --manifest scenes.csv --out-dir preds/

Writes ``OUT_DIR/<scene>.tif`` (COG unless ``--format gtiff``), optional
``<scene>_scores.tif`` (instance configs: ``<scene>.geojson`` or ``.gpkg``), ``mosaic.vrt`` over all finished scenes and
``report.json`` (per scene: done/skipped/failed, missing modalities, error).
Scenes whose output exists are skipped (``--no-resume`` redoes them). A scene
whose inputs are rejected or whose inference fails is reported; the others go
on. Exit status 1 if any scene failed. See docs/user_guides/3_inference.md.
"""
import argparse
import os
import os.path as osp
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout
from incomplete_fusion.apis import infer_scenes, init_model  # noqa: E402
from incomplete_fusion.apis.scene import (read_manifest, scenes_from_pattern,  # noqa: E402
                                          start_distributed)
from incomplete_fusion.binding import modality_set_of  # noqa: E402
from incomplete_fusion.utils.config import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--manifest', help='CSV/JSON/YAML: one scene per row, a path per '
                        'available modality')
    source.add_argument('--pattern', help="e.g. 'data/{scene}/{modality}.tif'")
    parser.add_argument('--out-dir', '-o', required=True, help='output folder')
    parser.add_argument('--format', choices=('cog', 'gtiff'), default='cog',
                        help='raster outputs (default: cog)')
    parser.add_argument('--scores', action='store_true',
                        help='semantic configs: also write <scene>_scores.tif')
    parser.add_argument('--mosaic', default='mosaic.vrt',
                        help="VRT mosaic name in OUT_DIR ('' for none)")
    parser.add_argument('--no-resume', action='store_true', help='redo finished scenes')
    parser.add_argument('--split', choices=('auto', 'scenes', 'windows'), default='auto',
                        help='distributed: deal scenes to ranks, or cut every scene into '
                        'row windows (auto: windows when fewer scenes than ranks)')
    parser.add_argument('--tile-size', type=int, default=None)
    parser.add_argument('--overlap', type=int, default=None)
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--workers', type=int, default=1,
                        help='threads reading tiles ahead of the model (0: none; default 1)')
    parser.add_argument('--mix-scenes', action='store_true',
                        help='let a batch span tile rows and scenes (faster for many small '
                        'scenes; scores may then differ in the last float32 bits from the '
                        'default, whose batches are one tile row of one scene)')
    parser.add_argument('--vector-format', choices=('geojson', 'gpkg'), default='geojson',
                        help='instance configs: <scene>.geojson (default) or <scene>.gpkg')
    parser.add_argument('--reference', default=None,
                        help='output grid per scene: a modality name (default: finest input)')
    parser.add_argument('--extent', choices=('union', 'intersection'), default='union')
    parser.add_argument('--resolution', type=float, default=None)
    parser.add_argument('--score-thr', type=float, default=0.5)
    parser.add_argument('--device', default='cpu', help='cpu or cuda (a rank uses its '
                        'LOCAL_RANK GPU)')
    parser.add_argument('--launcher', choices=('none', 'pytorch', 'slurm'), default='none')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rank, world, device = start_distributed(args.launcher, args.device)
    cfg = load_config(args.config, args.cfg_options)
    if args.manifest:
        scenes = read_manifest(args.manifest)
    else:
        scenes = scenes_from_pattern(args.pattern, modality_set_of(cfg).names)
    if not scenes:
        raise SystemExit('error: no scene found')
    model = init_model(cfg, args.checkpoint, device=device)
    statuses = infer_scenes(
        model, scenes, args.out_dir, resume=not args.no_resume, scores=args.scores,
        mosaic=args.mosaic or None, split=args.split, reference=args.reference,
        extent=args.extent, resolution=args.resolution, tile_size=args.tile_size,
        overlap=args.overlap, batch_size=args.batch_size, score_thr=args.score_thr,
        format=args.format, workers=args.workers, mix_scenes=args.mix_scenes,
        vector_format=args.vector_format)
    if rank != 0:
        return statuses
    for s in statuses:
        extra = f', missing: {", ".join(s.missing)}' if s.missing else ''
        if s.status == 'failed':
            print(f'{s.scene}: FAILED: {s.error}')
        else:
            print(f'{s.scene}: {s.status} {s.path}{extra}')
    failed = [s for s in statuses if s.status == 'failed']
    print(f'{len(statuses)} scenes: {sum(s.status == "done" for s in statuses)} done, '
          f'{sum(s.status == "skipped" for s in statuses)} skipped, {len(failed)} failed '
          f'({world} process{"es" if world > 1 else ""}); report: '
          f'{os.path.join(args.out_dir, "report.json")}')
    if failed:
        raise SystemExit(1)
    return statuses


if __name__ == '__main__':
    main()
