"""Write a small synthetic dataset in the layout of DFC2023 Track 2 or quadruplet LULC.

Examples::

    python tools/make_synthetic_data.py --layout dfc2023 --out data/dfc2023_synth \
        --num-train 64 --num-val 16 --size 256 --seed 0 --cloud-holes 0.2
    python tools/make_synthetic_data.py --layout quadruplet --out data/quadruplet_synth
    python tools/make_synthetic_data.py --layout dfc2023 --scene --out data/scene --size 2048

What each modality carries is described in docs/data.md.
"""
import argparse
import json
import time

from incomplete_fusion.datasets.synthetic import make_dfc2023, make_quadruplet, make_scene


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--layout', choices=('dfc2023', 'quadruplet'), required=True)
    parser.add_argument('--out', required=True, help='output folder (data_root)')
    parser.add_argument('--num-train', type=int, default=16)
    parser.add_argument('--num-val', type=int, default=4)
    parser.add_argument('--size', type=int, default=None,
                        help='tile size in pixels (default 256; scene default 1024)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--cloud-holes', type=float, default=0.0,
                        help='probability that a tile gets a nodata hole (cloud) in the optical')
    parser.add_argument('--dsm-holes', type=float, default=0.0,
                        help='dfc2023: probability of a nodata hole in the DSM')
    parser.add_argument('--hole-fraction', type=float, default=0.15,
                        help='area share of one nodata hole')
    parser.add_argument('--rle-fraction', type=float, default=0.5,
                        help='dfc2023: share of annotations stored as RLE instead of polygons')
    parser.add_argument('--height-dirname', choices=('dsm', 'height'), default='dsm',
                        help='dfc2023: name of the height folder')
    parser.add_argument('--scene', action='store_true',
                        help='write one large scene (one GeoTIFF per modality, modalities '
                        'on different grids) instead of a tiled dataset')
    parser.add_argument('--coarse-factor', type=int, default=2,
                        help='scene: resolution factor of the coarser modality (SAR / S1)')
    parser.add_argument('--no-hole', action='store_true', help='scene: no optical nodata hole')
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    start = time.perf_counter()
    if args.scene:
        result = make_scene(args.out, layout=args.layout, size=args.size or 1024, seed=args.seed,
                            coarse_factor=args.coarse_factor, nodata_hole=not args.no_hole)
    elif args.layout == 'dfc2023':
        result = make_dfc2023(args.out, args.num_train, args.num_val, args.size or 256,
                              args.seed, cloud_holes=args.cloud_holes, dsm_holes=args.dsm_holes,
                              hole_fraction=args.hole_fraction, rle_fraction=args.rle_fraction,
                              height_dirname=args.height_dirname)
    else:
        result = make_quadruplet(args.out, args.num_train, args.num_val, args.size or 256,
                                 args.seed, cloud_holes=args.cloud_holes,
                                 hole_fraction=args.hole_fraction)
    print(json.dumps(result, indent=1))
    print(f'wrote {args.out} in {time.perf_counter() - start:.1f} s')


if __name__ == '__main__':
    main()
