"""Convert an ISPRS Potsdam or Vaihingen release into aligned multimodal patches.

    python tools/convert_isprs.py potsdam /data/Potsdam data/potsdam
    python tools/convert_isprs.py vaihingen /data/Vaihingen data/vaihingen \
        --size 512 --stride 256 --modalities rgir ndsm dsm --whole-tiles val

Writes {out}/{split}/{modality,label,label_eroded}/*.tif, {out}/splits/{split}.txt
and {out}/isprs_meta.json (options, source files, per-channel statistics of the
train split). Folder and file names of the release are matched by the patterns in
incomplete_fusion/datasets/isprs_layout.py; --list shows what was recognised.
See docs/user_guides/datasets/isprs.md.
"""
import argparse
import json
import os.path as osp
import sys
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

from incomplete_fusion.datasets.isprs_convert import convert_isprs  # noqa: E402
from incomplete_fusion.datasets.isprs_layout import (LAYOUTS, ISPRSLayoutError,  # noqa: E402
                                                     get_layout, index_release)


def _key_values(items: Optional[List[str]], what: str, split: bool) -> Dict[str, List[str]]:
    """``['a=x,y', 'a=z']`` → ``{'a': ['x', 'y', 'z']}`` (no comma split for regexes)."""
    out: Dict[str, List[str]] = {}
    for item in items or []:
        key, sep, value = item.partition('=')
        if not sep or not key or not value:
            raise SystemExit(f'error: {what} must look like NAME=VALUE, got {item!r}')
        out.setdefault(key, []).extend([v for v in value.split(',') if v] if split else [value])
    return out


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split('\n', 1)[1])
    parser.add_argument('city', choices=sorted(LAYOUTS))
    parser.add_argument('release', help='the unpacked release folder (any nesting)')
    parser.add_argument('out', nargs='?', help='output folder (the datasets\' data_root)')
    parser.add_argument('--size', type=int, default=512, help='patch size in pixels')
    parser.add_argument('--stride', type=int, default=None,
                        help='patch step in pixels (default: the size, no overlap)')
    parser.add_argument('--modalities', nargs='+', default=None,
                        help='output modalities (default rgir ndsm; also dsm, and for '
                        'Potsdam rgbir / rgb)')
    parser.add_argument('--split', action='append', metavar='NAME=TILE,TILE',
                        help='replace the default splits (repeatable), e.g. '
                        '--split train=2_10,2_11 --split val=5_15')
    parser.add_argument('--whole-tiles', nargs='*', default=[], metavar='SPLIT',
                        help='splits written as whole tiles (for slide inference)')
    parser.add_argument('--no-eroded', action='store_true',
                        help='do not require or write the eroded (noBoundary) labels')
    parser.add_argument('--unknown-colour', choices=('error', 'ignore', 'nearest'),
                        default='error', help='label colours outside the ISPRS table')
    parser.add_argument('--pattern', action='append', metavar='SOURCE=REGEX',
                        help='extra file-name regex for a release source, tried first')
    parser.add_argument('--workers', type=int, default=0, help='processes (0: none)')
    parser.add_argument('--list', action='store_true',
                        help='only list the tiles and files recognised in the release')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    patterns = _key_values(args.pattern, '--pattern', split=False)
    try:
        if args.list:
            layout = get_layout(args.city)
            if patterns:
                layout = layout.with_patterns(patterns)
            index = index_release(args.release, layout)
            for tile in sorted(index.files):
                print(f'{tile}: {index.describe_tile(tile)}')
            print(f'{len(index.files)} tiles; {index.unmatched} other files')
            return index.files
        if args.out is None:
            raise SystemExit('error: give an output folder (or --list)')
        start = time.perf_counter()
        splits = _key_values(args.split, '--split', split=True) or None
        summary = convert_isprs(
            args.release, args.out, args.city, size=args.size, stride=args.stride,
            modalities=args.modalities, splits=splits,
            whole_tiles=args.whole_tiles, eroded=not args.no_eroded,
            unknown_colour=args.unknown_colour,
            patterns=patterns, workers=args.workers)
    except (ISPRSLayoutError, ValueError) as error:
        raise SystemExit(f'error: {error}')
    counts = {s: v['num_samples'] for s, v in summary['splits'].items()}
    print(json.dumps(dict(samples=counts, stats=summary['stats']), indent=1))
    print(f'wrote {args.out} in {time.perf_counter() - start:.1f} s')
    return summary


if __name__ == '__main__':
    main()
