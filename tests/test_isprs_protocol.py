"""ISPRS end to end: synthetic release -> converter -> the shipped config (tiny) trains ->
the protocol command prints the three scenarios with per-class F1, mF1, mIoU and the
published figures beside them, on eroded or full labels; the stock mmseg test tool
runs the same config; slide inference equals one window's prediction where only that
window covers the tile."""
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from incomplete_fusion.datasets.isprs_convert import convert_isprs
from incomplete_fusion.testing.isprs import make_isprs
from incomplete_fusion.testing.tiny import (CONFIG_DIR, SIZE, TINY_BACKBONE, TINY_NECK,
                                            fresh_run, load_tool, pipeline_steps, tiny_head)

train_tool, protocol_tool = load_tool('train'), load_tool('isprs_protocol')
F1 = ['F1.impervious_surface', 'F1.building', 'F1.low_vegetation', 'F1.tree', 'F1.car']


@pytest.fixture(scope='module', params=['vaihingen', 'potsdam'])
def trained(request, tmp_path_factory):
    city = request.param
    tmp = tmp_path_factory.mktemp(city)
    make_isprs(str(tmp / 'release'), city, num_train=1, num_val=1, size=96)
    convert_isprs(str(tmp / 'release'), str(tmp / 'data'), city, size=SIZE[0],
                  whole_tiles=['val'])
    cfg = Config.fromfile(osp.join(CONFIG_DIR, f'mask2former_{city}.py'))
    cfg.merge_from_dict({'model.backbone': TINY_BACKBONE, 'model.neck': TINY_NECK,
                         'model.decode_head': tiny_head(6), 'data_root': str(tmp / 'data')})
    cfg.model.decode_head.train_cfg.num_points = 256
    cfg.model.data_preprocessor.size = SIZE
    cfg.model.test_cfg.update(crop_size=SIZE, stride=(48, 48))  # slide over a 96 px tile
    for step in pipeline_steps(cfg, 'RandomResize'):
        step['scale'] = SIZE
    for step in pipeline_steps(cfg, 'RandomCrop'):
        step['crop_size'] = SIZE
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=1, num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(max_iters=1, val_interval=1)
    cfg.default_hooks.checkpoint.update(interval=1, save_best=None)
    path = str(tmp / f'tiny_{city}.py')
    cfg.dump(path)
    work_dir = str(tmp / 'work')
    train_tool.main([path, '--work-dir', work_dir, '--cfg-options', *fresh_run()])
    return dict(config=path, checkpoint=osp.join(work_dir, 'iter_1.pth'), tmp=tmp, city=city)


@pytest.mark.parametrize('labels', ['eroded', 'full'])
def test_protocol_table_has_the_three_scenarios_and_the_published_figures(trained, labels,
                                                                         capsys):
    work_dir = str(trained['tmp'] / f'protocol_{labels}')
    table = protocol_tool.main([trained['config'], trained['checkpoint'], '--labels', labels,
                                '--reference', '--work-dir', work_dir, '--cfg-options',
                                *fresh_run()])
    assert [s for s, _ in table.rows] == [('rgir', 'ndsm'), ('ndsm', ), ('rgir', )]
    for _, metrics in table.rows:
        assert set(F1 + ['mFscore', 'mIoU']) <= set(metrics)
        assert 'F1.clutter' not in metrics  # clutter is ignored, five classes scored
    printed = capsys.readouterr().out
    published = dict(vaihingen=('79.07', '61.89', '76.16'), potsdam=('84.28', '58.46', '78.51'))
    assert '| rgir+ndsm |' in printed
    assert all(value in printed for value in published[trained['city']])
    assert 'GEMMNet' in printed
    with open(osp.join(work_dir, 'isprs_protocol_reference.md')) as f:
        assert f.read() in printed
    dumped = Config.fromfile(next(osp.join(work_dir, f) for f in __import__('os').listdir(
        work_dir) if f.endswith('.py')))
    assert dumped.test_dataloader.dataset.labels == labels


def test_protocol_refuses_a_config_that_is_not_isprs(tmp_path):
    with pytest.raises(SystemExit, match='ISPRS'):
        protocol_tool.main([osp.join(CONFIG_DIR, 'mask2former_dfc2023_semantic.py'), 'x.pth',
                            '--work-dir', str(tmp_path)])


def test_stock_mmseg_test_tool_runs_the_isprs_config(trained, tmp_path):
    from test_entry_points import run_stock
    run_stock('mmseg', 'test', trained['config'], trained['checkpoint'], '--work-dir',
              str(tmp_path), '--cfg-options', 'modalities=[ndsm]')
    logs = [osp.join(root, f) for root, _, files in os.walk(tmp_path) for f in files
            if f.endswith('.log')]
    with open(logs[0]) as f:
        log = f.read()
    assert 'active modalities: ndsm' in log and 'mIoU' in log


def test_slide_inference_equals_one_window_where_only_it_covers(trained):
    """mmseg's slide mode with the stock Mask2Former head failed (pad_shape); now it is exact."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint

    from incomplete_fusion.binding import bind, modality_set_of
    from incomplete_fusion.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(trained['config'])
    model = MODELS.build(cfg.model).eval()
    load_checkpoint(model, trained['checkpoint'], map_location='cpu')
    bind(modality_set_of(cfg), model)
    torch.manual_seed(0)
    tile = torch.randn(1, 4, 96, 96)  # whole tile; windows of 64 at 0 and 32 (stride 48 -> 32)
    meta = dict(img_shape=(96, 96), ori_shape=(96, 96), pad_shape=(96, 96))
    with torch.no_grad():
        slide = model.slide_inference(tile, [dict(meta)])
        window = model.whole_inference(tile[..., :64, :64], [dict(
            img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64))])
    # rows/columns 0-31 are covered by the first window only
    torch.testing.assert_close(slide[..., :32, :32], window[..., :32, :32])
    assert not torch.allclose(slide[..., 40:64, 40:64], window[..., 40:64, 40:64])
