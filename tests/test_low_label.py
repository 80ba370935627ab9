"""Low-label fine-tuning: the LabelledSubset wrapper and tools/low_label_study.py."""
import csv
import glob
import json
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.config import Config

from incomplete_fusion.binding import bind
from incomplete_fusion.datasets import LabelledSubset
from incomplete_fusion.datasets.label_subset import allocate, wrap_train_dataset
from incomplete_fusion.modalities import ModalitySet
from incomplete_fusion.registry import DATASETS
from incomplete_fusion.testing import generate

from incomplete_fusion.testing.tiny import SIZE, TINY_BACKBONE, TINY_NECK, load_tool, tiny_head

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
EMPTY_TILES = (2, 5, 9)  # tiles of `strata_root` without buildings


@pytest.fixture(scope='module')
def strata_root(tmp_path_factory):
    """12 DFC2023 training tiles; three have their buildings removed from the json."""
    root = str(tmp_path_factory.mktemp('lowlabel') / 'dfc2023')
    generate('dfc2023', root, num_train=12, num_val=2, size=32, seed=0)
    path = osp.join(root, 'annotations', 'buildings_only_train.json')
    with open(path) as f:
        coco = json.load(f)
    ids = sorted(image['id'] for image in coco['images'])
    empty = {ids[i] for i in EMPTY_TILES}
    coco['annotations'] = [a for a in coco['annotations'] if a['image_id'] not in empty]
    with open(path, 'w') as f:
        json.dump(coco, f)
    return root


def subset(root, kind='DFC2023BuildingSegDataset', pipeline=(), **kwargs):
    return LabelledSubset(dataset=dict(type=kind, data_root=root, pipeline=list(pipeline)),
                          **kwargs)


@pytest.mark.parametrize('kind', ['DFC2023BuildingSegDataset', 'DFC2023InstanceDataset'])
def test_strata_are_building_present_or_not_and_both_are_kept(strata_root, kind):
    for fraction in (0.2, 0.25, 0.5):  # 2, 3 and 6 tiles
        wrapper = subset(strata_root, kind, fraction=fraction, seed=3)
        assert len(wrapper) == max(1, round(12 * fraction))
        assert wrapper.stratum_counts['none'][1] == 3
        assert wrapper.stratum_counts['building'][1] == 9
        assert set(wrapper.strata) == {'none', 'building'}  # both strata kept
        for idx, stratum in zip(wrapper.indices, wrapper.strata):
            assert (stratum == 'none') == (idx in EMPTY_TILES)
        for kept, available in wrapper.stratum_counts.values():  # proportional shares
            assert abs(kept - len(wrapper) * available / 12) < 1


def test_subset_is_seeded_reproducible_and_nested(strata_root):
    a = subset(strata_root, fraction=0.5, seed=1).indices
    assert subset(strata_root, fraction=0.5, seed=1).indices == a
    assert any(subset(strata_root, fraction=0.5, seed=s).indices != a for s in (2, 3, 4))
    assert set(subset(strata_root, fraction=0.25, seed=1).indices) <= set(a)
    assert subset(strata_root, count=12).indices == list(range(12))
    assert len(subset(strata_root, count=5, stratify=False)) == 5


def test_allocation_keeps_every_stratum_while_there_is_room():
    assert allocate([9, 3], 2) == [1, 1]
    assert allocate([98, 1, 1], 3) == [1, 1, 1]
    assert allocate([98, 1, 1], 10) == [8, 1, 1]
    assert allocate([5, 5], 1) in ([1, 0], [0, 1])
    assert sum(allocate([7, 4, 2], 9)) == 9


def test_size_errors(strata_root):
    for kwargs, match in [(dict(fraction=0.0), r'\(0, 1\]'), (dict(fraction=1.5), r'\(0, 1\]'),
                          (dict(fraction=-0.1), r'\(0, 1\]'), (dict(count=0), '>= 1'),
                          (dict(fraction=0.5, count=2), 'exactly one'), ({}, 'exactly one')]:
        with pytest.raises(ValueError, match=match):
            subset(strata_root, **kwargs)
    with pytest.raises(ValueError, match='only 12 samples'):
        subset(strata_root, count=13)
    with pytest.raises(ValueError, match='exactly one'):
        wrap_train_dataset(Config(dict(train_dataloader=dict(dataset=dict()))))


def test_lulc_labels_stratify_by_dominant_class(quadruplet_root):
    wrapper = subset(quadruplet_root, 'QuadrupletLULCDataset', count=2, seed=0)
    classes = wrapper.metainfo['classes']
    assert wrapper.strata and set(wrapper.stratum_counts) <= set(classes)
    assert sum(a for _, a in wrapper.stratum_counts.values()) == 4


def test_samples_follow_the_runs_active_modalities(dfc2023_root, dfc2023_modality_specs):
    """bind() reaches the wrapped dataset: an inactive modality loads as NaN."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')  # as the config's default_scope (PackSegInputs)
    pipeline = [dict(type='LoadMultimodalImages'), dict(type='LoadAnnotations'),
                dict(type='PackSegInputs')]
    wrapper = DATASETS.build(dict(
        type='LabelledSubset', fraction=0.5, seed=0,
        dataset=dict(type='DFC2023BuildingSegDataset', data_root=dfc2023_root,
                     pipeline=pipeline)))
    assert bind(ModalitySet.from_config(dfc2023_modality_specs, ['rgb', 'dsm']), wrapper) >= 2
    assert len(wrapper) == 2
    for i in range(len(wrapper)):
        assert wrapper.get_data_info(i)['modality_paths']['sar'] is None
        inputs = wrapper[i]['inputs']  # (C, H, W): rgb 0-2, sar 3, dsm 4
        assert torch.isnan(inputs[3]).all()
        assert torch.isfinite(inputs[[0, 1, 2, 4]]).all()


def test_config_root_wraps_the_train_set_and_takes_the_preset(dfc2023_root):
    from incomplete_fusion.utils import load_config
    from incomplete_fusion.experiments import compose_config
    root = osp.join(REPO, 'configs', 'fusionvit', 'mask2former_dfc2023_semantic_lowlabel.py')
    cfg = load_config(root)
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'LabelledSubset' and dataset.fraction == 0.1
    assert dataset.dataset.type == 'DFC2023BuildingSegDataset'
    assert cfg.val_dataloader.dataset.type == 'DFC2023BuildingSegDataset'
    preset = compose_config(root, osp.join(REPO, 'configs', 'demo', 'cpu_preset.py'))
    assert preset.train_dataloader.dataset.pipeline[2].scale == (128, 128)  # -> pipeline=
    from mmengine.registry import init_default_scope
    init_default_scope(preset.default_scope)
    wrapper = DATASETS.build(dict(preset.train_dataloader.dataset, fraction=0.5,
                                  dataset=dict(preset.train_dataloader.dataset.dataset,
                                               data_root=dfc2023_root)))
    assert len(wrapper) == 2
    assert wrapper.dataset.pipeline.transforms[2].scale == (128, 128)


def tiny_preset(path: str) -> str:
    """The study's --preset at test sizes: the tiny model of test_config_tiny, 64x64."""
    resize = dict(type='MultimodalResize', scale=SIZE, keep_ratio=True)
    train_pipeline = [dict(type='LoadMultimodalImages'), dict(type='LoadAnnotations'), resize,
                      dict(type='PackSegInputs')]
    test_pipeline = [dict(type='LoadMultimodalImages'), resize, dict(type='LoadAnnotations'),
                     dict(type='PackSegInputs')]
    loader = dict(batch_size=2, num_workers=0, persistent_workers=False)
    head = tiny_head(2)
    head['train_cfg'] = dict(num_points=256)
    Config(dict(
        model=dict(data_preprocessor=dict(size=SIZE), backbone=TINY_BACKBONE, neck=TINY_NECK,
                   decode_head=head),
        train_dataloader=dict(loader, dataset=dict(pipeline=train_pipeline)),
        val_dataloader=dict(loader, dataset=dict(pipeline=test_pipeline)),
        test_dataloader=dict(loader, dataset=dict(pipeline=test_pipeline)),
        default_hooks=dict(checkpoint=dict(save_best=None), logger=dict(interval=1)),
    )).dump(path)
    return path


@pytest.fixture(scope='module')
def multimae_checkpoint(dfc2023_root, tmp_path_factory):
    """A 1-iteration MultiMAE pretraining of configs/fusionvit/multimae_dfc2023.py."""
    from test_pretrain_train import fresh_run, tiny_pretrain_config
    tmp = tmp_path_factory.mktemp('multimae')
    config = tiny_pretrain_config(str(tmp), 'multimae_dfc2023', dfc2023_root, epochs=1)
    cfg = Config.fromfile(config)
    cfg.train_dataloader.batch_size = 4  # 4 tiles: one iteration
    cfg.dump(config)
    work_dir = str(tmp / 'work')
    load_tool('train').main([config, '--work-dir', work_dir, '--cfg-options', *fresh_run()])
    return osp.join(work_dir, 'epoch_1.pth')


def in_process(script: str, *args: str) -> None:
    """experiments.tool_runs.run_tool without a fresh interpreter (saves ~10 s of imports per
    run on 2 cores); each run gets its own mmengine logger/visualizer."""
    from test_pretrain_train import fresh_run
    load_tool(osp.splitext(script)[0]).main([*args, '--cfg-options', *fresh_run()])


def test_study_two_fractions_two_inits(multimae_checkpoint, dfc2023_root, tmp_path,
                                       monkeypatch):
    from incomplete_fusion.experiments import tool_runs
    monkeypatch.setattr(tool_runs, 'run_tool', in_process)
    work_dir = tmp_path / 'study'
    study = load_tool('low_label_study')
    argv = ['--work-dir', str(work_dir), '--data-root', dfc2023_root,
            '--pretrained', multimae_checkpoint, '--fractions', '0.5', '1.0',
            '--preset', tiny_preset(str(tmp_path / 'tiny_preset.py')), '--iters', '1']
    study.main(argv)
    with open(work_dir / 'low_label.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['init'], float(r['fraction'])) for r in rows] == [
        ('scratch', 0.5), ('scratch', 1.0), ('multimae', 0.5), ('multimae', 1.0)]
    assert list(rows[0])[2:] == ['RGB', 'SAR', 'DSM', 'RGB+SAR', 'RGB+DSM', 'SAR+DSM',
                                 'RGB+SAR+DSM', 'mean']
    assert all(np.isfinite(float(v)) for r in rows for v in list(r.values())[2:])
    assert (work_dir / 'low_label.md').read_text().count('\n|') == 5
    assert (work_dir / 'low_label.png').read_bytes()[:4] == b'\x89PNG'
    for init in ('scratch', 'multimae'):
        for fraction, kept in (('0.5', '2/4'), ('1', '4/4')):
            run = work_dir / f'{init}_f{fraction}'
            log = ''.join(open(p).read() for p in glob.glob(str(run / 'train' / '*' / '*.log')))
            assert f'LabelledSubset: {kept} samples' in log
            assert (multimae_checkpoint in log) == (init == 'multimae'), 'init_cfg not applied'
            assert (run / 'subset_eval.csv').exists()
    table = (work_dir / 'low_label.csv').read_text()
    for run in glob.glob(str(work_dir / '*_f*')):  # finished runs are reused, not retrained
        shutil.rmtree(osp.join(run, 'train'))
    study.main(argv)
    assert (work_dir / 'low_label.csv').read_text() == table
