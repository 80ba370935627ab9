"""A miniature run of the README's main job (`make demo` -> tools/demo.py).

Same steps, same tools, tiny sizes: it must leave every promised file behind.
"""
import csv
import os.path as osp
import runpy
import sys

import rasterio

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_MODEL = [
    'model.backbone.depth=4', 'model.backbone.embed_dims=32', 'model.backbone.num_heads=2',
    'model.backbone.out_indices=[0,1,2,3]', 'model.neck.in_channels=32',
    'model.neck.out_channels=[16,16,32,32]', 'model.decode_head.in_channels=[16,16,32,32]',
    'model.decode_head.transformer_decoder.num_layers=1',
    'model.decode_head.pixel_decoder.encoder.num_layers=1',
]


def test_demo_leaves_every_promised_file(tmp_path, monkeypatch):
    work_dir = tmp_path / 'demo'
    monkeypatch.setattr(sys, 'argv', [
        'demo.py', '--work-dir', str(work_dir), '--iters', '1', '--num-train', '2',
        '--num-val', '1', '--tile-size', '64', '--scene-size', '96', '--cfg-options', *TINY_MODEL])
    runpy.run_path(osp.join(REPO, 'tools', 'demo.py'), run_name='__main__')

    # the exact config that was trained, re-runnable with tools/train.py
    assert 'FusionViT' in (work_dir / 'mask2former_dfc2023_semantic_cpu_preset.py').read_text()
    assert (work_dir / 'train' / 'iter_1.pth').exists()
    with open(work_dir / 'subset_eval.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 7  # every non-empty subset of rgb, sar, dsm
    assert 'mIoU' in rows[0]
    table = (work_dir / 'subset_eval.md').read_text()
    assert table.count('\n|') >= 8  # header, separator, 7 subsets
    for name in ('subset_eval.png', 'qualitative.png'):
        assert (work_dir / name).read_bytes()[:4] == b'\x89PNG'

    with rasterio.open(work_dir / 'scene' / 'rgb.tif') as reference, \
            rasterio.open(work_dir / 'scene_prediction.tif') as prediction:
        # the finest modality (RGB) spans the union of extents: it is the grid
        assert prediction.crs == reference.crs
        assert prediction.transform == reference.transform
        assert prediction.shape == reference.shape
        assert set(prediction.read(1).ravel()) <= {0, 1, prediction.nodata}
