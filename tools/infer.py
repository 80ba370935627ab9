"""Predict a georeferenced scene of any size from one GeoTIFF per available modality.

Example::

    python tools/infer.py configs/fusionvit/mask2former_dfc2023_semantic.py \\
        work_dirs/x/iter_1000.pth \\
        --input rgb=scene_rgb.tif --input sar=scene_sar.tif --out pred.tif

Modalities not given are treated as missing (the model was trained for that).
``NAME=PATH:BANDS`` reads only some bands of a multi-band file (1-based, as GDAL;
``--input sar=quadpol.tif:4``, ``--input s2=l2a.tif:2,3,4,8``): the modality
spec's ``bands`` for this run. Values are checked against the units the config
declares for each modality before any tile is read (docs/user_guides/datasets/real_products.md).
Inputs may differ in resolution, extent and CRS; their nodata is missing data.
The output has the reference grid (default: the finest input's CRS and pixels,
over the union of the input footprints; see ``--reference``/``--extent``/
``--resolution``). Semantic configs write a uint8 class raster (255 = no input);
instance configs write a uint32 instance-id raster plus a GeoJSON (or, with
``--vector-format gpkg``, a GeoPackage) of the instance polygons in map
coordinates. See docs/user_guides/3_inference.md.
"""
import argparse
import os
import os.path as osp
import re
import sys

from mmengine.config import DictAction

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

_BANDS = re.compile(r'^(?P<path>.+):(?P<bands>\d+(?:,\d+)*)$')


def parse_input(text: str):
    """``NAME=PATH`` or ``NAME=PATH:B1,B2`` → ``(name, path, bands or None)``."""
    if '=' not in text:
        raise argparse.ArgumentTypeError(f'--input expects NAME=PATH[:BANDS], got {text!r}')
    name, path = text.split('=', 1)
    if not name:
        raise argparse.ArgumentTypeError(f'--input expects NAME=PATH[:BANDS], got {text!r}')
    path, bands = path.strip(), None
    match = _BANDS.match(path)
    if match and not os.path.exists(path):
        path, bands = match['path'], tuple(int(b) for b in match['bands'].split(','))
    return name.strip(), path or None, bands


def with_bands(modality_set, bands):
    """``modality_set`` with the spec ``bands`` of ``{name: (1-based band, ...)}``."""
    from dataclasses import replace

    from incomplete_fusion.modalities import ModalitySet
    specs = tuple(replace(s, bands=bands[s.name]) if s.name in bands else s
                  for s in modality_set.specs)
    return ModalitySet(specs, modality_set.active)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='model config file')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--input', '-i', action='append', type=parse_input, required=True,
                        metavar='NAME=PATH[:BANDS]',
                        help='one GeoTIFF per available modality, e.g. --input sar=b.tif '
                        '(repeat; NAME= with no path marks a modality as missing; '
                        ':4 or :2,3,4 reads only these bands, 1-based)')
    parser.add_argument('--out', '-o', required=True, help='output GeoTIFF')
    parser.add_argument('--geojson', default=None,
                        help='instance configs: polygon output (default: OUT with .geojson, '
                        'or .gpkg with --vector-format gpkg)')
    parser.add_argument('--vector-format', choices=('geojson', 'gpkg'), default='geojson',
                        help='instance configs: polygons as GeoJSON (default) or a '
                        'GeoPackage layer')
    parser.add_argument('--scores', default=None,
                        help='semantic configs: also write the blended per-class scores '
                        '(float32 GeoTIFF) here')
    parser.add_argument('--format', choices=('cog', 'gtiff'), default='cog',
                        help='raster outputs: Cloud-Optimized GeoTIFF (default) or plain '
                        'striped GeoTIFF')
    parser.add_argument('--tile-size', type=int, default=None,
                        help="tile size in pixels (default: the backbone's img_size)")
    parser.add_argument('--overlap', type=int, default=None,
                        help='overlap between tiles in pixels (default: tile size / 4)')
    parser.add_argument('--batch-size', type=int, default=4,
                        help='tiles per forward pass (default: 4)')
    parser.add_argument('--workers', type=int, default=1,
                        help='threads reading tiles ahead of the model (0: none; default 1)')
    parser.add_argument('--reference', default=None,
                        help='output grid: a modality name or a raster path '
                        '(default: the finest-resolution input)')
    parser.add_argument('--extent', choices=('union', 'intersection'), default='union',
                        help='output extent when --reference is not given (default: union)')
    parser.add_argument('--resolution', type=float, default=None,
                        help='output pixel size in reference CRS units (default: keep)')
    parser.add_argument('--score-thr', type=float, default=0.5,
                        help='instance configs: minimum instance score (default: 0.5)')
    parser.add_argument('--device', default='cpu',
                        help='torch device, e.g. cuda:0 (default: cpu)')
    parser.add_argument('--no-progress', action='store_true', help='hide the progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, e.g. modalities=[sar,dsm]')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from incomplete_fusion.apis import SceneInputError, infer_scene, init_model, plan_scene
    from incomplete_fusion.binding import modality_set_of
    from incomplete_fusion.modalities import UnknownModalityError
    from incomplete_fusion.utils.config import load_config

    inputs, bands = {}, {}
    for name, path, selected in args.input:
        if name in inputs:
            raise SystemExit(f'--input {name}= given twice')
        inputs[name] = path
        if selected:
            bands[name] = selected
    # Plan the scene (validates the inputs against the config, checks their values
    # against the declared units) before building the model; the model and the test
    # pipeline are bound to the same modality set.
    cfg = load_config(args.config, args.cfg_options)
    try:
        mset = modality_set_of(cfg)
        unknown = sorted(set(bands) - set(mset.names))
        if unknown:
            raise UnknownModalityError(f'unknown modality name(s) {unknown}; the config '
                                       f'declares {list(mset.names)}')
        plan = plan_scene(inputs, with_bands(mset, bands), args.reference, args.extent,
                          args.resolution)
    except (SceneInputError, UnknownModalityError, ValueError) as exc:
        raise SystemExit(f'error: {exc}') from exc
    model = init_model(cfg, args.checkpoint, device=args.device)
    result = infer_scene(
        model, plan, args.out,
        tile_size=args.tile_size,
        overlap=args.overlap,
        batch_size=args.batch_size,
        score_thr=args.score_thr,
        geojson_path=args.geojson,
        scores_path=args.scores,
        progress=not args.no_progress,
        format=args.format,
        workers=args.workers,
        vector_format=args.vector_format)
    grid = result.grid
    print(f'{result.task} prediction written to {result.path}: {grid.width} x {grid.height} px, '
          f'{grid.crs}, {result.num_tiles} tiles ({result.num_tiles_run} with data) in '
          f'{result.seconds:.1f} s')
    if result.missing:
        print(f'missing modalities (treated as NaN): {", ".join(result.missing)}')
    if result.ignored:
        print(f'ignored (inactive in the config): {", ".join(result.ignored)}')
    if result.scores_path:
        print(f'per-class scores written to {result.scores_path}')
    if result.read_wait_seconds or result.model_seconds:
        print(f'time in the model {result.model_seconds / result.seconds:.0%}, waiting for '
              f'tiles {result.read_wait_seconds / result.seconds:.0%}')
    if result.geojson_path:
        print(f'{result.num_instances} instances written to {result.geojson_path}')
    return result


if __name__ == '__main__':
    main()
