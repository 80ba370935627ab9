"""Fill in missing modalities of a tile with a pretrained MultiMAE model.

    python tools/reconstruct.py configs/fusionvit/multimae_dfc2023.py CKPT \
        --inputs sar=tile_sar.tif dsm=tile_dsm.tif --out recon/ [--size 256 256]

Writes ``<name>.tif`` for every declared modality (the input's CRS and
transform; units in docs/advanced_guides/pretraining.md) and ``panel.png`` (input vs
reconstruction per modality).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

import incomplete_fusion  # noqa: E402,F401  (registers components, applies compat shims)
from mmengine.config import DictAction  # noqa: E402

from incomplete_fusion.apis import (init_pretrain_model, reconstruct_modalities,  # noqa: E402
                                    write_reconstructions)


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
    parser.add_argument('--inputs', nargs='+', required=True, metavar='NAME=PATH',
                        help='the available modality files of the tile, e.g. sar=a.tif')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--size', nargs=2, type=int, metavar=('H', 'W'),
                        help='run the model at this size (e.g. the training size) and resize '
                        'the result back; default: the tile size')
    parser.add_argument('--prefix', default='', help='prefix of the output file names')
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    paths = parse_inputs(args.inputs)
    model = init_pretrain_model(args.config, args.checkpoint, args.device, args.cfg_options)
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
