"""Throughput plumbing: the read-ahead queue is bounded and ordered; GeoPackage instance
output. (Which outputs are byte-identical: test_scene_reproducibility.py.)"""
import json
import os

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.crs import CRS

from incomplete_fusion.apis.scene.stream import StreamStats, read_ahead
from incomplete_fusion.testing.tiny import OVERLAP, TILE
from test_scene_inference import _instances


class _Slow:
    """A stand-in scene run whose ``prepare`` records how far reading got."""

    def __init__(self):
        self.loaded = []

    def prepare(self, tile):
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
    bad = type('Bad', (), {'prepare': lambda self, t: 1 / t})()
    out = list(read_ahead(((bad, t) for t in (1, 0, 2)), workers=1, depth=2))
    assert out[0][2] == 1.0 and isinstance(out[1][2], ZeroDivisionError) and out[2][2] == 0.5


@pytest.mark.parametrize('fmt', ['geojson', 'gpkg'])
def test_instance_polygons_as_geojson_or_geopackage(tmp_path, fmt):
    pyogrio = pytest.importorskip('pyogrio')
    import shapely.geometry

    from incomplete_fusion.apis.scene import SceneOptions, ScenePlan, plan_tiles
    from incomplete_fusion.apis.scene.merge import InstanceMerger
    from incomplete_fusion.datasets.geo_io import RasterGrid
    from incomplete_fusion.modalities import ModalitySet
    crs = CRS.from_epsg(32632)
    grid = RasterGrid(crs, Affine(0.5, 0, 500000.0, 0, -0.5, 5000000.0), 64, 112)
    plan = ScenePlan(ModalitySet.from_config([dict(name='rgb', channels=3)]), {}, grid)
    left, right = plan_tiles(64, 112, TILE, OVERLAP)
    valid = np.ones((TILE, TILE), bool)
    out = tmp_path / 'ids.tif'
    options = SceneOptions(tile_size=TILE, overlap=OVERLAP, score_thr=0.3, format='gtiff',
                           vector_format=fmt)
    with InstanceMerger(None, plan, options, out) as merger:
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
    from incomplete_fusion.apis.scene.vectors import FeatureWriter
    with FeatureWriter(tmp_path / 'none.gpkg', CRS.from_epsg(32632), 'gpkg') as writer:
        pass
    info = pyogrio.read_info(str(tmp_path / 'none.gpkg'))
    assert writer.count == 0 and info['features'] == 0
    assert info['geometry_type'] == 'MultiPolygon' and 'id' in list(info['fields'])
    with pytest.raises(ValueError, match='geojson'):
        FeatureWriter(tmp_path / 'x.shp', None, 'shp')
