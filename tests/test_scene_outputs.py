"""GIS-ready scene outputs: COG layout, colour table, class names, band descriptions,
row windows (one process's share of a scene) equal to the whole-scene output."""
import os
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import rasterio

from incomplete_fusion.apis import infer_scene
from incomplete_fusion.apis.scene import SEMANTIC_NODATA, GeoTiffWriter, write_geotiff
from incomplete_fusion.testing.tiny import OVERLAP, TILE
from test_scene_inference import scene, semantic_model  # noqa: F401 (fixtures)


def test_cog_validates_with_classes_colours_and_scores(scene, semantic_model, tmp_path):
    files, grid = scene
    out, scores = tmp_path / 'pred.tif', tmp_path / 'scores.tif'
    result = infer_scene(semantic_model, files, out, tile_size=TILE, overlap=OVERLAP,
                         reference=grid, scores_path=scores, progress=False)
    assert result.path == str(out)
    assert sorted(os.listdir(tmp_path)) == ['pred.tif', 'pred.tif.aux.xml', 'scores.tif']
    with rasterio.open(out) as src:
        # COG: internal tiling, compression, overviews, COG layout
        assert src.profile['tiled'] and src.profile['compress'] == 'deflate'
        assert src.tags(ns='IMAGE_STRUCTURE')['LAYOUT'] == 'COG'
        assert src.overviews(1) == []  # 160 x 224 px: fits one 512 px block
        assert src.crs == grid.crs and src.transform == grid.transform
        assert src.nodata == SEMANTIC_NODATA and src.descriptions == ('class', )
        cmap = src.colormap(1)
        assert cmap[0] == (0, 0, 0, 255) and cmap[1] == (220, 20, 60, 255)
        assert cmap[SEMANTIC_NODATA][3] == 0
        tags = src.tags(1)
        assert tags['CLASS_0'] == 'background' and tags['CLASS_1'] == 'building'
        assert (src.read(1)[:, 208:] == SEMANTIC_NODATA).all()
    with rasterio.open(scores) as src:
        assert src.tags(ns='IMAGE_STRUCTURE')['LAYOUT'] == 'COG'
        assert src.descriptions == ('score_background', 'score_building')
        assert src.dtypes == ('float32', ) * 2 and np.isnan(src.nodata)
    band = ET.parse(f'{out}.aux.xml').getroot().find('PAMRasterBand')
    assert [c.text for c in band.find('CategoryNames')] == ['background', 'building']
    rows = band.find('GDALRasterAttributeTable').findall('Row')
    assert [[f.text for f in r] for r in rows][1] == ['1', 'building', '220', '20', '60']


def test_large_cog_has_overviews_and_matches_gtiff(tmp_path):
    data = (np.arange(1100 * 1300) % 7).reshape(1100, 1300).astype(np.uint8)
    opts = dict(crs='EPSG:32632', transform=rasterio.Affine(0.5, 0, 5e5, 0, -0.5, 5e6),
                nodata=255, class_names=[f'c{k}' for k in range(7)],
                colormap={k: (k, k, k) for k in range(7)}, descriptions=['class'])
    cog = write_geotiff(tmp_path / 'a.tif', data, format='cog', **opts)
    plain = write_geotiff(tmp_path / 'b.tif', data, format='gtiff', **opts)
    with rasterio.open(cog) as c, rasterio.open(plain) as p:
        assert c.overviews(1) == [2, 4] and c.block_shapes[0] == (512, 512)
        assert not p.profile['tiled'] and p.overviews(1) == []
        np.testing.assert_array_equal(c.read(1), p.read(1))
        assert c.colormap(1)[3] == (3, 3, 3, 255) and c.tags(1)['CLASS_6'] == 'c6'
        # overviews of a class raster are classes (mode), not averages
        assert set(np.unique(c.read(1, out_shape=(275, 325)))) <= set(range(7))


def test_interrupted_write_leaves_no_output(tmp_path):
    out = tmp_path / 'x.tif'
    with pytest.raises(RuntimeError):
        with GeoTiffWriter(out, 32, 32, 1, 'uint8', format='cog') as writer:
            writer.write_rows(0, np.zeros((16, 32), np.uint8))
            raise RuntimeError('killed')
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize('fmt', ['cog', 'gtiff'])
def test_row_windows_equal_the_whole_scene(scene, semantic_model, tmp_path, fmt):
    files, grid = scene
    whole = infer_scene(semantic_model, files, tmp_path / 'whole.tif', tile_size=TILE,
                        overlap=OVERLAP, reference=grid, scores_path=tmp_path / 's.tif',
                        progress=False, format=fmt)
    with rasterio.open(whole.path) as src:
        expected = src.read(1)
    with rasterio.open(tmp_path / 's.tif') as src:
        expected_scores = src.read()
    for a, b in [(0, 48), (48, 112), (112, 160)]:
        part = infer_scene(semantic_model, files, tmp_path / f'w{a}.tif', tile_size=TILE,
                           overlap=OVERLAP, reference=grid, rows=(a, b), progress=False,
                           scores_path=tmp_path / f's{a}.tif', format=fmt)
        assert part.num_tiles == {0: 5, 48: 15, 112: 5}[a]  # tile rows at y = 0, 48, 96
        with rasterio.open(part.path) as src:
            assert src.height == b - a and src.transform.f == grid.transform.f - a * 0.5
            np.testing.assert_array_equal(src.read(1), expected[a:b])
        with rasterio.open(tmp_path / f's{a}.tif') as src:
            assert src.read().tobytes() == expected_scores[:, a:b].tobytes()
    with pytest.raises(ValueError, match='multiples of 16'):
        infer_scene(semantic_model, files, tmp_path / 'bad.tif', tile_size=TILE,
                    overlap=OVERLAP, reference=grid, rows=(8, 40), progress=False)
