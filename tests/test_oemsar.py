"""OpenEarthMap-SAR end to end: a synthetic release in the release's layout -> the
shipped config (tiny) trains with random modality combinations (tools/train.py and
mmseg's stock train.py) -> the protocol (SAR,
RGB, both; mIoU, mF1, OA, kappa) -> the stock mmseg test tool gives the same SAR-only
numbers -> the SAR-only test split is predicted without label files. And the release
checks: SAR no-data is NaN, regions never straddle train and validation, unpaired
files, unknown label codes and SAR declared in the wrong units fail naming the file."""
import glob
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import rasterio
from mmengine.config import Config
from mmengine.registry import DATASETS, init_default_scope

from incomplete_fusion.datasets.oemsar import OEM_SAR_CLASSES, region_of
from incomplete_fusion.datasets.optical_sar import ReleasePairError
from incomplete_fusion.datasets.value_checks import ValueRangeError, clear_cache
from incomplete_fusion.testing import generate
from incomplete_fusion.utils import load_config
from optical_sar_tiny import PROTOCOL_METRICS, logged_test_metrics, subset_rows, \
    tiny_landcover_config
from incomplete_fusion.testing.tiny import CONFIG_DIR, fresh_run, load_tool

TILE = 96
train_tool, test_tool = load_tool('train'), load_tool('test')


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('oemsar') / 'release')
    generate('oemsar', root, num_train=6, num_test=2, size=TILE)
    return root


@pytest.fixture(scope='module')
def trained(release, tmp_path_factory):
    tmp = tmp_path_factory.mktemp('oemsar_run')
    config = tiny_landcover_config('mask2former_oemsar', release, str(tmp), TILE)
    work_dir = str(tmp / 'train')
    train_tool.main([config, '--work-dir', work_dir, '--cfg-options', *fresh_run()])
    return dict(config=config, checkpoint=osp.join(work_dir, 'iter_2.pth'), tmp=tmp)


def dataset(release, bound, active=('rgb', 'sar'), **overrides):
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_oemsar.py'))
    spec = dict(cfg.val_dataloader.dataset, data_root=release, region_split=None)
    spec.update(overrides)
    return bound(DATASETS.build(spec), cfg.modality_specs, list(active))


def test_protocol_and_the_stock_test_tool_agree_on_sar_only(trained):
    work_dir = str(trained['tmp'] / 'protocol')
    test_tool.main([trained['config'], trained['checkpoint'], '--all-subsets', '--work-dir',
                    work_dir, '--cfg-options', *fresh_run()])
    rows = subset_rows(work_dir)
    assert list(rows) == ['RGB', 'SAR', 'RGB+SAR']
    assert all(0 <= row['aAcc'] <= 100 and -100 <= row['kappa'] <= 100 for row in rows.values())

    from test_entry_points import run_stock
    stock_dir = str(trained['tmp'] / 'stock')
    run_stock('mmseg', 'test', trained['config'], trained['checkpoint'], '--work-dir',
              stock_dir, '--cfg-options', 'modalities=[sar]')
    logged = logged_test_metrics(stock_dir)
    assert logged['active_sar_only'] == 1.0
    # the same evaluation of the same model: mmseg rounds every metric to 2 decimals (the
    # table keeps them as float32, the log prints 4 decimals), so they agree rounded to 2
    assert {k: round(logged[k], 2) for k in PROTOCOL_METRICS} == \
        {k: round(v, 2) for k, v in rows['SAR'].items()}


def test_the_stock_mmseg_train_tool_trains_the_config(release, tmp_path):
    from test_entry_points import run_stock
    path = tiny_landcover_config('mask2former_oemsar', release, str(tmp_path), TILE,
                                 max_iters=1)
    run_stock('mmseg', 'train', path, '--work-dir', str(tmp_path / 'train'))
    assert osp.isfile(tmp_path / 'train' / 'iter_1.pth')


def test_test_split_is_predicted_without_label_files(trained, release):
    out = str(trained['tmp'] / 'predictions')
    test_tool.main([trained['config'], trained['checkpoint'], '--work-dir',
                    str(trained['tmp'] / 'predict'), '--cfg-options', *fresh_run(),
                    'modalities=[sar]', 'test_dataloader.dataset.split=test',
                    'test_dataloader.dataset.region_split=None',
                    'test_evaluator.format_only=True', f'test_evaluator.output_dir={out}'])
    assert not osp.exists(osp.join(release, 'test', 'labels'))
    written = sorted(os.listdir(out))
    assert written == ['TestArea_001.png', 'TestArea_002.png']
    with rasterio.open(osp.join(out, written[0])) as src:
        codes = np.unique(src.read(1))
    assert set(codes.tolist()) <= set(range(1, len(OEM_SAR_CLASSES) + 1))  # release codes


def test_make_synthetic_data_writes_the_release_layout(tmp_path):
    load_tool('make_synthetic_data').main(['oemsar', str(tmp_path / 'r'), '--num-train', '3',
                                           '--num-test', '1', '--size', '32'])
    found = sorted(osp.relpath(p, tmp_path / 'r') for p in glob.glob(
        osp.join(tmp_path, 'r', '*', '*', '*.tif')))
    assert found == ['test/sar_images/TestArea_001.tif'] + [
        f'train/{folder}/{name}.tif' for folder in ('labels', 'rgb_images', 'sar_images')
        for name in ('aachen_1', 'kyoto_1', 'nantes_1')]
    with rasterio.open(osp.join(tmp_path, 'r', 'train', 'sar_images', 'aachen_1.tif')) as src:
        assert (src.count, src.dtypes[0], src.crs is not None) == (1, 'uint8', True)


def test_cpu_preset_shrinks_the_model_and_keeps_the_release():
    cfg = load_config(osp.join(CONFIG_DIR, 'mask2former_oemsar.py'),
                      presets=[osp.join(CONFIG_DIR, '..', 'demo', 'cpu_preset_oemsar.py')])
    assert (cfg.model.backbone.depth, cfg.model.backbone.img_size) == (6, (128, 128))
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(128, 128), stride=(85, 85))
    assert cfg.model.decode_head.num_classes == 8 and cfg.modality_specs[1].nodata == 0
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        steps = [s.type for s in cfg[loader].dataset.pipeline]
        assert 'LoadLabelCodes' in steps and cfg[loader].dataset.type == 'OEMSARDataset'


def test_regions_never_straddle_train_and_validation(release, bound):
    train = dataset(release, bound, region_split='train', test_mode=False)
    val = dataset(release, bound, region_split='val')
    regions = {split: {region_of(d.get_data_info(i)['sample_id']) for i in range(len(d))}
               for split, d in (('train', train), ('val', val))}
    assert regions['val'] == set(val.validation_regions) and len(regions['val']) == 1
    assert not regions['train'] & regions['val']
    assert len(train) + len(val) == 6


def test_sar_nodata_is_nan_and_labels_are_reduced(release, bound):
    data = dataset(release, bound)
    sample = data[0]  # the first tile has a SAR no-data wedge
    image = sample['inputs'].numpy()  # (4, H, W): rgb, sar
    with rasterio.open(data.get_data_info(0)['modality_paths']['sar']) as src:
        raw = src.read(1)
    assert (raw == 0).any()
    np.testing.assert_array_equal(np.isnan(image[3]), raw == 0)
    assert np.isfinite(image[:3]).all()
    labels = sample['data_samples'].gt_sem_seg.data.numpy()
    assert set(np.unique(labels)) <= set(range(8)) | {255} and (labels == 255).any()


def test_unpaired_file_is_named(release, bound, tmp_path):
    copy = shutil.copytree(release, tmp_path / 'copy')
    victim = sorted(glob.glob(osp.join(copy, 'train', 'sar_images', '*.tif')))[1]
    os.remove(victim)
    with pytest.raises(ReleasePairError, match=osp.splitext(osp.basename(victim))[0]):
        dataset(str(copy), bound)


def test_unknown_label_code_is_named(release, bound, tmp_path):
    copy = shutil.copytree(release, tmp_path / 'copy')
    data = dataset(str(copy), bound)
    label_path = data.get_data_info(0)['seg_map_path']
    with rasterio.open(label_path) as src:
        label, profile = src.read(1), src.profile
    label[:4, :4] = 12
    with rasterio.open(label_path, 'w', **profile) as dst:
        dst.write(label, 1)
    with pytest.raises(ValueError, match=rf'{osp.basename(label_path)}.*code\(s\) 12'):
        data[0]


def test_sar_declared_in_wrong_units_fails_naming_the_file_and_the_fix(release, bound):
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_oemsar.py'))
    specs = [dict(s) for s in cfg.modality_specs]
    specs[1].update(units='amplitude', norm='sar_amplitude')  # 8-bit DN taken for amplitude
    spec = dict(cfg.val_dataloader.dataset, data_root=release, region_split=None)
    data = bound(DATASETS.build(spec), specs, ['sar'])
    clear_cache()
    with pytest.raises(ValueRangeError, match=r"sar_images.*modality 'sar'.*Fix:"):
        data[0]
