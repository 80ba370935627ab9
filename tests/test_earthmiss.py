"""EarthMiss end to end: a synthetic release in the release's layout (13 city folders,
``_SAR`` / ``_mask`` file names) -> the shipped config (tiny) trains under mmseg's stock
train.py with random modality combinations, validating on the validation cities -> the
protocol on the test cities
(SAR, RGB, both; mIoU, mF1, OA, kappa) -> the stock mmseg test tool gives the same
SAR-only numbers. And the release checks: the split is city-disjoint with validation
cities that are not test cities, missing cities and unpaired files are named."""
import glob
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import rasterio
from mmengine.config import Config
from mmengine.registry import DATASETS, init_default_scope

from incomplete_fusion.datasets.earthmiss import CITIES
from incomplete_fusion.datasets.modality_paths import DataNotFoundError
from incomplete_fusion.datasets.optical_sar import ReleasePairError
from incomplete_fusion.testing import generate
from incomplete_fusion.utils import load_config
from optical_sar_tiny import PROTOCOL_METRICS, logged_test_metrics, subset_rows, \
    tiny_landcover_config
from incomplete_fusion.testing.tiny import CONFIG_DIR, fresh_run, load_tool

TILE = 64  # one slide window per tile: slide inference is covered by test_oemsar.py
test_tool = load_tool('test')


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('earthmiss') / 'release')
    generate('earthmiss', root, per_city=1, size=TILE)
    return root


def config() -> Config:
    return Config.fromfile(osp.join(CONFIG_DIR, 'mask2former_earthmiss.py'))


def dataset(release, bound, split='test', active=('rgb', 'sar')):
    init_default_scope('mmseg')
    cfg = config()
    loader = cfg.val_dataloader if split == 'val' else cfg.test_dataloader
    spec = dict(loader.dataset, data_root=release, split=split)
    return bound(DATASETS.build(spec), cfg.modality_specs, list(active))


def test_the_split_is_city_disjoint_and_validation_is_not_test():
    cfg = config()
    splits = {key: cfg[key].dataset.split for key in
              ('train_dataloader', 'val_dataloader', 'test_dataloader')}
    assert splits == dict(train_dataloader='train', val_dataloader='val',
                          test_dataloader='test')
    cities = {split: set(names) for split, names in CITIES.items()}
    assert sum(len(c) for c in cities.values()) == len(set().union(*cities.values())) == 13
    assert not cities['val'] & cities['test']


def test_stock_train_then_protocol_matches_the_stock_test_tool(release, tmp_path):
    from test_entry_points import run_stock
    path = tiny_landcover_config('mask2former_earthmiss', release, str(tmp_path), TILE)
    train_dir = str(tmp_path / 'train')
    run_stock('mmseg', 'train', path, '--work-dir', train_dir)  # mmseg's own train.py
    val_log = open(glob.glob(osp.join(train_dir, '*', '*.log'))[0]).read()
    assert 'Iter(val)' in val_log and 'kappa' in val_log  # selection on the val cities
    checkpoint = osp.join(train_dir, 'iter_2.pth')

    protocol_dir = str(tmp_path / 'protocol')
    test_tool.main([path, checkpoint, '--all-subsets', '--work-dir', protocol_dir,
                    '--cfg-options', *fresh_run()])
    rows = subset_rows(protocol_dir)
    assert list(rows) == ['RGB', 'SAR', 'RGB+SAR']

    stock_dir = str(tmp_path / 'stock')
    run_stock('mmseg', 'test', path, checkpoint, '--work-dir', stock_dir, '--cfg-options',
              'modalities=[sar]')
    logged = logged_test_metrics(stock_dir)
    assert logged['active_sar_only'] == 1.0
    # the same evaluation of the same model: mmseg rounds every metric to 2 decimals (the
    # table keeps them as float32, the log prints 4 decimals), so they agree rounded to 2
    assert {k: round(logged[k], 2) for k in PROTOCOL_METRICS} == \
        {k: round(v, 2) for k, v in rows['SAR'].items()}


def test_make_synthetic_data_writes_every_city(tmp_path):
    load_tool('make_synthetic_data').main(['earthmiss', str(tmp_path / 'r'), '--per-city', '1',
                                           '--size', '32'])
    cities = sorted(os.listdir(tmp_path / 'r'))
    assert cities == sorted(c for names in CITIES.values() for c in names)
    files = sorted(osp.relpath(p, tmp_path / 'r' / cities[0])
                   for p in glob.glob(osp.join(tmp_path, 'r', cities[0], '**', '*.tif'),
                                      recursive=True))
    assert files == ['images/RGB/eugene_0000.tif', 'images/SAR/eugene_0000_SAR.tif',
                     'masks/eugene_0000_mask.tif']


def test_release_file_names_are_paired_per_folder(release, bound):
    data = dataset(release, bound)
    assert len(data) == len(CITIES['test'])
    info = data.get_data_info(0)
    paths = info['modality_paths']
    sample_id = info['sample_id']
    assert paths['rgb'].endswith(osp.join('images', 'RGB', sample_id + '.tif'))
    assert paths['sar'].endswith(osp.join('images', 'SAR', sample_id + '_SAR.tif'))
    assert info['seg_map_path'].endswith(osp.join('masks', sample_id + '_mask.tif'))
    city = osp.relpath(info['seg_map_path'], release).split(os.sep)[0]
    assert city in CITIES['test']
    sample = data[0]
    with rasterio.open(paths['sar']) as src:
        nodata = src.read(1) == 0
    np.testing.assert_array_equal(np.isnan(sample['inputs'][3].numpy()), nodata)


def test_png_copies_are_read_like_tiff(tmp_path, bound):
    samples = {}
    for ext in ('.tif', '.png'):
        root = str(tmp_path / ext[1:])
        generate('earthmiss', root, per_city=1, size=32, ext=ext)  # same seed: same tiles
        data = dataset(root, bound)
        assert data.get_data_info(0)['modality_paths']['sar'].endswith('_SAR' + ext)
        samples[ext] = data[0]
    for key in ('inputs', 'data_samples'):
        tif, png = (samples[ext][key] for ext in ('.tif', '.png'))
        if key == 'data_samples':
            tif, png = tif.gt_sem_seg.data, png.gt_sem_seg.data
        np.testing.assert_array_equal(tif.numpy(), png.numpy())  # same values, NaN included


def test_cpu_preset_shrinks_the_model_and_keeps_the_release():
    cfg = load_config(osp.join(CONFIG_DIR, 'mask2former_earthmiss.py'),
                      presets=[osp.join(CONFIG_DIR, '..', 'demo', 'cpu_preset_earthmiss.py')])
    assert (cfg.model.backbone.depth, cfg.model.backbone.img_size) == (6, (128, 128))
    assert cfg.model.test_cfg == dict(mode='slide', crop_size=(128, 128), stride=(85, 85))
    assert [cfg[k].dataset.split for k in ('train_dataloader', 'val_dataloader',
                                           'test_dataloader')] == ['train', 'val', 'test']
    assert all('LoadLabelCodes' in [s.type for s in cfg[k].dataset.pipeline]
               for k in ('train_dataloader', 'val_dataloader', 'test_dataloader'))


def test_a_missing_city_is_named(release, bound, tmp_path):
    copy = shutil.copytree(release, tmp_path / 'copy')
    shutil.rmtree(osp.join(copy, CITIES['val'][1]))
    with pytest.raises(DataNotFoundError, match=CITIES['val'][1]):
        dataset(str(copy), bound, split='val')


def test_an_unpaired_file_is_named(release, bound, tmp_path):
    copy = shutil.copytree(release, tmp_path / 'copy')
    victim = glob.glob(osp.join(copy, CITIES['test'][0], 'masks', '*_mask.tif'))[0]
    os.remove(victim)
    sample_id = osp.basename(victim)[:-len('_mask.tif')]
    with pytest.raises(ReleasePairError, match=rf'{sample_id}: no file in \.\./masks'):
        dataset(str(copy), bound)
