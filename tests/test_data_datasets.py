"""DFC2023 instance / semantic and quadruplet LULC datasets on generated data."""
import json
import os
import shutil
import warnings

import numpy as np
import pytest
import rasterio
from mmdet.registry import DATASETS as DET_DATASETS
from mmengine.registry import DefaultScope
from mmseg.registry import DATASETS as SEG_DATASETS
from pycocotools import mask as mask_utils

from incomplete_fusion.binding import ModalitiesNotBoundError
from incomplete_fusion.datasets import (DataNotFoundError, DFC2023BuildingSegDataset,
                                        DFC2023InstanceDataset, MissingModalityWarning,
                                        QuadrupletLULCDataset)
from incomplete_fusion.datasets.dfc2023 import segmentation_to_mask
from incomplete_fusion.datasets.quadruplet import QUADRUPLET_MERGE_9_TO_7
from incomplete_fusion.testing import generate, polygon_to_rle

GEO_META = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
            'flip_direction', 'crs', 'transform', 'modality_slices', 'modality_names')


def in_scope(scope, build, *args, **kwargs):
    """Build a dataset as a runner would: its pipeline resolves names in ``scope``."""
    with DefaultScope.overwrite_default_scope(scope):
        return build(*args, **kwargs)


def det_pipeline():
    return [
        dict(type='LoadMultimodalImages'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True, poly2mask=True),
        dict(type='PackDetInputs', meta_keys=GEO_META),
    ]


def test_instance_dataset_building_is_label_zero_and_samples_pack(dfc2023_root, bound,
                                                                  dfc2023_modality_specs):
    ds = bound(in_scope('mmdet', DET_DATASETS.build, dict(
        type='DFC2023InstanceDataset', data_root=dfc2023_root,
        ann_file='annotations/buildings_only_val.json', data_prefix=dict(img='val/'),
        pipeline=det_pipeline())), dfc2023_modality_specs)
    assert len(ds) == 2 and ds.metainfo['classes'] == ('building', )
    with open(os.path.join(dfc2023_root, 'annotations/buildings_only_val.json')) as f:
        coco = json.load(f)
    info = ds.get_data_info(0)
    assert set(info['modality_paths']) == {'rgb', 'sar', 'dsm'}
    assert all(os.path.exists(p) for p in info['modality_paths'].values())
    n_anns = sum(a['image_id'] == info['img_id'] for a in coco['annotations'])
    packed = ds[0]
    inputs, sample = packed['inputs'], packed['data_samples']
    assert tuple(inputs.shape) == (5, 64, 64) and inputs.dtype.is_floating_point
    assert len(sample.gt_instances) == n_anns > 0
    assert (sample.gt_instances.labels == 0).all()
    assert sample.metainfo['crs'].to_epsg() == 32632
    assert sample.metainfo['modality_slices']['dsm'] == (4, 5)


def test_rle_and_polygon_give_identical_masks(tmp_path, dfc2023_root, dfc2023_modality_specs,
                                              bound):
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    polygon = [10.3, 12.0, 40.7, 15.2, 37.1, 44.9, 22.0, 50.5, 8.8, 30.1]
    coco = json.loads((root / 'annotations/buildings_only_val.json').read_text())
    image = coco['images'][0]
    coco['annotations'] = [
        dict(id=1, image_id=image['id'], category_id=1, segmentation=[polygon], iscrowd=0,
             area=900.0, bbox=[8.8, 12.0, 31.9, 38.5]),
        dict(id=2, image_id=image['id'], category_id=1, iscrowd=0, area=900.0,
             segmentation=polygon_to_rle(polygon, image['height'], image['width']),
             bbox=[8.8, 12.0, 31.9, 38.5]),
    ]
    (root / 'annotations/buildings_only_val.json').write_text(json.dumps(coco))
    ds = bound(in_scope('mmdet', DFC2023InstanceDataset, data_root=str(root),
                        ann_file='annotations/buildings_only_val.json',
                        data_prefix=dict(img='val/'), pipeline=det_pipeline()),
               dfc2023_modality_specs)
    masks = ds[0]['data_samples'].gt_instances.masks.masks
    assert masks.shape[0] == 2 and masks[0].sum() > 500
    np.testing.assert_array_equal(masks[0], masks[1])
    # The semantic dataset rasterises both forms to the same pixels as well.
    np.testing.assert_array_equal(segmentation_to_mask([polygon], 64, 64),
                                  segmentation_to_mask(coco['annotations'][1]['segmentation'],
                                                       64, 64))


def test_generated_json_mixes_polygons_and_rle(dfc2023_root):
    with open(os.path.join(dfc2023_root, 'annotations/buildings_only_train.json')) as f:
        anns = json.load(f)['annotations']
    kinds = {type(a['segmentation']).__name__ for a in anns}
    assert kinds == {'list', 'dict'}


def test_height_folder_is_accepted(tmp_path, dfc2023_modality_specs, bound):
    root = str(tmp_path / 'd')
    generate('dfc2023', root, num_train=1, num_val=1, size=32, seed=1, height_dirname='height')
    ds = bound(in_scope('mmdet', DFC2023InstanceDataset, data_root=root,
                        pipeline=det_pipeline()), dfc2023_modality_specs)
    assert '/height/' in ds.get_data_info(0)['modality_paths']['dsm']
    assert np.isfinite(ds[0]['inputs'][4].numpy()).all()


def test_building_semantic_masks_are_cached_and_match_annotations(
        tmp_path, dfc2023_root, dfc2023_modality_specs, bound):
    pipeline = [dict(type='LoadMultimodalImages'),
                dict(type='LoadAnnotations'),
                dict(type='PackSegInputs', meta_keys=GEO_META[:4] + GEO_META[7:])]
    cfg = dict(type='DFC2023BuildingSegDataset', data_root=dfc2023_root,
               ann_file='annotations/buildings_only_train.json',
               data_prefix=dict(img_path='train/'), mask_cache_dir=str(tmp_path / 'cache'),
               pipeline=pipeline)
    ds = in_scope('mmseg', SEG_DATASETS.build, cfg)
    assert ds.metainfo['classes'] == ('background', 'building') and len(ds) == 4
    cached = sorted(os.listdir(next((tmp_path / 'cache').iterdir())))
    assert len(cached) == 4
    stamps = {p: os.stat(p).st_mtime_ns for p in (ds.get_data_info(i)['seg_map_path']
                                                  for i in range(4))}
    # A second epoch / second run re-rasterises nothing.
    ds2 = bound(in_scope('mmseg', SEG_DATASETS.build, cfg), dfc2023_modality_specs)
    assert {p: os.stat(p).st_mtime_ns for p in stamps} == stamps
    packed = ds2[1]
    gt = packed['data_samples'].gt_sem_seg.data[0].numpy()
    info = ds2.get_data_info(1)
    with open(os.path.join(dfc2023_root, 'annotations/buildings_only_train.json')) as f:
        coco = json.load(f)
    expected = np.zeros((64, 64), np.uint8)
    for ann in coco['annotations']:
        if ann['image_id'] == info['img_id']:
            seg = ann['segmentation']
            rle = (mask_utils.merge(mask_utils.frPyObjects(seg, 64, 64)) if isinstance(seg, list)
                   else dict(size=seg['size'], counts=seg['counts'].encode()))
            expected |= mask_utils.decode(rle)
    np.testing.assert_array_equal(gt, expected)
    assert tuple(packed['inputs'].shape) == (5, 64, 64)


@pytest.mark.parametrize('num_classes', [7, 9])
def test_quadruplet_labels_merged_or_full(quadruplet_root, quadruplet_modality_specs,
                                          num_classes, bound):
    pipeline = [dict(type='LoadMultimodalImages'),
                dict(type='LoadLabelRaster'),
                dict(type='PackSegInputs', meta_keys=GEO_META[:4] + GEO_META[7:])]
    ds = bound(in_scope('mmseg', SEG_DATASETS.build, dict(
        type='QuadrupletLULCDataset', data_root=quadruplet_root, ann_file='splits/train.txt',
        num_classes=num_classes, pipeline=pipeline)), quadruplet_modality_specs)
    assert len(ds) == 4 and len(ds.metainfo['classes']) == num_classes
    info = ds.get_data_info(0)
    with rasterio.open(info['seg_map_path']) as src:
        raw = src.read(1)
    packed = ds[0]
    gt = packed['data_samples'].gt_sem_seg.data[0].numpy()
    lut = np.full(256, 255)
    lut[:9] = QUADRUPLET_MERGE_9_TO_7 if num_classes == 7 else np.arange(9)
    np.testing.assert_array_equal(gt, lut[raw])
    assert (gt == 255).any() and set(np.unique(gt)) <= set(range(num_classes)) | {255}
    inputs = packed['inputs'].numpy()
    assert inputs.shape == (8, 64, 64)
    dw = inputs[7]
    assert np.array_equal(dw, np.round(dw)) and dw.min() >= 0 and dw.max() <= 8
    assert packed['data_samples'].metainfo['modality_slices']['s2'] == (2, 6)


def test_quadruplet_rejects_other_class_counts(quadruplet_root):
    with pytest.raises(ValueError, match='7 .* or 9'):
        QuadrupletLULCDataset(data_root=quadruplet_root, num_classes=5)


def test_datasets_are_registered_in_the_root_registry():
    from incomplete_fusion.registry import DATASETS
    for name in ('DFC2023InstanceDataset', 'DFC2023BuildingSegDataset', 'QuadrupletLULCDataset'):
        assert DATASETS.get(name) is not None
    assert DATASETS.get('DFC2023BuildingSegDataset') is DFC2023BuildingSegDataset


# --------------------------------------------------------------------------- modality folders
def test_folders_default_to_spec_names_and_inactive_files_are_never_touched(
        tmp_path, dfc2023_root, dfc2023_modality_specs, bound):
    """The dataset is built before the run's set is bound; paths follow the ACTIVE set."""
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    shutil.rmtree(root / 'val' / 'dsm')  # inactive below: its folder is not even needed
    ds = in_scope('mmdet', DFC2023InstanceDataset, data_root=str(root), pipeline=det_pipeline(),
                  ann_file='annotations/buildings_only_val.json', data_prefix=dict(img='val/'))
    assert 'modality_paths' not in ds.get_data_info(0)  # unbound: nothing resolved yet
    with pytest.raises(ModalitiesNotBoundError, match='ModalityTestLoop'):
        ds[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        bound(ds, dfc2023_modality_specs, active=['rgb', 'sar'])
        packed = ds[0]
    assert not [w for w in caught if issubclass(w.category, MissingModalityWarning)]
    paths = ds.get_data_info(0)['modality_paths']
    assert paths['dsm'] is None and paths['rgb'].endswith(os.path.join('val', 'rgb', 'P0005.tif'))
    assert ds.get_data_info(0)['img_path'] == paths['rgb']
    inputs = packed['inputs'].numpy()
    assert np.isnan(inputs[4]).all() and np.isfinite(inputs[:4]).all()
    # Another active set (as SubsetTestLoop binds it): paths follow.
    bound(ds, dfc2023_modality_specs, active=['sar'])
    paths = ds.get_data_info(1)['modality_paths']
    assert paths['rgb'] is None and paths['dsm'] is None and os.path.exists(paths['sar'])


def test_a_new_modality_is_one_spec_edit(tmp_path, quadruplet_root, quadruplet_modality_specs,
                                         bound):
    """A declared modality's folder is its name: no folder map to extend."""
    root = shutil.copytree(quadruplet_root, tmp_path / 'q')
    for region in ('region_a', 'region_b'):
        shutil.copytree(root / region / 'dem', root / region / 'slope')
    specs = quadruplet_modality_specs + [dict(name='slope', channels=1, norm='tile_zscore')]
    pipeline = [dict(type='LoadMultimodalImages'), dict(type='LoadLabelRaster'),
                dict(type='PackSegInputs', meta_keys=GEO_META[:4] + GEO_META[7:])]
    ds = bound(in_scope('mmseg', QuadrupletLULCDataset, data_root=str(root),
                        ann_file='splits/val.txt', pipeline=pipeline), specs)
    inputs = ds[0]['inputs'].numpy()
    assert inputs.shape == (9, 64, 64) and np.isfinite(inputs[8]).all()


def test_modality_dirs_maps_a_differently_named_folder(tmp_path, dfc2023_root,
                                                        dfc2023_modality_specs, bound):
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    os.rename(root / 'val' / 'sar', root / 'val' / 'radar')
    ds = bound(in_scope('mmdet', DFC2023InstanceDataset, data_root=str(root),
                        ann_file='annotations/buildings_only_val.json',
                        data_prefix=dict(img='val/'), modality_dirs=dict(sar=['sar', 'radar']),
                        pipeline=det_pipeline()), dfc2023_modality_specs)
    assert '/radar/' in ds.get_data_info(0)['modality_paths']['sar']
    assert np.isfinite(ds[0]['inputs'][3].numpy()).all()


def test_active_modality_without_any_folder_lists_the_folders_found(
        tmp_path, dfc2023_root, dfc2023_modality_specs, bound):
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    os.rename(root / 'val' / 'sar', root / 'val' / 'radar')
    ds = in_scope('mmdet', DFC2023InstanceDataset, data_root=str(root),
                  ann_file='annotations/buildings_only_val.json', data_prefix=dict(img='val/'),
                  pipeline=det_pipeline())
    with pytest.raises(FileNotFoundError, match=r"'sar'.*folders found: \['dsm', 'radar', "
                       r"'rgb'\].*modality_dirs"):
        bound(ds, dfc2023_modality_specs)


def test_missing_files_of_active_modalities_are_reported_once_when_bound(
        tmp_path, quadruplet_root, quadruplet_modality_specs, bound):
    root = shutil.copytree(quadruplet_root, tmp_path / 'q')
    (root / 'region_a' / 'dw' / 'train_0000.tif').unlink()
    (root / 'region_b' / 's1' / 'train_0001.tif').unlink()
    ds = in_scope('mmseg', QuadrupletLULCDataset, data_root=str(root), pipeline=[])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        bound(ds, quadruplet_modality_specs, active=['s2', 'dw'])
        bound(ds, quadruplet_modality_specs, active=['s2', 'dw'])  # checked already
    messages = [str(w.message) for w in caught if issubclass(w.category, MissingModalityWarning)]
    assert len(messages) == 1 and 'dw: 1/4' in messages[0] and 's1' not in messages[0]


@pytest.mark.parametrize('layout, build', [
    ('dfc2023', lambda root: DFC2023InstanceDataset(data_root=root)),
    ('dfc2023', lambda root: DFC2023BuildingSegDataset(data_root=root)),
    ('quadruplet', lambda root: QuadrupletLULCDataset(data_root=root)),
])
def test_absent_data_root_says_how_to_generate_it(tmp_path, layout, build):
    root = str(tmp_path / 'synthetic' / layout)
    with pytest.raises(DataNotFoundError) as error:
        build(root)
    message = str(error.value)
    assert f'data_root {root} does not exist' in message
    assert f'python tools/make_synthetic_data.py {layout} {root}' in message
    assert 'data_root=' in message and not os.path.exists(root)  # nothing generated


def test_absent_split_folder_is_named(dfc2023_root):
    with pytest.raises(DataNotFoundError, match="split folder .*test/"):
        DFC2023InstanceDataset(data_root=dfc2023_root, data_prefix=dict(img='test/'),
                               ann_file='annotations/buildings_only_val.json')
