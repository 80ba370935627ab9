"""Shipped configs: layered bases, one modality declaration, and its binding.

The top-level ``modality_specs``/``modalities``/``data_root`` are the only place the
modalities are declared; components get them from the run (the loops bind them), so
no pipeline step, hook or preprocessor carries a copy that ``--cfg-options`` would
leave stale. The entry-point tests (test_entry_points.py) run the stock tools.
"""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config

from incomplete_fusion.binding import (ModalitiesNotBoundError, bind, iter_consumers,
                                       modality_set_of)
from incomplete_fusion.datasets.transforms import LoadMultimodalImages
from incomplete_fusion.engine.data_root import iter_dicts, rebase_data_root, stale_data_root
from incomplete_fusion.modalities import ModalitySet, UnknownModalityError
from incomplete_fusion.registry import MODELS
from incomplete_fusion.testing.tiny import CONFIG_DIR, REPO

MINE = sorted(p for p in glob.glob(osp.join(CONFIG_DIR, '*.py'))
              if osp.basename(p).startswith(('mask2former_', 'multivit_'))
              # the pretraining configs' tests; the fill-in wrapper's: test_fill_in.py
              and not p.endswith(('_finetune.py', '_fillin.py')))
ROOTS = sorted(glob.glob(osp.join(CONFIG_DIR, '*.py')))
DFC = osp.join(CONFIG_DIR, 'mask2former_dfc2023.py')
# components that must take the modalities from the run, never from their own dict
BOUND_TYPES = ('LoadMultimodalImages', 'ModalityDropoutHook', 'MultimodalSegDataPreprocessor',
               'MultimodalDetDataPreprocessor')


def code_lines(path):
    with open(path) as f:
        return [line for line in f if line.strip() and not line.strip().startswith('#')]


def test_all_variants_exist():
    names = {osp.splitext(osp.basename(p))[0] for p in MINE}
    for task in ('dfc2023', 'dfc2023_semantic', 'quadruplet'):
        assert {f'mask2former_{task}', f'multivit_{task}', f'mask2former_{task}_wo-mask',
                f'mask2former_{task}_wo-random', f'mask2former_{task}_wo-modality-attn'} <= names


@pytest.mark.parametrize('path', ROOTS, ids=lambda p: osp.basename(p))
def test_task_roots_are_short_diffs_over_the_base_layers(path):
    assert len(code_lines(path)) <= 60
    cfg = Config.fromfile(path)
    assert cfg.train_cfg.type.startswith('Modality')  # the binding loops come from the bases
    for layer in ('models', 'datasets', 'schedules'):
        assert glob.glob(osp.join(REPO, 'configs', '_base_', layer, '*.py'))


@pytest.mark.parametrize('path', MINE, ids=lambda p: osp.basename(p))
def test_one_declaration_and_the_binding_loops(path):
    cfg = Config.fromfile(path)
    specs = [dict(s) for s in cfg.modality_specs]
    assert cfg.model.backbone.type == 'FusionViT'
    assert [dict(s) for s in cfg.model.backbone.modality_specs] == specs
    assert (cfg.train_cfg.type, cfg.val_cfg.type, cfg.test_cfg.type) == (
        'ModalityIterBasedTrainLoop', 'ModalityValLoop', 'ModalityTestLoop')
    for node in iter_dicts(cfg._cfg_dict):
        if node.get('type') in BOUND_TYPES:
            assert not {'modalities', 'modality_specs'} & set(node), node
    name = osp.basename(path)
    backbone = cfg.model.backbone
    assert backbone.masked_attention == ('wo-mask' not in name and 'multivit' not in name)
    assert backbone.modality_attention == ('wo-modality-attn' not in name
                                           and 'multivit' not in name)
    hooks = [h for h in cfg.get('custom_hooks', []) if h['type'] == 'ModalityDropoutHook']
    assert bool(hooks) == ('wo-random' not in name and 'multivit' not in name)
    # the switches reach the built backbone (small sizes: only the flags matter here)
    built = MODELS.build(dict(backbone, embed_dims=32, depth=1, num_heads=2, out_indices=(0, )))
    assert (built.masked_attention, built.modality_attention) == (backbone.masked_attention,
                                                                  backbone.modality_attention)


def test_the_run_set_follows_cfg_options():
    cfg = Config.fromfile(DFC)
    cfg.merge_from_dict({'modalities': ['dsm', 'sar']})
    mset = modality_set_of(cfg)
    assert mset.active == ('sar', 'dsm') and mset.inactive == ('rgb', )  # declared order
    assert 'inactive' in mset.describe() and 'rgb' in mset.describe()
    cfg.merge_from_dict({'modalities': 'dsm'})  # `--cfg-options modalities=dsm`
    assert modality_set_of(cfg).active == ('dsm', )


def test_unknown_or_empty_modalities_list_the_declared_ones():
    cfg = Config.fromfile(DFC)
    cfg.modalities = ['sar', 'lidar']
    with pytest.raises(UnknownModalityError, match=r"\['rgb', 'sar', 'dsm'\]"):
        modality_set_of(cfg)
    cfg.modalities = []
    with pytest.raises(ValueError, match='empty'):
        modality_set_of(cfg)


def test_unbound_consumer_says_what_to_add(dfc2023_root):
    with pytest.raises(ModalitiesNotBoundError, match='ModalityIterBasedTrainLoop'):
        LoadMultimodalImages()(dict(modality_paths={}))


def test_bind_reaches_nested_dataset_wrappers_and_the_model(dfc2023_root):
    from mmengine.registry import init_default_scope
    from mmseg.registry import DATASETS
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_dfc2023_semantic.py'))
    inner = dict(cfg.train_dataloader.dataset, data_root=dfc2023_root)
    wrapped = DATASETS.build(dict(type='ConcatDataset', datasets=[
        dict(type='RepeatDataset', times=2, dataset=inner), inner]))
    model = MODELS.build(dict(cfg.model.backbone, embed_dims=32, depth=1, num_heads=2,
                              out_indices=(0, )))
    mset = modality_set_of(cfg).with_active(['sar'])
    bind(mset, wrapped, model)
    bound = [c for c in iter_consumers(wrapped, model) if c.is_bound]
    assert [type(c).__name__ for c in bound].count('LoadMultimodalImages') == 2
    assert model in bound and all(c.modality_set is mset for c in bound)
    sample = wrapped[0]
    img = sample['inputs'].numpy()
    assert np.isnan(img[[0, 1, 2, 4]]).all() and np.isfinite(img[3]).any()


def test_backbone_declaration_must_match_the_run(tmp_path):
    """A child that redeclares modality_specs but not the backbone's fails on binding."""
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{DFC}']\n"
                     "modality_specs = [dict(name='sar', channels=1, norm='dfc2023_sar'),\n"
                     "                  dict(name='dsm', channels=1, norm='tile_zscore')]\n"
                     "modalities = ['sar', 'dsm']\n")
    cfg = Config.fromfile(str(child))
    backbone = MODELS.build(dict(cfg.model.backbone, embed_dims=32, depth=1, num_heads=2,
                                 out_indices=(0, )))
    with pytest.raises(ValueError, match='modality_specs'):
        bind(modality_set_of(cfg), backbone)
    fixed = MODELS.build(dict(cfg.model.backbone, modality_specs=cfg.modality_specs,
                              embed_dims=32, depth=1, num_heads=2, out_indices=(0, )))
    assert bind(modality_set_of(cfg), fixed) == 1


def test_data_preprocessor_nans_inactive_channels():
    from mmseg.structures import SegDataSample
    specs = [dict(s) for s in Config.fromfile(DFC).modality_specs]
    pre = MODELS.build(dict(type='MultimodalSegDataPreprocessor', size=(32, 32)))
    data = dict(inputs=[torch.ones(5, 32, 32)], data_samples=[SegDataSample()])
    with pytest.raises(ModalitiesNotBoundError):
        pre(dict(data))
    bind(ModalitySet.from_config(specs, ['sar']), pre)
    out = pre(dict(inputs=[torch.ones(5, 32, 32)], data_samples=[SegDataSample()]))['inputs']
    assert torch.isnan(out[0, [0, 1, 2, 4]]).all() and (out[0, 3] == 1).all()
    with pytest.raises(ValueError, match='channels'):
        pre(dict(inputs=[torch.ones(4, 32, 32)], data_samples=[SegDataSample()]))


def test_data_root_override_reaches_datasets_and_ann_file(tmp_path):
    cfg = Config.fromfile(DFC)
    cfg.merge_from_dict({'data_root': '/real/dfc2023'})
    roots = stale_data_root(cfg)
    assert roots == ('data/synthetic/dfc2023', '/real/dfc2023')
    loader = rebase_data_root(cfg.test_dataloader, roots)
    assert loader.dataset.data_root == '/real/dfc2023/'
    assert cfg.test_dataloader.dataset.data_root == 'data/synthetic/dfc2023/'  # a copy
    evaluator = rebase_data_root(cfg.val_evaluator, roots)
    assert evaluator.ann_file == '/real/dfc2023/annotations/buildings_only_val.json'
    # a child config that sets data_root works the same way
    child = tmp_path / 'child.py'
    child.write_text(f"_base_ = ['{DFC}']\ndata_root = '/elsewhere/'\n")
    assert stale_data_root(Config.fromfile(str(child))) == ('data/synthetic/dfc2023', '/elsewhere')
    assert stale_data_root(Config.fromfile(DFC)) is None


def test_schedule_decays_at_90_and_95_percent_of_any_length():
    import torch
    from mmengine.optim.scheduler.param_scheduler import INF
    from incomplete_fusion.engine.schedulers import RelativeMultiStepLR
    cfg = Config.fromfile(DFC)
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
    cfg = Config.fromfile(DFC)
    head = cfg.model.panoptic_head
    assert head.num_queries == 100 and head.num_things_classes == 1
    assert head.loss_cls.class_weight == [1.0, 0.1]
    assert cfg.val_evaluator.type == 'CocoMetric' and 'segm' in cfg.val_evaluator.metric
    sem = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_dfc2023_semantic.py'))
    assert sem.model.decode_head.num_queries == 2 and sem.model.decode_head.num_classes == 2
    quad = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_quadruplet.py'))
    assert quad.model.decode_head.num_queries == 9 and quad.model.decode_head.num_classes == 7
    assert quad.modalities == ['s1', 's2', 'dem', 'dw']
