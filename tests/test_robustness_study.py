"""The robustness study's comparison table: subsets x variants, from per-variant CSVs."""
import csv
import os.path as osp
import sys

import pytest

from incomplete_fusion.evaluation.subset_table import SubsetTable
from incomplete_fusion.modalities import nonempty_subsets

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'tools'))
import robustness_study  # noqa: E402

NAMES = ('rgb', 'sar', 'dsm')


def _write_variant(work_dir, variant, score):
    table = SubsetTable(modalities=NAMES)
    for subset in nonempty_subsets(NAMES):
        table.add(subset, {'mIoU': 50.0, 'IoU.building': score(subset)})
    out = robustness_study.variant_dir(str(work_dir), variant)
    table.save(out)


def test_comparison_has_one_row_per_subset_and_one_column_per_variant(tmp_path):
    _write_variant(tmp_path, 'FusionViT', lambda s: 10.0 * len(s))
    _write_variant(tmp_path, 'w/o mask', lambda s: 5.0 + len(s))
    table = robustness_study.compare(str(tmp_path), ['FusionViT', 'w/o mask'], 'IoU.building')
    assert [subset for subset, _ in table.rows] == nonempty_subsets(NAMES)
    with open(tmp_path / 'robustness.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7
    full = next(r for r in rows if r['subset'] == 'RGB+SAR+DSM')
    assert float(full['FusionViT']) == 30.0 and float(full['w/o mask']) == 8.0
    assert (tmp_path / 'robustness.png').read_bytes()[:4] == b'\x89PNG'


def test_unknown_metric_names_the_columns(tmp_path):
    _write_variant(tmp_path, 'FusionViT', lambda s: 1.0)
    with pytest.raises(KeyError, match='IoU.building'):
        robustness_study.compare(str(tmp_path), ['FusionViT'], 'AP@50')
