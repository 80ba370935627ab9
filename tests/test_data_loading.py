"""LoadMultimodalImages / SelectModalities on generated GeoTIFFs."""
import os.path as osp
import re
import shutil
import warnings

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from incomplete_fusion.binding import ModalitiesNotBoundError, bind
from incomplete_fusion.datasets import (ChannelCountError, DFC2023InstanceDataset,
                                        MissingModalityWarning, ModalityReadError)
from incomplete_fusion.datasets.geo_io import RasterGrid
from incomplete_fusion.datasets.transforms import LoadMultimodalImages, SelectModalities
from incomplete_fusion.modalities import ModalitySet, UnknownModalityError
from incomplete_fusion.registry import TRANSFORMS
from incomplete_fusion.testing import make_scene

DFC2023 = ModalitySet.from_config([
    dict(name='rgb', channels=3, norm='dfc2023_rgb'),
    dict(name='sar', channels=1, norm='dfc2023_sar'),
    dict(name='dsm', channels=1, norm='tile_zscore'),
])


def bound_to(component, specs=DFC2023, active=None):
    """``component`` with the run's modalities bound (as the loops bind them)."""
    mset = specs if isinstance(specs, ModalitySet) else ModalitySet.from_config(specs)
    bind(mset.with_active(active) if active else mset, component)
    return component


def loader(specs=DFC2023, active=None, **kwargs) -> LoadMultimodalImages:
    return bound_to(LoadMultimodalImages(**kwargs), specs, active)


def sample(root, idx=0, split='val'):
    """The data info of one sample of the DFC2023 instance dataset (no pipeline)."""
    ds = DFC2023InstanceDataset(data_root=root, ann_file=f'annotations/buildings_only_{split}.json',
                                data_prefix=dict(img=f'{split}/'), pipeline=[])
    return bound_to(ds).get_data_info(idx)


def read(path):
    with rasterio.open(path) as src:
        return src.read().transpose(1, 2, 0).astype(np.float32), src.transform, src.crs


def write_like(path, data, like, **overrides):
    """Write (C, H, W) ``data`` with the georeferencing of the file ``like``."""
    with rasterio.open(like) as src:
        profile = src.profile
    profile.update(count=data.shape[0], dtype=data.dtype, **overrides)
    with rasterio.open(path, 'w', **profile) as dst:
        dst.write(data)


def test_loads_normalised_concatenated_image_with_georeferencing(dfc2023_root):
    info = sample(dfc2023_root)
    load = TRANSFORMS.build(dict(type='LoadMultimodalImages'))
    with pytest.raises(ModalitiesNotBoundError, match='bind'):
        load(dict(info))
    out = bound_to(load)(dict(info))
    img = out['img']
    assert img.shape == (64, 64, 5) and img.dtype == np.float32
    assert out['img_shape'] == out['ori_shape'] == (64, 64)
    assert out['modality_slices'] == dict(rgb=(0, 3), sar=(3, 4), dsm=(4, 5))
    assert out['modality_names'] == ('rgb', 'sar', 'dsm')
    assert out['categorical_channels'] == []
    rgb, transform, crs = read(info['modality_paths']['rgb'])
    sar, _, _ = read(info['modality_paths']['sar'])
    dsm, _, _ = read(info['modality_paths']['dsm'])
    mean, std = np.array([81.2, 87.8, 71.9]), np.array([41.3, 37.1, 37.4])
    np.testing.assert_allclose(img[..., :3], (rgb - mean) / std, rtol=1e-5, atol=1e-5)
    sar_db = np.clip(10 * np.log10(sar + 1e-7), -25, 0)
    np.testing.assert_allclose(img[..., 3:4], (sar_db - -7.945) / 2.777, atol=1e-4)
    np.testing.assert_allclose(img[..., 4:5], (dsm - dsm.mean()) / dsm.std(), atol=1e-4)
    # Georeferencing survives loading.
    assert out['crs'] == crs == CRS.from_epsg(32632)
    assert out['transform'] == transform and isinstance(out['transform'], Affine)


def test_nodata_becomes_nan(tmp_path, dfc2023_root):
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    info = sample(str(root))
    rgb_path, dsm_path = info['modality_paths']['rgb'], info['modality_paths']['dsm']
    with rasterio.open(rgb_path) as src:
        rgb = src.read()
    rgb[:, 10:20, 5:9] = 0  # file nodata is 0
    write_like(rgb_path, rgb, rgb_path)
    with rasterio.open(dsm_path) as src:
        dsm = src.read()
    dsm[0, 30, 31] = -9999.0
    write_like(dsm_path, dsm, dsm_path)
    out = loader()(dict(info))
    img = out['img']
    expected = np.zeros((64, 64), bool)
    expected[10:20, 5:9] = True
    for c in range(3):
        np.testing.assert_array_equal(np.isnan(img[..., c]), expected)
    assert np.isnan(img[30, 31, 4]) and np.isfinite(img[..., 3]).all()
    # The per-tile z-score of the DSM ignores the nodata pixel.
    finite = img[..., 4][np.isfinite(img[..., 4])]
    assert abs(finite.mean()) < 1e-4 and abs(finite.std() - 1) < 1e-3


def test_spec_nodata_overrides_the_file(dfc2023_root):
    info = sample(dfc2023_root)
    rgb, _, _ = read(info['modality_paths']['rgb'])
    value = rgb[0, 0, 0]
    out = loader([dict(name='rgb', channels=3, nodata=float(value))])(dict(info))
    np.testing.assert_array_equal(np.isnan(out['img']), rgb == value)


def test_missing_file_gives_all_nan_modality_and_one_summary_warning(tmp_path, dfc2023_root):
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    for name in ('P0001.tif', 'P0003.tif'):
        (root / 'train' / 'sar' / name).unlink()
    pipeline = [dict(type='LoadMultimodalImages')]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        ds = bound_to(DFC2023InstanceDataset(data_root=str(root), pipeline=pipeline))
        samples = [ds[i] for i in range(len(ds))]
    missing = [w for w in caught if issubclass(w.category, MissingModalityWarning)]
    assert len(missing) == 1
    assert 'sar: 2/4' in str(missing[0].message)
    by_path = {osp.basename(s['img_path']): s for s in samples}
    for name, s in by_path.items():
        sar = s['img'][..., 3]
        if name in ('P0001.tif', 'P0003.tif'):
            assert np.isnan(sar).all() and s['missing_modalities'] == ('sar', )
        else:
            assert np.isfinite(sar).all() and s['missing_modalities'] == ()
        assert np.isfinite(s['img'][..., [0, 1, 2, 4]]).all()


def test_corrupt_file_raises_error_naming_the_file(tmp_path, dfc2023_root):
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    info = sample(str(root))
    path = info['modality_paths']['dsm']
    with open(path, 'wb') as f:
        f.write(b'this is not a GeoTIFF' * 10)
    with pytest.raises(ModalityReadError, match=re.escape(path)):
        loader()(dict(info))


def test_wrong_channel_count_names_file_expected_and_found(tmp_path, dfc2023_root):
    root = shutil.copytree(dfc2023_root, tmp_path / 'd')
    info = sample(str(root))
    path = info['modality_paths']['sar']
    with rasterio.open(path) as src:
        sar = src.read()
    write_like(path, np.concatenate([sar, sar]), path)
    with pytest.raises(ChannelCountError) as err:
        loader()(dict(info))
    message = str(err.value)
    assert path in message and 'expects 1' in message and 'found 2' in message


def test_unknown_modality_lists_the_declared_names():
    with pytest.raises(UnknownModalityError, match=r"\['rgb', 'sar', 'dsm'\]"):
        bound_to(SelectModalities(modalities=['rgb', 'lidar']))
    with pytest.raises(UnknownModalityError, match='lidar'):
        loader(reference='lidar')


def test_select_modalities_never_opens_inactive_files(monkeypatch, dfc2023_root):
    info = sample(dfc2023_root)
    opened = []
    real_open = rasterio.open

    def spy(path, *args, **kwargs):
        opened.append(str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(rasterio, 'open', spy)
    select = bound_to(SelectModalities(modalities=['dsm', 'rgb']))
    load = loader()
    out = load(select(dict(info)))
    assert sorted(opened) == sorted([info['modality_paths']['rgb'],
                                     info['modality_paths']['dsm']])
    assert np.isnan(out['img'][..., 3]).all()
    assert np.isfinite(out['img'][..., [0, 1, 2, 4]]).all()
    assert out['inactive_modalities'] == ('sar', )
    # Only the SAR: the grid comes from the SAR file, RGB and DSM are never opened.
    opened.clear()
    only_sar = bound_to(SelectModalities(modalities=['sar']))
    out = load(only_sar(dict(info)))
    assert opened == [info['modality_paths']['sar']]
    assert out['reference_modality'] == 'sar' and out['img'].shape == (64, 64, 5)
    # The run's active set does the same without any SelectModalities.
    opened.clear()
    out = loader(active=['sar'])(dict(info))
    assert opened == [info['modality_paths']['sar']]
    assert out['inactive_modalities'] == ('rgb', 'dsm') and np.isnan(out['img'][..., :3]).all()


def test_select_modalities_after_loading_masks_channels(dfc2023_root):
    info = sample(dfc2023_root)
    out = loader()(dict(info))
    full = out['img'].copy()
    out = bound_to(SelectModalities(['sar']))(out)
    assert np.isnan(out['img'][..., [0, 1, 2, 4]]).all()
    np.testing.assert_array_equal(out['img'][..., 3], full[..., 3])


def test_other_grids_are_resampled_onto_the_reference(tmp_path):
    paths = make_scene(str(tmp_path), layout='dfc2023', size=128, seed=3, nodata_hole=False)
    out = loader()(dict(modality_paths=paths))
    img = out['img']
    assert img.shape == (128, 128, 5)
    with rasterio.open(paths['rgb']) as src:
        assert out['transform'] == src.transform
    with rasterio.open(paths['sar']) as src:
        assert src.res == (1.0, 1.0) and src.width == 56  # half resolution, western strip cut
    strip = 128 // 8
    sar = img[..., 3]
    assert np.isnan(sar[:, :strip - 1]).all()  # not covered by the SAR file
    assert np.isfinite(sar[:, strip + 1:-1]).all()
    dsm = img[..., 4]
    assert np.isnan(dsm[128 - strip:]).all() and np.isfinite(dsm[:128 - strip]).all()


def test_categorical_modality_resampled_with_nearest(tmp_path):
    transform = Affine(10.0, 0, 500000.0, 0, -10.0, 5000000.0)
    profile = dict(driver='GTiff', crs=CRS.from_epsg(32632), count=1)
    reference = np.arange(16 * 16, dtype=np.float32).reshape(1, 16, 16)
    classes = np.random.default_rng(0).choice([1, 8], size=(1, 8, 8)).astype(np.uint8)
    with rasterio.open(tmp_path / 'ref.tif', 'w', height=16, width=16, dtype='float32',
                       transform=transform, **profile) as dst:
        dst.write(reference)
    with rasterio.open(tmp_path / 'dw.tif', 'w', height=8, width=8, dtype='uint8',
                       transform=transform @ Affine.scale(2), **profile) as dst:
        dst.write(classes)
    specs = [dict(name='ref', channels=1),
             dict(name='dw', channels=1, kind='categorical', num_classes=9)]
    out = loader(specs)(dict(modality_paths=dict(
        ref=str(tmp_path / 'ref.tif'), dw=str(tmp_path / 'dw.tif'))))
    dw = out['img'][..., 1]
    assert out['categorical_channels'] == [1]
    # Every fine pixel carries the class of the coarse pixel it lies in.
    np.testing.assert_array_equal(dw, np.kron(classes[0], np.ones((2, 2))))


def test_no_active_file_at_all(tmp_path):
    load = loader()
    paths = dict(rgb=str(tmp_path / 'a.tif'), sar=None, dsm=str(tmp_path / 'b.tif'))
    out = load(dict(modality_paths=paths, height=32, width=48))
    assert out['img'].shape == (32, 48, 5) and np.isnan(out['img']).all()
    with pytest.raises(FileNotFoundError, match='fallback_shape'):
        load(dict(modality_paths=paths))


def test_modality_unknown_to_the_dataset_is_a_config_error(dfc2023_root):
    info = sample(dfc2023_root)
    specs = [dict(name='rgb', channels=3), dict(name='height', channels=1)]
    with pytest.raises(KeyError, match="'height'.*modality_dirs"):
        loader(specs)(dict(info))
    # Called directly (not from a dataset), an absent entry just means missing.
    direct = dict(modality_paths=dict(rgb=info['modality_paths']['rgb']))
    out = loader(specs)(direct)
    assert np.isnan(out['img'][..., 3]).all() and out['missing_modalities'] == ('height', )


def test_label_raster_read_onto_the_image_grid(tmp_path):
    transform = Affine(10.0, 0, 500000.0, 0, -10.0, 5000000.0)
    profile = dict(driver='GTiff', crs=CRS.from_epsg(32632), count=1)
    with rasterio.open(tmp_path / 'img.tif', 'w', height=8, width=8, dtype='float32',
                       transform=transform, **profile) as dst:
        dst.write(np.zeros((1, 8, 8), np.float32))
    coarse = np.array([[0, 3], [8, 255]], np.uint8)  # 255: the file's nodata
    with rasterio.open(tmp_path / 'label.tif', 'w', height=2, width=2, dtype='uint8',
                       transform=transform @ Affine.scale(4), nodata=255, **profile) as dst:
        dst.write(coarse[None])
    results = loader([dict(name='img', channels=1)])(
        dict(modality_paths=dict(img=str(tmp_path / 'img.tif')),
             seg_map_path=str(tmp_path / 'label.tif'),
             label_lut=np.array([5, 6, 7, 1, 9, 9, 9, 9, 2] + [255] * 247, np.uint8)))
    out = TRANSFORMS.build(dict(type='LoadLabelRaster'))(results)
    expected = np.kron(np.array([[5, 1], [2, 255]]), np.ones((4, 4), int))
    np.testing.assert_array_equal(out['gt_seg_map'], expected)
    assert out['gt_seg_map'].dtype == np.uint8 and 'gt_seg_map' in out['seg_fields']


def test_target_grid_and_window_read_a_scene_window(tmp_path):
    """Scene windows (inference, reconstruction): every modality read onto a window of a
    target grid, through the same transform; window pixels outside the grid are NaN and
    per-tile statistics are those of the window's pixels inside the grid."""
    paths = make_scene(str(tmp_path), layout='dfc2023', size=128, seed=3, nodata_hole=False)
    full = loader()(dict(modality_paths=paths))  # on the rgb (reference) grid
    grid = RasterGrid(full['crs'], full['transform'], 128, 128)
    # 64 x 64 window at column 40, row 96: its bottom 32 rows lie outside the grid
    out = loader()(dict(modality_paths=paths, target_grid=grid, target_window=(40, 96, 64, 64)))
    img = out['img']
    assert img.shape == (64, 64, 5) and out['img_shape'] == out['ori_shape'] == (64, 64)
    assert out['transform'] == full['transform'] @ Affine.translation(40, 96)
    assert out['crs'] == full['crs'] and np.isnan(img[32:]).all()
    inside = full['img'][96:, 40:104]
    np.testing.assert_allclose(img[:32, :, :3], inside[..., :3], atol=1e-5)  # rgb: same pixels
    sar = np.isfinite(img[:32, 2:-2, 3]) & np.isfinite(inside[:, 2:-2, 3])
    assert sar.mean() > 0.9
    np.testing.assert_allclose(img[:32, 2:-2, 3][sar], inside[:, 2:-2, 3][sar], atol=1e-3)
    dsm = img[..., 4]
    assert np.isfinite(dsm[:16]).all() and np.isnan(dsm[16:]).all()  # south strip missing
    assert np.nanmean(dsm) == pytest.approx(0.0, abs=1e-4)  # z-scored over the window
    # the grid as a plain dict (e.g. from a config), and a window needs its grid
    as_dict = dict(crs=grid.crs, transform=tuple(grid.transform)[:6], shape=grid.shape)
    again = loader()(dict(modality_paths=paths, target_grid=as_dict,
                          target_window=(40, 96, 64, 64)))
    np.testing.assert_array_equal(again['img'], img)
    with pytest.raises(KeyError, match='target_grid'):
        loader()(dict(modality_paths=paths, target_window=(0, 0, 8, 8)))
