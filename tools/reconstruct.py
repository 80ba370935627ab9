"""Fill in missing modalities of a tile with a pretrained MultiMAE model.

    python tools/reconstruct.py configs/fusionvit/multimae_dfc2023.py CKPT \
        --inputs sar=tile_sar.tif dsm=tile_dsm.tif --out recon/ [--size 256 256]

Writes ``<name>.tif`` for every declared modality (the input's CRS and
transform; units in docs/advanced_guides/pretraining.md) and ``panel.png`` (input vs
reconstruction per modality).

    python tools/reconstruct.py CONFIG CKPT --errors annotations/buildings_only_test.json val/ \
        --mean-fill [--size 128 128] [--cfg-options data_root=...]

measures instead how well the model fills in each modality of held-out tiles
(``leave_one_out_errors``; the tiles of the config's training dataset with another
annotation file and image folder, relative to ``data_root``) and prints the errors
next to the zero baseline and, with ``--mean-fill``, the per-pixel training mean
(of the config's training tiles, or of ``--mean-fill ANN_FILE [IMG_DIR]``).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

import incomplete_fusion  # noqa: E402,F401  (registers components, applies compat shims)
from mmengine.config import DictAction  # noqa: E402

from incomplete_fusion.apis import (init_pretrain_model, reconstruct_modalities,  # noqa: E402
                                    write_reconstructions)
from incomplete_fusion.apis.fill_baseline import split_tiles  # noqa: E402
from incomplete_fusion.apis.reconstruct import leave_one_out_errors  # noqa: E402

COLUMNS = ('missing', 'given', 'zero', 'mean_fill')


def parse_inputs(items):
    paths = {}
    for item in items:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            raise SystemExit(f'--inputs expects name=path, got {item!r}')
        if name in paths:
            raise SystemExit(f'--inputs names {name!r} twice')
        paths[name] = path
    return paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('config', help='pretraining config (configs/fusionvit/multimae_*.py)')
    parser.add_argument('checkpoint', help='pretraining checkpoint')
    parser.add_argument('--inputs', nargs='+', metavar='NAME=PATH',
                        help='the available modality files of the tile, e.g. sar=a.tif')
    parser.add_argument('--out', help='output folder (with --inputs)')
    parser.add_argument('--errors', nargs='+', metavar=('ANN_FILE', 'IMG_DIR'),
                        help='instead: leave-one-out errors on the held-out tiles of this '
                        'annotation file (and image folder), in the layout of the config\'s '
                        'training dataset, relative to its data_root')
    parser.add_argument('--mean-fill', nargs='*', metavar=('ANN_FILE', 'IMG_DIR'),
                        help='with --errors: also the error of the per-pixel training mean, of '
                        'the config\'s training tiles (or of this annotation file and folder)')
    parser.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'),
                        help='run the model at this size (e.g. the training size) and resize '
                        'the result back; default: the tile size')
    parser.add_argument('--prefix', default='', help='prefix of the output file names')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    args = parser.parse_args(argv)
    for option in ('errors', 'mean_fill'):
        if len(getattr(args, option) or ()) > 2:
            parser.error(f"--{option.replace('_', '-')} takes ANN_FILE and optionally IMG_DIR")
    if args.mean_fill is not None and args.errors is None:
        parser.error('--mean-fill is a column of --errors')
    if args.errors is not None and args.inputs:
        parser.error('--inputs fills in one tile, --errors measures on a split: give one')
    if args.errors is None and (not args.inputs or not args.out):
        parser.error('give --inputs and --out (fill in one tile) or --errors (measure)')
    return args


def measure(model, args):
    """Leave-one-out errors on the held-out split, printed as a table."""
    tiles = split_tiles(model, *args.errors)
    train_tiles = None if args.mean_fill is None else split_tiles(model, *args.mean_fill)
    errors = leave_one_out_errors(model, tiles, size=tuple(args.size) if args.size else None,
                                  train_tiles=train_tiles)
    columns = [c for c in COLUMNS if any(c in row for row in errors.values())]
    source = f', per-pixel mean of {len(train_tiles)} training tiles' if train_tiles else ''
    print(f'{len(tiles)} held-out tiles{source}; mean error per valid pixel in normalised '
          'units (categorical: error rate)')
    print('| modality | ' + ' | '.join(columns) + ' |')
    print('|---|' + '---|' * len(columns))
    for name, row in errors.items():
        print(f'| {name} | ' + ' | '.join(f'{row[c]:.4f}' for c in columns) + ' |')
    return errors


def main(argv=None):
    args = parse_args(argv)
    paths = parse_inputs(args.inputs or ())
    model = init_pretrain_model(args.config, args.checkpoint, args.device, args.cfg_options)
    if args.errors is not None:
        return measure(model, args)
    result = reconstruct_modalities(model, paths, size=tuple(args.size) if args.size else None)
    written = write_reconstructions(result, args.out, prefix=args.prefix)
    for name, path in written.items():
        note = '' if name == 'panel' else (
            f" ({'input' if name in result.given else 'reconstructed'}, "
            f'units: {result.units[name]})')
        print(f'{name}: {path}{note}')
    return written


if __name__ == '__main__':
    main()
