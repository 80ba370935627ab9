"""Scene planning (reference grid, validation, tiles) and tile reading — no model needed."""

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.warp import Resampling, calculate_default_transform, reproject

from incomplete_fusion.apis.scene import SceneInputError, TileReader, plan_scene, plan_tiles
from incomplete_fusion.apis.scene.blend import RowBuffer, tile_weight
from incomplete_fusion.testing import make_scene
from incomplete_fusion.modalities import ModalitySet, UnknownModalityError

SPECS = [
    dict(name='rgb', channels=3, norm='dfc2023_rgb'),
    dict(name='sar', channels=1, norm='dfc2023_sar'),
    dict(name='dsm', channels=1, norm='tile_zscore'),
]
MSET = ModalitySet.from_config(SPECS)


def read_tile(plan, tile):
    """The tile's normalised (C, H, W) pixels, read by the default loader."""
    return TileReader(plan.modality_set).read_tile(plan, tile).img


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    """128 px scene: rgb 0.5 m with a nodata hole, sar 1 m minus a west strip, dsm minus south."""
    out = tmp_path_factory.mktemp('scene')
    paths = make_scene(str(out), size=128, seed=3, coarse_factor=2, nodata_hole=True,
                       hole_fraction=0.1)
    return {k: paths[k] for k in ('rgb', 'sar', 'dsm')}


def _copy(src_path, dst_path, transform=None, crs='keep', data=None, dtype=None):
    with rasterio.open(src_path) as src:
        profile = src.profile.copy()
        arr = src.read() if data is None else data
    profile.update(count=arr.shape[0], dtype=dtype or arr.dtype)
    if transform is not None:
        profile['transform'] = transform
    if crs != 'keep':
        profile['crs'] = crs
    with rasterio.open(dst_path, 'w', **profile) as dst:
        dst.write(arr)
    return str(dst_path)


def _grid(path):
    with rasterio.open(path) as src:
        return src.crs, src.transform, src.height, src.width


def test_default_reference_is_finest_input_over_union(scene):
    plan = plan_scene(scene, MSET)
    crs, transform, height, width = _grid(scene['rgb'])
    assert plan.reference_name == 'rgb'  # 0.5 m beats sar's 1 m
    # sar and dsm lie inside the rgb footprint, so the union is the rgb grid itself
    assert plan.grid.crs == crs
    assert plan.grid.transform.almost_equals(transform)
    assert (plan.grid.height, plan.grid.width) == (height, width)
    assert plan.missing == ()


def test_union_extends_and_stays_aligned_to_the_finest_pixels(scene, tmp_path):
    _, sar_t, sar_h, sar_w = _grid(scene['sar'])
    # move the sar footprint 20.25 m east and 10 m north: it sticks out of the rgb footprint
    moved = _copy(scene['sar'], tmp_path / 'sar_moved.tif',
                  transform=Affine.translation(20.25, 10.0) @ sar_t)
    plan = plan_scene(dict(rgb=scene['rgb'], sar=moved), MSET)
    _, rgb_t, rgb_h, rgb_w = _grid(scene['rgb'])
    g = plan.grid.transform
    assert (g.a, g.e) == (rgb_t.a, rgb_t.e)
    # pixel edges stay on the rgb pixel lattice, so rgb is never resampled
    assert ((g.c - rgb_t.c) / rgb_t.a) == pytest.approx(round((g.c - rgb_t.c) / rgb_t.a))
    assert ((g.f - rgb_t.f) / rgb_t.e) == pytest.approx(round((g.f - rgb_t.f) / rgb_t.e))
    left, bottom, right, top = plan.grid.bounds
    sar_right = sar_t.c + 20.25 + sar_w * sar_t.a
    assert right >= sar_right and right - sar_right < rgb_t.a
    assert top >= rgb_t.f + 10.0 and top == pytest.approx(rgb_t.f + 10.0)
    assert left == pytest.approx(rgb_t.c)
    assert plan.grid.width > rgb_w and plan.grid.height > rgb_h

    inter = plan_scene(dict(rgb=scene['rgb'], sar=moved), MSET, extent='intersection')
    assert inter.grid.width < rgb_w and inter.grid.height < rgb_h


def test_explicit_reference_modality_and_resolution(scene):
    plan = plan_scene(scene, MSET, reference='sar')
    crs, transform, height, width = _grid(scene['sar'])
    assert plan.grid.transform.almost_equals(transform)
    assert (plan.grid.height, plan.grid.width) == (height, width)
    coarse = plan_scene(scene, MSET, resolution=2.0)
    _, rgb_t, rgb_h, rgb_w = _grid(scene['rgb'])
    assert coarse.grid.transform.a == 2.0 and coarse.grid.transform.e == -2.0
    assert (coarse.grid.height, coarse.grid.width) == (rgb_h // 4, rgb_w // 4)


def test_modality_in_another_crs_is_reprojected(scene, tmp_path):
    """A dsm delivered in UTM 33N lands on the rgb grid (UTM 32N) with its values."""
    dst_crs = CRS.from_epsg(32633)
    with rasterio.open(scene['dsm']) as src:
        transform, w, h = calculate_default_transform(src.crs, dst_crs, src.width, src.height,
                                                      *src.bounds)
        data = np.full((1, h, w), -9999.0, dtype=np.float32)
        reproject(src.read(), data, src_transform=src.transform, src_crs=src.crs,
                  dst_transform=transform, dst_crs=dst_crs, src_nodata=src.nodata,
                  dst_nodata=-9999.0, resampling=Resampling.bilinear)
        profile = src.profile.copy()
    profile.update(crs=dst_crs, transform=transform, width=w, height=h, dtype='float32')
    other = str(tmp_path / 'dsm_utm33.tif')
    with rasterio.open(other, 'w', **profile) as dst:
        dst.write(data)
    native = plan_scene(dict(dsm=scene['dsm'], rgb=scene['rgb']), MSET)
    # the reprojected footprint's bounding box sticks out of the rgb one: the union grows
    union = plan_scene(dict(dsm=other, rgb=scene['rgb']), MSET)
    assert union.reference_name == 'rgb' and union.grid.crs == native.grid.crs
    assert union.grid.width > native.grid.width
    moved = plan_scene(dict(dsm=other, rgb=scene['rgb']), MSET, reference='rgb')
    assert moved.grid == native.grid
    tile = plan_tiles(native.grid.height, native.grid.width, 64, 16)[0]
    a, b = read_tile(native, tile)[4], read_tile(moved, tile)[4]
    both = np.isfinite(a) & np.isfinite(b)
    assert both.mean() > 0.8
    assert np.corrcoef(a[both], b[both])[0, 1] > 0.98


def test_read_tile_turns_nodata_and_uncovered_areas_into_nan(scene):
    plan = plan_scene(scene, MSET)
    height = plan.grid.height
    tile = plan_tiles(height, plan.grid.width, 128, 0)[0]
    img = read_tile(plan, tile)
    assert img.shape == (5, 128, 128) and img.dtype == np.float32
    with rasterio.open(scene['rgb']) as src:
        hole = (src.read() == 0).all(axis=0)
    assert hole.any()
    np.testing.assert_array_equal(np.isnan(img[0]), hole)  # rgb nodata → NaN, nothing else
    assert np.isnan(img[3][:, :16]).all()  # sar does not cover the west strip
    assert np.isfinite(img[3][:, 20:]).all()
    assert np.isnan(img[4][128 - 16:]).all()  # dsm does not cover the south strip
    assert np.isfinite(img[4][:100]).all()
    # dsm: per-tile z-score over its finite pixels
    assert np.nanmean(img[4]) == pytest.approx(0.0, abs=1e-4)


def test_missing_and_inactive_modalities(scene):
    plan = plan_scene(dict(rgb=None, sar=scene['sar'], dsm=scene['dsm']), MSET)
    assert plan.missing == ('rgb', ) and plan.reference_name == 'dsm'
    img = read_tile(plan, plan_tiles(plan.grid.height, plan.grid.width, 64, 0)[0])
    assert np.isnan(img[:3]).all() and np.isfinite(img[4]).any()
    plan = plan_scene(scene, MSET.with_active(['sar', 'dsm']))
    assert plan.ignored == ('rgb', ) and 'rgb' in plan.missing
    # the tiles read only the active files
    assert plan.paths == dict(sar=scene['sar'], dsm=scene['dsm'])
    img = read_tile(plan, plan_tiles(plan.grid.height, plan.grid.width, 64, 0)[0])
    assert np.isnan(img[:3]).all() and np.isfinite(img[3:]).any()


def test_errors_before_any_compute(scene, tmp_path):
    with pytest.raises(TypeError, match='ModalitySet'):
        plan_scene(scene, SPECS)  # specs, not the run's set
    with pytest.raises(UnknownModalityError, match='lidar'):
        plan_scene(dict(rgb=scene['rgb'], lidar=scene['dsm']), MSET)
    with pytest.raises(SceneInputError, match=r"'sar'.*1 channel"):
        plan_scene(dict(rgb=scene['rgb'], sar=scene['rgb']), MSET)  # 3 bands for sar
    no_crs = _copy(scene['sar'], tmp_path / 'sar_nocrs.tif', crs=None)
    with pytest.raises(SceneInputError, match='no CRS'):
        plan_scene(dict(rgb=scene['rgb'], sar=no_crs), MSET)
    local = _copy(scene['sar'], tmp_path / 'sar_local.tif', crs=CRS.from_wkt(
        'LOCAL_CS["Arbitrary",UNIT["metre",1],AXIS["Easting",EAST],AXIS["Northing",NORTH]]'))
    with pytest.raises(SceneInputError, match='neither projected nor geographic'):
        plan_scene(dict(rgb=scene['rgb'], sar=local), MSET)
    _, sar_t, _, _ = _grid(scene['sar'])
    far = _copy(scene['sar'], tmp_path / 'sar_far.tif',
                transform=Affine.translation(5000.0, 0.0) @ sar_t)
    with pytest.raises(SceneInputError, match='do not overlap'):
        plan_scene(dict(rgb=scene['rgb'], sar=far), MSET)
    with pytest.raises(SceneInputError, match='no input file'):
        plan_scene(dict(rgb=None), MSET)
    with pytest.raises(SceneInputError, match='not found'):
        plan_scene(dict(rgb=str(tmp_path / 'nope.tif')), MSET)


@pytest.mark.parametrize('height,width,size,overlap', [(160, 224, 64, 16), (100, 37, 64, 8),
                                                       (64, 200, 64, 0)])
def test_tiles_cover_the_grid_and_cores_partition_it(height, width, size, overlap):
    tiles = plan_tiles(height, width, size, overlap)
    cover = np.zeros((height, width), int)
    core = np.zeros((height, width), int)
    for t in tiles:
        cover[t.y0:t.y0 + size, t.x0:t.x0 + size] += 1
        y0, y1, x0, x1 = t.core
        core[y0:y1, x0:x1] += 1
        assert t.y0 <= y0 < y1 <= t.y0 + size and t.x0 <= x0 < x1 <= t.x0 + size
    assert (cover >= 1).all() and (core == 1).all()
    xs = sorted({t.x0 for t in tiles})
    assert all(b - a <= size - overlap for a, b in zip(xs, xs[1:]))


def test_weight_is_one_where_a_tile_has_no_neighbour():
    w = tile_weight(64, 16, neighbours=(False, True, True, False))
    assert (w > 0).all() and w.max() == 1.0
    assert (w[:48, 16:] == 1).all()  # untapered top/right, no overlap there
    assert w[63, 0] < w[40, 30]


def test_row_buffer_releases_finished_rows_in_strip_multiples():
    buf = RowBuffer(1, width=5, height=50, capacity=20 + 16, dtype=np.int32, flush_rows=16)
    buf.view(0, 20, 0, 5)[:] = 1
    assert list(buf.release(10)) == []  # rounded down to 0: nothing is final yet
    buf.view(10, 30, 0, 5)[:] += 2
    (row0, block), = buf.release(25)
    assert row0 == 0 and block.shape == (1, 16, 5)
    assert (block[0, :10] == 1).all() and (block[0, 10:] == 3).all()
    buf.view(30, 50, 0, 5)[:] = 7
    (row0, block), = buf.release(50)
    assert row0 == 16 and block.shape == (1, 34, 5)
    assert (block[0, :4] == 3).all() and (block[0, 4:14] == 2).all() and (block[0, 14:] == 7).all()
    with pytest.raises(IndexError):
        buf.view(0, 1, 0, 1)


def test_categorical_map_is_resampled_with_nearest(tmp_path):
    """Quadruplet scene on a 4 m grid: the Dynamic World map keeps integer classes."""
    paths = make_scene(str(tmp_path), layout='quadruplet', size=64, seed=1, nodata_hole=False)
    specs = [
        dict(name='s1', channels=2, norm='quadruplet_s1'),
        dict(name='s2', channels=4, norm='quadruplet_s2'),
        dict(name='dem', channels=1, norm='quadruplet_dem'),
        dict(name='dw', channels=1, kind='categorical', num_classes=9, norm=None),
    ]
    inputs = {k: paths[k] for k in ('s1', 's2', 'dem', 'dw')}
    # 4 m is finer than every input: resampled
    plan = plan_scene(inputs, ModalitySet.from_config(specs), resolution=4.0)
    img = read_tile(plan, plan_tiles(plan.grid.height, plan.grid.width, 64, 0)[0])
    dw = img[7][np.isfinite(img[7])]
    assert dw.size > 1000
    np.testing.assert_array_equal(dw, np.round(dw))  # nearest: no blended class values
    assert set(np.unique(dw)) <= set(range(9)) and len(np.unique(dw)) > 1


def test_scene_options_are_checked_when_made():
    from dataclasses import FrozenInstanceError

    from incomplete_fusion.apis.scene import SceneOptions
    with pytest.raises(ValueError, match='format'):
        SceneOptions(format='png')
    with pytest.raises(ValueError, match='multiple of 32'):
        SceneOptions(tile_size=100)
    with pytest.raises(ValueError, match='batch_size'):
        SceneOptions(batch_size=0)
    with pytest.raises(ValueError, match='vector format'):
        SceneOptions(vector_format='shp')
    options = SceneOptions(tile_size=64).with_tile_size(256)  # the model's default unused
    assert (options.tile_size, options.overlap) == (64, 16)
    default = SceneOptions(overlap=0).with_tile_size(256)
    assert (default.tile_size, default.overlap) == (256, 0)
    with pytest.raises(FrozenInstanceError):
        options.format = 'gtiff'


def test_tile_reader_rejects_unknown_names_and_missing_files(scene, tmp_path):
    reader = TileReader(MSET)
    with pytest.raises(ValueError, match='lidar'):
        reader.read(dict(lidar=scene['dsm']))
    with pytest.raises(FileNotFoundError, match='nope.tif'):
        reader.read(dict(rgb=str(tmp_path / 'nope.tif')))
    chip = reader.read(dict(rgb=scene['rgb'], sar=None))
    assert chip.given == ('rgb', ) and chip.img.shape[0] == MSET.total_channels
    assert chip.valid.shape == chip.img.shape[1:] and chip.valid.any()
    assert np.isnan(chip.img[3:]).all()  # sar and dsm missing
