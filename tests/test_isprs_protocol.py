"""ISPRS end to end: synthetic release -> converter -> the shipped config (tiny) trains ->
the protocol command prints the three scenarios with per-class F1, mF1, mIoU and the
published figures beside them, on eroded or full labels."""
import os.path as osp

import pytest
from mmengine.config import Config

from incomplete_fusion.datasets.isprs_convert import convert_isprs
from incomplete_fusion.testing.isprs import make_isprs
from test_config_tiny import (CONFIG_DIR, SIZE, TINY_BACKBONE, TINY_NECK, fresh_run, load_tool,
                              pipeline_steps, tiny_head)

train_tool, protocol_tool = load_tool('train'), load_tool('isprs_protocol')
F1 = ['F1.impervious_surface', 'F1.building', 'F1.low_vegetation', 'F1.tree', 'F1.car']


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('isprs')
    make_isprs(str(tmp / 'release'), 'vaihingen', num_train=1, num_val=1, size=96)
    convert_isprs(str(tmp / 'release'), str(tmp / 'data'), 'vaihingen', size=SIZE[0],
                  whole_tiles=['val'])
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_vaihingen.py'))
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
    path = str(tmp / 'tiny_vaihingen.py')
    cfg.dump(path)
    work_dir = str(tmp / 'work')
    train_tool.main([path, '--work-dir', work_dir, '--cfg-options', *fresh_run()])
    return dict(config=path, checkpoint=osp.join(work_dir, 'iter_1.pth'), tmp=tmp)


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
    assert '| rgir+ndsm |' in printed and '76.16' in printed and '61.89' in printed
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
