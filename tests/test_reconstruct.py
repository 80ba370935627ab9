"""Filling in missing modalities: API, reading through the config's loader, the tool.

(De-normalisation itself is tested with normalisation, tests/test_data_normalization.py.)"""
import glob
import importlib.util
import os.path as osp

import numpy as np
import pytest
import rasterio
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs', 'fusionvit', 'multimae_dfc2023.py')


def load_tool():
    spec = importlib.util.spec_from_file_location('reconstruct_tool',
                                                  osp.join(REPO, 'tools', 'reconstruct.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_tiny_checkpoint(base_config, tmp):
    """A tiny MultiMAE of a shipped config, randomly initialised, saved as a checkpoint."""
    from incomplete_fusion.apis.reconstruct import init_pretrain_model
    from incomplete_fusion.utils import load_config
    cfg = load_config(base_config)
    cfg.model.backbone.update(embed_dims=32, depth=2, num_heads=2, img_size=64,
                              out_indices=(0, 1))
    cfg.model.head.update(in_dims=32, decoder_dims=32, decoder_heads=4)
    torch.manual_seed(0)
    model = init_pretrain_model(cfg)
    path = str(tmp / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), path)
    config = tmp / 'tiny_config.py'
    config.write_text(f"_base_ = ['{base_config}']\n"
                      "model = dict(backbone=dict(embed_dims=32, depth=2, num_heads=2, "
                      "img_size=64, out_indices=(0, 1)),\n"
                      "             head=dict(in_dims=32, decoder_dims=32, decoder_heads=4))\n")
    return str(config), path


@pytest.fixture(scope='module')
def tiny_checkpoint(tmp_path_factory):
    return make_tiny_checkpoint(CONFIG, tmp_path_factory.mktemp('ckpt'))


def test_tool_writes_georeferenced_geotiffs_and_panel(tiny_checkpoint, dfc2023_root, tmp_path):
    config, checkpoint = tiny_checkpoint
    rgb = sorted(glob.glob(osp.join(dfc2023_root, 'val', 'rgb', '*.tif')))[0]
    sar = osp.join(dfc2023_root, 'val', 'sar', osp.basename(rgb))
    out = tmp_path / 'out'
    written = load_tool().main([config, checkpoint, '--inputs', f'rgb={rgb}', f'sar={sar}',
                                '--out', str(out)])
    assert set(written) == {'rgb', 'sar', 'dsm', 'panel'}
    with rasterio.open(rgb) as src:
        crs, transform, shape = src.crs, src.transform, (src.height, src.width)
    for name, bands in (('rgb', 3), ('sar', 1), ('dsm', 1)):
        with rasterio.open(written[name]) as dst:
            assert dst.crs == crs and dst.transform.almost_equals(transform)
            assert (dst.height, dst.width) == shape and dst.count == bands
            data = dst.read()
            tags = dst.tags()
            assert np.isfinite(data).all()
        assert tags['source'] == ('reconstructed' if name == 'dsm' else 'input')
        # the missing DSM was per-tile z-scored: nothing to invert with
        assert tags['units'] == ('tile_zscore' if name == 'dsm' else 'file')
    with open(written['panel'], 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'


def test_api_on_an_array_and_resized_run(tiny_checkpoint):
    from incomplete_fusion.apis.reconstruct import init_pretrain_model, reconstruct_modalities
    config, checkpoint = tiny_checkpoint
    model = init_pretrain_model(config, checkpoint)
    tile = np.random.default_rng(0).normal(size=(5, 40, 56)).astype(np.float32)
    tile[3:] = np.nan  # sar and dsm missing
    result = reconstruct_modalities(model, tile)  # 40x56: NaN-padded to 48x64 and cropped
    assert result.given == ('rgb', )
    assert result.reconstructions['dsm'].shape == (1, 40, 56)
    resized = reconstruct_modalities(model, tile, size=(64, 64))
    assert resized.reconstructions['rgb'].shape == (3, 40, 56)
    with pytest.raises(ValueError, match='no available patch'):
        reconstruct_modalities(model, np.full((5, 32, 32), np.nan, np.float32))
    with pytest.raises(ValueError, match='expected'):
        reconstruct_modalities(model, np.zeros((4, 32, 32), np.float32))


def test_missing_categorical_map_is_written_as_class_indices(quadruplet_root, tmp_path):
    from incomplete_fusion.apis.reconstruct import (init_pretrain_model, reconstruct_modalities,
                                                    write_reconstructions)
    config, checkpoint = make_tiny_checkpoint(
        osp.join(REPO, 'configs', 'fusionvit', 'multimae_quadruplet.py'), tmp_path)
    model = init_pretrain_model(config, checkpoint)
    s1 = sorted(glob.glob(osp.join(quadruplet_root, '*', 's1', 'val_*.tif')))[0]
    region = osp.dirname(osp.dirname(s1))
    paths = {n: osp.join(region, n, osp.basename(s1)) for n in ('s1', 's2', 'dem')}
    result = reconstruct_modalities(model, paths)
    assert result.given == ('s1', 's2', 'dem') and result.units['dw'] == 'class'
    assert result.units['dem'] == 'file'  # given: per-tile z-score inverted with its stats
    written = write_reconstructions(result, str(tmp_path / 'out'))
    with rasterio.open(written['dw']) as dst:
        data = dst.read()
        assert dst.dtypes == ('uint8', ) and dst.count == 1 and dst.nodata is None
    assert data.max() <= 8
    np.testing.assert_array_equal(data[0], result.reconstructions['dw'].argmax(0))
    with rasterio.open(paths['s1']) as src, rasterio.open(written['s2']) as dst:
        assert dst.crs == src.crs and dst.transform.almost_equals(src.transform)
        assert dst.count == 4


def test_leave_one_out_errors_on_complete_tiles(tiny_checkpoint, dfc2023_root):
    from incomplete_fusion.apis.reconstruct import init_pretrain_model, leave_one_out_errors
    from incomplete_fusion.apis.scene import TileReader
    config, checkpoint = tiny_checkpoint
    model = init_pretrain_model(config, checkpoint)
    names = ('rgb', 'sar', 'dsm')
    tiles = [{n: osp.join(dfc2023_root, 'val', n, osp.basename(p)) for n in names}
             for p in sorted(glob.glob(osp.join(dfc2023_root, 'val', 'rgb', '*.tif')))]
    errors = leave_one_out_errors(model, tiles)
    assert set(errors) == set(names)
    # the zero baseline is the mean absolute normalised value, computed independently
    reader = TileReader.loader_of(model)
    img = [reader.read(t).img for t in tiles]
    sar = np.concatenate([i[3][np.isfinite(i[3])] for i in img])
    assert errors['sar']['zero'] == pytest.approx(np.abs(sar).mean(), rel=1e-5)
    assert all(v > 0 and np.isfinite(v) for row in errors.values() for v in row.values())


def test_tiles_are_read_by_the_config_loader_onto_a_grid_window(tiny_checkpoint, dfc2023_root,
                                                                tmp_path):
    from affine import Affine

    from incomplete_fusion.apis.reconstruct import (init_pretrain_model, reconstruct_modalities,
                                                    write_reconstructions)
    from incomplete_fusion.apis.scene import TileReader
    from incomplete_fusion.datasets.geo_io import RasterGrid
    config, checkpoint = tiny_checkpoint
    model = init_pretrain_model(config, checkpoint, active=['rgb', 'dsm'])
    # the loader is the config's LoadMultimodalImages (its settings), bound to the model's set
    model.cfg.train_dataloader.dataset.pipeline[0]['gdal_options'] = {}
    reader = TileReader.loader_of(model)
    assert reader.loader.gdal_options == {} and reader.modality_set.active == ('rgb', 'dsm')
    rgb = sorted(glob.glob(osp.join(dfc2023_root, 'val', 'rgb', '*.tif')))[0]
    paths = {n: osp.join(dfc2023_root, 'val', n, osp.basename(rgb)) for n in ('rgb', 'sar', 'dsm')}
    with rasterio.open(rgb) as src:
        grid = RasterGrid(src.crs, src.transform, src.height, src.width)
    result = reconstruct_modalities(model, paths, grid=grid, window=(8, 8, 48, 32), reader=reader)
    assert result.given == ('rgb', 'dsm')  # sar is inactive: not read, reconstructed
    assert np.isnan(result.inputs[3]).all() and result.inputs.shape == (5, 32, 48)
    assert result.transform == grid.transform @ Affine.translation(8, 8)
    assert result.units == dict(rgb='file', sar='file', dsm='file')  # dsm: the tile's stats
    written = write_reconstructions(result, str(tmp_path / 'w'), panel=False)
    with rasterio.open(written['dsm']) as dst:
        assert dst.transform == result.transform and (dst.height, dst.width) == (32, 48)
        assert dst.tags()['source'] == 'input'
