"""Throughput plumbing: tiles batched across scenes and read ahead by a thread pool give
byte-identical rasters; the read-ahead queue is bounded; GeoPackage instance output."""
import json
import os

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from incomplete_fusion.apis.batch import infer_scenes
from incomplete_fusion.apis.tile_stream import StreamStats, read_ahead
from incomplete_fusion.testing import make_scene
from test_scene_inference import (OVERLAP, SEMANTIC_CONFIG, TILE, TINY_SEMANTIC,  # noqa: F401
                                  _instances, semantic_model, tiny_config)


@pytest.fixture(scope='module')
def small_scenes(tmp_path_factory):
    """Three 96 px scenes: all modalities, no rgb, sar only."""
    root = tmp_path_factory.mktemp('small')
    scenes = {}
    for k, keep in enumerate([('rgb', 'sar', 'dsm'), ('sar', 'dsm'), ('sar', )]):
        paths = make_scene(str(root / f's{k}'), size=96, seed=20 + k, hole_fraction=0.05)
        scenes[f's{k}'] = {m: (paths[m] if m in keep else None) for m in ('rgb', 'sar', 'dsm')}
    return scenes


def _bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def test_batches_across_scenes_and_read_ahead_give_identical_rasters(small_scenes,
                                                                    semantic_model, tmp_path):
    calls = []
    hook = semantic_model.backbone.register_forward_pre_hook(
        lambda _, args: calls.append(args[0].shape[0]))
    try:
        options = dict(tile_size=TILE, overlap=OVERLAP, scores=True, batch_size=3, mosaic=None)
        per_scene = infer_scenes(semantic_model, small_scenes, str(tmp_path / 'a'),
                                 batch_scenes=False, workers=0, **options)
        per_scene_calls, calls[:] = list(calls), []
        mixed = infer_scenes(semantic_model, small_scenes, str(tmp_path / 'b'),
                             batch_scenes=True, workers=2, **options)
    finally:
        hook.remove()
    assert [s.status for s in per_scene] == [s.status for s in mixed] == ['done'] * 3
    tiles = [s.num_tiles for s in mixed]
    assert tiles == [s.num_tiles for s in per_scene] == [4, 4, 1]  # sar only: a 1 m grid
    # every pass gets exactly batch_size tiles (a short last batch is padded): per
    # scene 2 + 2 + 1 passes, across scenes 3 passes; batches of the second run mix scenes
    assert per_scene_calls == [3] * 5 and calls == [3] * 3
    for name in small_scenes:
        for suffix in ('.tif', '_scores.tif'):
            a, b = tmp_path / 'a' / f'{name}{suffix}', tmp_path / 'b' / f'{name}{suffix}'
            assert _bytes(a) == _bytes(b), f'{name}{suffix}'
    with rasterio.open(tmp_path / 'b' / 's2.tif') as src:
        assert (src.read(1) != 255).any()


class _Slow:
    """A stand-in scene run whose ``load`` records how far reading got."""

    def __init__(self):
        self.loaded = []

    def load(self, tile):
        self.loaded.append(tile)
        return tile


def test_read_ahead_is_bounded_and_ordered():
    run, pulled = _Slow(), []

    def jobs():
        for k in range(20):
            pulled.append(k)
            yield run, k

    stats = StreamStats()
    stream = read_ahead(jobs(), workers=2, depth=3, stats=stats)
    first = next(stream)
    assert first == (run, 0, 0) and len(pulled) <= 3  # at most `depth` tiles in flight
    rest = list(stream)
    assert [r[1] for r in rest] == list(range(1, 20)) and [r[2] for r in rest] == list(range(1, 20))
    assert 0.0 <= stats.wait_seconds
    # a failing read comes back as the exception, in its place
    bad = type('Bad', (), {'load': lambda self, t: 1 / t})()
    out = list(read_ahead(((bad, t) for t in (1, 0, 2)), workers=1, depth=2))
    assert out[0][2] == 1.0 and isinstance(out[1][2], ZeroDivisionError) and out[2][2] == 0.5


@pytest.mark.parametrize('fmt', ['geojson', 'gpkg'])
def test_instance_polygons_as_geojson_or_geopackage(tmp_path, fmt):
    pyogrio = pytest.importorskip('pyogrio')
    import shapely.geometry

    from incomplete_fusion.apis.merging import InstanceMerger
    from incomplete_fusion.apis.scene import ScenePlan
    from incomplete_fusion.apis.tiling import plan_tiles
    from incomplete_fusion.datasets.geo_io import RasterGrid
    from incomplete_fusion.modalities import ModalitySet
    crs = CRS.from_epsg(32632)
    grid = RasterGrid(crs, Affine(0.5, 0, 500000.0, 0, -0.5, 5000000.0), 64, 112)
    plan = ScenePlan(ModalitySet.from_config([dict(name='rgb', channels=3)]), {}, grid)
    left, right = plan_tiles(64, 112, TILE, OVERLAP)
    valid = np.ones((TILE, TILE), bool)
    out = tmp_path / 'ids.tif'
    with InstanceMerger(None, plan, TILE, OVERLAP, out, score_thr=0.3,
                        vector_format=fmt) as merger:
        merger.class_names = ['building']
        merger.add(left, _instances([(10, 30, 40, 60), (40, 50, 2, 8)], [0.9, 0.2]), valid)
        # two more buildings, owned by the right tile
        merger.add(right, _instances([(40, 50, 30, 40), (50, 60, 40, 50)], [0.6, 0.6]), valid)
        merger.flush(64)
    path = merger.geojson_path
    assert path == str(tmp_path / f'ids.{fmt}') and sorted(os.listdir(tmp_path)) == \
        sorted(['ids.tif', f'ids.{fmt}'])  # no temporary file left
    info = pyogrio.read_info(path)
    assert CRS.from_user_input(info['crs']) == crs
    meta, _, geometry, fields = pyogrio.raw.read(path)
    names = list(meta['fields'])
    rows = [dict(zip(names, values)) for values in zip(*fields)]
    assert [r['id'] for r in rows] == [1, 2, 3] and [r['class'] for r in rows] == ['building'] * 3
    assert [r['pixels'] for r in rows] == [400, 100, 100]
    ids = rasterio.open(out).read(1)
    for row, wkb in zip(rows, geometry):
        shape = shapely.from_wkb(wkb)
        burnt = rasterio.features.rasterize([(shapely.geometry.mapping(shape), 1)],
                                            out_shape=ids.shape, transform=grid.transform)
        np.testing.assert_array_equal(burnt.astype(bool), ids == row['id'])
        assert shape.area == pytest.approx(row['area'])
    if fmt == 'geojson':  # the same features as the GeoPackage would hold
        assert json.load(open(path))['crs']['properties']['name'].endswith('32632')


def test_geopackage_without_instances_has_an_empty_layer(tmp_path):
    pyogrio = pytest.importorskip('pyogrio')
    from incomplete_fusion.apis.vectors import FeatureWriter
    with FeatureWriter(tmp_path / 'none.gpkg', CRS.from_epsg(32632), 'gpkg') as writer:
        pass
    info = pyogrio.read_info(str(tmp_path / 'none.gpkg'))
    assert writer.count == 0 and info['features'] == 0
    assert info['geometry_type'] == 'MultiPolygon' and 'id' in list(info['fields'])
    with pytest.raises(ValueError, match='geojson'):
        FeatureWriter(tmp_path / 'x.shp', None, 'shp')
