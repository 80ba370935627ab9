"""The ISPRS missing-modality protocol in one command (GEMMNet Table 1 / DIS2).

Evaluates a checkpoint on the ISPRS test tiles for the three scenarios of the
protocol — full (RGIR + nDSM), only nDSM, only RGIR — or every subset of the active
modalities (``--all-subsets``), with per-class F1 of the five classes, mean F1 and
mIoU (clutter ignored), on the eroded ISPRS evaluation labels or the full ones, and
optionally prints the published figures beside ours (``--reference``). Writes
``isprs_protocol.{md,csv,png}`` (and ``isprs_protocol_reference.md``) to the work dir.

    python tools/isprs_protocol.py configs/fusionvit/mask2former_vaihingen.py CKPT --reference
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout

import incomplete_fusion  # noqa: E402,F401
from mmengine.config import DictAction  # noqa: E402

from incomplete_fusion.binding import modality_set_of  # noqa: E402
from incomplete_fusion.evaluation import evaluate_subsets  # noqa: E402
from incomplete_fusion.evaluation.references import (load_reference,  # noqa: E402
                                                     markdown_with_reference)
from incomplete_fusion.modalities import nonempty_subsets  # noqa: E402
from incomplete_fusion.utils import cache_config_formatting, load_config  # noqa: E402

SCENARIOS = (('rgir', 'ndsm'), ('ndsm', ), ('rgir', ))  # full, only nDSM, only RGIR
CITIES = {'ISPRSVaihingenMultimodal': 'vaihingen', 'ISPRSPotsdamMultimodal': 'potsdam'}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='ISPRS missing-modality protocol')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('--labels', choices=['eroded', 'full'], default='eroded',
                        help='ISPRS evaluation labels (boundaries ignored) or full labels')
    parser.add_argument('--all-subsets', action='store_true',
                        help='every non-empty subset of the active modalities, not only the '
                        'three scenarios of the protocol')
    parser.add_argument('--reference', nargs='?', const='isprs_missing_modality',
                        help='print published figures beside ours (a file of '
                        'incomplete_fusion/evaluation/references)')
    parser.add_argument('--work-dir', help='where logs and isprs_protocol.* go')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, key=value pairs')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cache_config_formatting()
    cfg = load_config(args.config, args.cfg_options)
    cfg.test_dataloader.dataset.labels = args.labels
    city = CITIES.get(cfg.test_dataloader.dataset.type)
    if city is None:
        raise SystemExit(f'{args.config} does not test on an ISPRS dataset '
                         f'({cfg.test_dataloader.dataset.type}); expected one of {sorted(CITIES)}')
    active = modality_set_of(cfg).active
    if args.all_subsets:
        subsets = nonempty_subsets(active)
    else:
        missing = sorted({m for s in SCENARIOS for m in s} - set(active))
        if missing:
            raise SystemExit(f'the protocol needs modalities {missing}, which are not active '
                             f'({list(active)}); use --all-subsets for other subsets')
        subsets = SCENARIOS
    name = osp.splitext(osp.basename(args.config))[0]
    work_dir = args.work_dir or osp.join('./work_dirs', f'{name}_protocol')
    table = evaluate_subsets(cfg, args.checkpoint, work_dir=work_dir, subsets=subsets,
                             stem='isprs_protocol')
    title = f'{name}, {city}, {args.labels} labels'
    text = f'### {title}\n\n{table.to_markdown()}' if not args.reference else \
        markdown_with_reference(table, load_reference(args.reference), city, title=title)
    if args.reference:
        with open(osp.join(work_dir, 'isprs_protocol_reference.md'), 'w') as f:
            f.write(text)
    print(text)
    return table


if __name__ == '__main__':
    main()
