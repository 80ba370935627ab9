"""Shipped configs load, and the top-level modality variables reach every consumer."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from incomplete_fusion.modalities import UnknownModalityError
from incomplete_fusion.registry import MODELS
from incomplete_fusion.utils import (apply_modalities, describe_modalities, find_components,
                                     load_config, sync_data_root)
from test_config_tiny import CONFIG_DIR

MINE = sorted(p for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))
              if osp.basename(p).startswith(('mask2former_', 'multivit_'))
              and not p.endswith('_finetune.py'))  # those are the pretraining configs' tests
DFC = osp.join(CONFIG_DIR, 'mask2former_dfc2023.py')


def consumers(cfg, type_name):
    found = find_components(cfg._cfg_dict, type_name)
    assert found, f'no {type_name} in the config'
    return found


def test_all_variants_exist():
    names = {osp.splitext(osp.basename(p))[0] for p in MINE}
    for task in ('dfc2023', 'dfc2023_semantic', 'quadruplet'):
        assert {f'mask2former_{task}', f'multivit_{task}', f'mask2former_{task}_wo-mask',
                f'mask2former_{task}_wo-random', f'mask2former_{task}_wo-modality-attn'} <= names


@pytest.mark.parametrize('path', MINE, ids=lambda p: osp.basename(p))
def test_config_loads_with_consistent_modalities(path):
    cfg = load_config(path)
    specs = [dict(s) for s in cfg.modality_specs]
    assert cfg.model.backbone.type == 'FusionViT'
    assert [dict(s) for s in cfg.model.backbone.modalities] == specs
    for t in consumers(cfg, 'SelectModalities'):
        assert t['modalities'] == cfg.modalities
    assert cfg.model.data_preprocessor.modality_specs == specs
    name = osp.basename(path)
    backbone = cfg.model.backbone
    assert backbone.masked_attention == ('wo-mask' not in name and 'multivit' not in name)
    assert backbone.modality_attention == ('wo-modality-attn' not in name
                                           and 'multivit' not in name)
    hooks = find_components(cfg.get('custom_hooks', []), 'ModalityDropoutHook')
    assert bool(hooks) == ('wo-random' not in name and 'multivit' not in name)
    # the switches reach the built backbone (small sizes: only the flags matter here)
    built = MODELS.build(dict(backbone, embed_dims=32, depth=1, num_heads=2, out_indices=(0, )))
    assert (built.masked_attention, built.modality_attention) == (backbone.masked_attention,
                                                                  backbone.modality_attention)


def test_cfg_options_modalities_reach_every_consumer():
    cfg = load_config(DFC, {'modalities': ['dsm', 'sar']})
    assert cfg.modalities == ['sar', 'dsm']  # declared order
    selects = consumers(cfg, 'SelectModalities')
    assert len(selects) >= 3  # train, val, test pipelines
    assert all(t['modalities'] == ['sar', 'dsm'] for t in selects)
    (hook, ) = consumers(cfg, 'ModalityDropoutHook')
    assert hook['modalities'] == ['sar', 'dsm']
    assert 'rgb' in describe_modalities(cfg) and 'inactive' in describe_modalities(cfg)


def test_nested_dataset_wrappers_get_the_modalities_too():
    cfg = Config.fromfile(DFC)
    inner = cfg.train_dataloader.dataset
    cfg.train_dataloader.dataset = dict(
        type='ConcatDataset',
        datasets=[dict(type='RepeatDataset', times=2, dataset=inner), inner])
    cfg.modalities = ['sar']
    apply_modalities(cfg)
    selects = find_components(cfg.train_dataloader, 'SelectModalities')
    assert len(selects) == 2 and all(t['modalities'] == ['sar'] for t in selects)


def test_unknown_modality_lists_the_declared_ones():
    with pytest.raises(UnknownModalityError, match=r"\['rgb', 'sar', 'dsm'\]"):
        load_config(DFC, {'modalities': ['sar', 'lidar']})
    with pytest.raises(ValueError, match='empty'):
        load_config(DFC, {'modalities': []})


def test_single_modality_string_is_accepted():
    assert load_config(DFC, {'modalities': 'dsm'}).modalities == ['dsm']


def test_child_config_specs_reach_inherited_components(tmp_path):
    """A child that redeclares modality_specs gets them in its base's pipelines and hook."""
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{DFC}']\n"
                     "modality_specs = [dict(name='sar', channels=1, norm='dfc2023_sar'),\n"
                     "                  dict(name='dsm', channels=1, norm='tile_zscore')]\n"
                     "modalities = ['sar', 'dsm']\n")
    cfg = load_config(str(child))
    for type_name in ('LoadMultimodalImages', 'SelectModalities', 'ModalityDropoutHook',
                      'FusionViT', 'MultimodalDetDataPreprocessor'):
        for component in consumers(cfg, type_name):
            key = 'modalities' if type_name == 'FusionViT' else 'modality_specs'
            assert [d['name'] for d in component[key]] == ['sar', 'dsm'], type_name


def test_data_root_override_reaches_datasets_and_ann_file(tmp_path):
    cfg = load_config(DFC, {'data_root': '/real/dfc2023'})
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[key].dataset.data_root == '/real/dfc2023/'
    assert cfg.val_evaluator.ann_file == '/real/dfc2023/annotations/buildings_only_val.json'
    # a child config that sets data_root works the same way
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{DFC}']\ndata_root = '/elsewhere/'\n")
    cfg = load_config(str(child))
    assert cfg.test_dataloader.dataset.data_root == '/elsewhere/'
    assert cfg.test_evaluator.ann_file == '/elsewhere/annotations/buildings_only_val.json'
    assert sync_data_root(cfg) == 0  # idempotent


def test_schedule_decays_at_90_and_95_percent_of_any_length():
    import torch
    from mmengine.optim.scheduler.param_scheduler import INF
    from incomplete_fusion.engine.schedulers import RelativeMultiStepLR
    cfg = load_config(DFC)
    sched = cfg.param_scheduler
    assert sched.type == 'RelativeMultiStepLR' and 'end' not in sched
    optimizer = cfg.optim_wrapper.optimizer
    assert optimizer.lr == 1e-4 and optimizer.weight_decay == 0.05
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler = RelativeMultiStepLR(optimizer, milestones=(0.9, 0.95), gamma=0.1, end=200,
                                    by_epoch=False)
    lrs = []
    for _ in range(200):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    assert lrs[179] == pytest.approx(1e-4) and lrs[180] == pytest.approx(1e-5)
    assert lrs[189] == pytest.approx(1e-5) and lrs[190] == pytest.approx(1e-6)
    with pytest.raises(ValueError, match='finite'):
        RelativeMultiStepLR(optimizer, end=INF)


def test_instance_config_paper_settings():
    cfg = load_config(DFC)
    head = cfg.model.panoptic_head
    assert head.num_queries == 100 and head.num_things_classes == 1
    assert head.loss_cls.class_weight == [1.0, 0.1]
    assert cfg.val_evaluator.type == 'CocoMetric' and 'segm' in cfg.val_evaluator.metric
    sem = load_config(osp.join(CONFIG_DIR, 'mask2former_dfc2023_semantic.py'))
    assert sem.model.decode_head.num_queries == 2 and sem.model.decode_head.num_classes == 2
    quad = load_config(osp.join(CONFIG_DIR, 'mask2former_quadruplet.py'))
    assert quad.model.decode_head.num_queries == 9 and quad.model.decode_head.num_classes == 7
    assert quad.modalities == ['s1', 's2', 'dem', 'dw']
