"""Write a synthetic dataset in the layout of a real release (the configs' default data).

Every config's ``data_root`` defaults to ``data/synthetic/<layout>/``; nothing
generates it behind your back. Create it once with::

    python tools/make_synthetic_data.py dfc2023 data/synthetic/dfc2023
    python tools/make_synthetic_data.py quadruplet data/synthetic/quadruplet
    python tools/make_synthetic_data.py oemsar data/synthetic/oemsar
    python tools/make_synthetic_data.py earthmiss data/synthetic/earthmiss

or point ``data_root`` at a real copy of the release instead. More examples::

    python tools/make_synthetic_data.py dfc2023 data/dfc2023_synth \
        --num-train 64 --num-val 16 --size 256 --seed 0 --cloud-holes 0.2
    python tools/make_synthetic_data.py dfc2023 data/scene --scene --size 2048

What each modality carries is described in docs/user_guides/2_dataset_prepare.md. From Python:
``incomplete_fusion.testing.generate(layout, out_dir, **options)``.
"""
import argparse
import json
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from incomplete_fusion.testing import (DATASET_DEFAULTS, available_layouts,  # noqa: E402
                                       generate)

SUPPRESS = argparse.SUPPRESS  # options left out go to the writer's own defaults


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('layout', choices=available_layouts())
    parser.add_argument('out', help='output folder (the data_root); must not exist unless '
                        '--overwrite')
    parser.add_argument('--overwrite', action='store_true', help='replace an existing folder')
    parser.add_argument('--num-train', type=int, default=SUPPRESS,
                        help='training tiles (default for dfc2023/quadruplet/oemsar: 16)')
    parser.add_argument('--num-val', type=int, default=SUPPRESS,
                        help='validation tiles (default for dfc2023/quadruplet: 4)')
    parser.add_argument('--num-test', type=int, default=SUPPRESS,
                        help='oemsar: unlabelled SAR-only test tiles (default 4)')
    parser.add_argument('--per-city', type=int, default=SUPPRESS,
                        help='earthmiss: tiles per city, 13 cities (default 2)')
    parser.add_argument('--size', type=int, default=SUPPRESS,
                        help='tile size in pixels (default 256; scene default 1024)')
    parser.add_argument('--seed', type=int, default=SUPPRESS)
    parser.add_argument('--cloud-holes', type=float, default=SUPPRESS,
                        help='probability that a tile gets a nodata hole (cloud) in the optical')
    parser.add_argument('--dsm-holes', type=float, default=SUPPRESS,
                        help='dfc2023: probability of a nodata hole in the DSM')
    parser.add_argument('--hole-fraction', type=float, default=SUPPRESS,
                        help='area share of one nodata hole')
    parser.add_argument('--rle-fraction', type=float, default=SUPPRESS,
                        help='dfc2023: share of annotations stored as RLE instead of polygons')
    parser.add_argument('--height-dirname', choices=('dsm', 'height'), default=SUPPRESS,
                        help='dfc2023: name of the height folder')
    parser.add_argument('--scene', action='store_true',
                        help='write one large scene (one GeoTIFF per modality, modalities '
                        'on different grids) instead of a tiled dataset')
    parser.add_argument('--coarse-factor', type=int, default=SUPPRESS,
                        help='scene: resolution factor of the coarser modality (SAR / S1)')
    parser.add_argument('--no-hole', action='store_true', help='scene: no optical nodata hole')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = vars(parse_args(argv))
    layout, out, scene = args.pop('layout'), args.pop('out'), args.pop('scene')
    overwrite = args.pop('overwrite')
    if args.pop('no_hole'):
        args['nodata_hole'] = False
    options = dict(size=1024) if scene else dict(DATASET_DEFAULTS.get(layout, {}))
    options.update(args)
    start = time.perf_counter()
    try:
        result = generate(layout, out, scene=scene, overwrite=overwrite, **options)
    except (FileExistsError, ValueError) as error:
        sys.exit(f'error: {error}')
    print(json.dumps(result, indent=1))
    print(f'wrote {out} in {time.perf_counter() - start:.1f} s')
    return result


if __name__ == '__main__':
    main()
