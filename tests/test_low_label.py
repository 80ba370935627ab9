"""Low-label fine-tuning: the LabelledSubset wrapper and tools/low_label_study.py."""
import csv
import glob
import json
import os.path as osp

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


def in_process(script: str, *args: str) -> None:
    """experiments.tool_runs.run_tool without a fresh interpreter (saves ~10 s of imports per
    run on 2 cores); each run gets its own mmengine logger/visualizer."""
    from test_pretrain_train import fresh_run
    load_tool(osp.splitext(script)[0]).main([*args, '--cfg-options', *fresh_run()])


def tiny_study_args(tmp_path, *extra):
    from test_robustness_study import tiny_multimae_preset
    return ['--work-dir', str(tmp_path / 'study'), '--iters', '1', '--pretrain-epochs', '1',
            '--preset', tiny_preset(str(tmp_path / 'tiny_preset.py')),
            '--multimae-preset', tiny_multimae_preset(str(tmp_path / 'tiny_mae.py')),
            '--num-train', '4', '--num-val', '2', '--num-test', '2', '--tile-size', '64',
            '--results-dir', str(tmp_path / 'published'), '--seeds', '0',
            '--fractions', '0.5', *extra]


def test_table_per_init_and_fraction_on_known_inputs(tmp_path):
    """Per seed: the subsets, their mean and minimum; the table: mean ± std (ddof 1)."""
    from incomplete_fusion.experiments import SeedStatistics
    from incomplete_fusion.experiments.low_label import to_markdown, write_csv
    rgb, dsm, both = ('rgb',), ('dsm',), ('rgb', 'dsm')
    stats = SeedStatistics(('rgb', 'dsm'), {
        'scratch 0.5': {0: {rgb: 10, dsm: 50, both: 60}, 1: {rgb: 20, dsm: 40, both: 70}},
        'multimae 0.5': {0: {rgb: 5, dsm: 3, both: 7}, 1: {rgb: 1, dsm: 2, both: 9}}})
    keys = [('scratch', 0.5), ('multimae', 0.5)]
    write_csv(str(tmp_path / 't.csv'), stats, keys)
    with open(tmp_path / 't.csv') as f:
        rows = [[row[0], row[1], row[2]] + [float(v) for v in row[3:]]
                for row in list(csv.reader(f))[1:]]
    assert rows == [['scratch', '0.5', '0', 10, 50, 60, 40, 10],
                    ['scratch', '0.5', '1', 20, 40, 70, pytest.approx(130 / 3), 20],
                    ['multimae', '0.5', '0', 5, 3, 7, 5, 3],
                    ['multimae', '0.5', '1', 1, 2, 9, 4, 1]]
    lines = [line.split(' | ') for line in to_markdown(stats, keys).splitlines()]
    assert lines[0][2:] == ['RGB', 'DSM', 'RGB+DSM', 'mean over subsets', 'worst subset |']
    assert lines[2][1:] == ['0.5', '15.0 ± 7.1', '45.0 ± 7.1', '65.0 ± 7.1', '41.7 ± 2.4',
                            '15.0 ± 7.1 |']
    assert lines[3][1:] == ['0.5', '3.0 ± 2.8', '2.5 ± 0.7', '8.0 ± 1.4', '4.5 ± 0.7',
                            '2.0 ± 1.4 |']


def test_study_pretrains_per_seed_fine_tunes_publishes_and_restores(tmp_path, monkeypatch):
    from incomplete_fusion.experiments import tool_runs
    monkeypatch.setattr(tool_runs, 'run_tool', in_process)
    study = load_tool('low_label_study')
    argv = tiny_study_args(tmp_path)
    study.main(argv)
    work_dir = tmp_path / 'study'
    with open(work_dir / 'low_label.csv') as f:
        rows = list(csv.DictReader(f))
    assert [(r['init'], float(r['fraction']), r['seed']) for r in rows] == [
        ('scratch', 0.5, '0'), ('multimae', 0.5, '0')]
    assert list(rows[0])[3:] == ['RGB', 'SAR', 'DSM', 'RGB+SAR', 'RGB+DSM', 'SAR+DSM',
                                 'RGB+SAR+DSM', 'mean over subsets', 'worst subset']
    assert (work_dir / 'low_label.md').read_text().count('\n|') == 3
    assert (work_dir / 'low_label_val.md').exists()
    assert (work_dir / 'low_label.png').read_bytes()[:4] == b'\x89PNG'
    pretrained = str(work_dir / 'seed0' / 'multimae' / 'train' / 'epoch_1.pth')
    for init in ('scratch', 'multimae'):
        for fraction, kept in (('0.5', '2/4'),):
            run = work_dir / 'seed0' / f'{init}_f{fraction}'
            log = ''.join(open(p).read() for p in glob.glob(str(run / 'train' / '*' / '*.log')))
            assert f'LabelledSubset: {kept} samples' in log
            assert (pretrained in log) == (init == 'multimae'), 'init_cfg not applied'
            cfg = Config.fromfile(glob.glob(str(run / '*.py'))[0])
            keys = cfg.optim_wrapper.paramwise_cfg.custom_keys  # the fine-tuning recipe
            assert keys.get('backbone', {}).get('lr_mult', 1.0) == (
                0.1 if init == 'multimae' else 1.0)
            assert cfg.test_dataloader.dataset.ann_file == 'annotations/buildings_only_test.json'
            assert (tmp_path / 'published' / 'tiny_preset_1it_data0' / 'seed0' /
                    f'{init}_f{fraction}.test.csv').exists()
    table = (work_dir / 'low_label.csv').read_text()
    fresh = tmp_path / 'fresh'  # a fresh machine: everything restored, nothing trained
    study.main([str(fresh) if a == str(work_dir) else a for a in argv])
    assert (fresh / 'low_label.csv').read_text() == table
    assert not glob.glob(str(fresh / 'seed0' / '*' / 'train'))


def test_a_given_checkpoint_replaces_the_pretraining(dfc2023_root, tmp_path, capsys):
    study = load_tool('low_label_study')
    given = str(tmp_path / 'given.pth')
    argv = ['--work-dir', str(tmp_path / 'w'), '--data-root', dfc2023_root, '--dry-run',
            '--pretrained', given, '--results-dir', '', '--seeds', '1', '--fractions', '0.25']
    study.main(argv)
    plan = capsys.readouterr().out
    assert 'pretrain' not in plan and '[seed 1 multimae 0.25] train:' in plan
    settings = study.settings_of(study.parse_args(argv))
    from incomplete_fusion.experiments.low_label import check_pretrained, plan as make_plan
    runs = make_plan(settings, str(tmp_path / 'w'), dfc2023_root)
    assert len(runs) == 2 and not any(r.needs for r in runs)
    assert {r.cfg.model.backbone.init_cfg.checkpoint for r in runs if 'multimae' in r.variant} \
        == {given}
    with pytest.raises(FileNotFoundError, match='does not exist'):
        check_pretrained(given)
    torch.save({'state_dict': {'head.weight': torch.zeros(1)}}, given)
    with pytest.raises(ValueError, match='no backbone'):
        check_pretrained(given)
    with pytest.raises(SystemExit):
        study.parse_args(['--fractions', '0'])
