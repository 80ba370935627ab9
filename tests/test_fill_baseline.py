"""The per-pixel training mean, the trivial fill a MultiMAE's reconstruction must beat.

Real GeoTIFFs in the DFC2023 layout (train/ and val/ folders of modality folders,
COCO image lists), read through a tiny MultiMAE config's own loader; the expected
fills and errors are computed by hand from the values written.
"""
import json
import os
import os.path as osp

import numpy as np
import pytest
import rasterio
import torch
from rasterio.transform import from_origin

from test_pretrain_multimae import one_thread  # noqa: F401  (autouse: one thread)
from test_reconstruct import REPO, load_tool

NODATA = -9999.0
GRID = np.arange(16, dtype=np.float64).reshape(4, 4)
SPECS = """[
    dict(name='opt', channels=2, norm=dict(mean=(10.0, 0.0), std=(2.0, 1.0))),
    dict(name='dsm', channels=1, norm='tile_zscore'),
    dict(name='lc', channels=1, kind='categorical', num_classes=3, norm=None),
]"""


def write_tif(path, data, nodata):
    os.makedirs(osp.dirname(path), exist_ok=True)
    data = np.asarray(data)[None] if np.ndim(data) == 2 else np.asarray(data)
    with rasterio.open(path, 'w', driver='GTiff', width=4, height=4, count=data.shape[0],
                       dtype=data.dtype, nodata=nodata, crs='EPSG:32631',
                       transform=from_origin(500000, 4000000, 1, 1)) as dst:
        dst.write(data)


def write_split(root, split, ann, tiles):
    """``tiles``: {file name: (opt (2, 4, 4), dsm (4, 4), lc (4, 4) uint8)}."""
    images = []
    for i, (name, (opt, dsm, lc)) in enumerate(tiles.items()):
        write_tif(osp.join(root, split, 'opt', name), opt.astype(np.float32), NODATA)
        write_tif(osp.join(root, split, 'dsm', name), dsm.astype(np.float32), NODATA)
        write_tif(osp.join(root, split, 'lc', name), lc.astype(np.uint8), 255)
        images.append(dict(id=i + 1, file_name=name, width=4, height=4))
    os.makedirs(osp.join(root, 'annotations'), exist_ok=True)
    with open(osp.join(root, 'annotations', ann), 'w') as f:
        json.dump(dict(images=images, annotations=[],
                       categories=[dict(id=1, name='building')]), f)


def training_tiles():
    """Tile k: opt band 0 normalised to k (nodata at (0, 0) in tile 2), band 1 k*GRID;
    dsm k*100 + GRID (nodata at (3, 3) everywhere); lc mostly 0, 0, 1."""
    tiles = {}
    for k in range(3):
        opt = np.stack([np.full((4, 4), 10.0 + 2 * k), k * GRID])
        dsm = k * 100 + GRID.copy()
        dsm[3, 3] = NODATA
        lc = np.full((4, 4), [0, 0, 1][k])
        lc[1, 1] = [0, 2, 2][k]
        lc[0, 3] = k  # a three-way tie: the lower class
        if k < 2:
            lc[2, 2] = 255  # nodata: only tile 2 has a class there
        tiles[f'T{k}.tif'] = (opt, dsm, lc)
    tiles['T2.tif'][0][0, 0, 0] = NODATA
    return tiles


def held_out_tile():
    opt = np.stack([np.full((4, 4), 16.0), np.zeros((4, 4))])  # normalised: 3 and 0
    opt[:, 3, 0] = NODATA  # not a valid pixel of opt
    return {'V0.tif': (opt, 2 * GRID, np.full((4, 4), 2))}


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    from incomplete_fusion.apis.reconstruct import init_pretrain_model
    tmp = tmp_path_factory.mktemp('fill')
    root = str(tmp / 'data')
    write_split(root, 'train', 'train.json', training_tiles())
    write_split(root, 'val', 'test.json', held_out_tile())
    config = tmp / 'config.py'
    config.write_text(
        f"_base_ = ['{osp.join(REPO, 'configs', 'fusionvit', 'multimae_dfc2023.py')}']\n"
        f"modality_specs = {SPECS}\n"
        "modalities = ['opt', 'dsm', 'lc']\n"
        "train_dataloader = dict(dataset=dict(ann_file='annotations/train.json'))\n"
        "model = dict(\n"
        "    backbone=dict(modality_specs=modality_specs, embed_dims=32, depth=2, num_heads=2,\n"
        "                  img_size=4, patch_size=4, out_indices=(0, 1)),\n"
        "    head=dict(modality_specs=modality_specs, in_dims=32, decoder_dims=32, patch_size=4,\n"
        "              decoder_heads=4, losses=dict(_delete_=True, opt=dict(type='l2'),\n"
        "              dsm=dict(type='l1'), lc=dict(type='ce'))))\n")
    torch.manual_seed(0)
    model = init_pretrain_model(str(config), cfg_options=dict(data_root=root))
    checkpoint = str(tmp / 'tiny.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict()), checkpoint)
    return str(config), checkpoint, root, model


def zscore(values):
    finite = values[np.isfinite(values)]
    return (values - finite.mean()) / finite.std()


def test_per_pixel_training_mean_by_hand(setup):
    from incomplete_fusion.apis.fill_baseline import split_tiles, training_mean_fill
    model = setup[3]
    tiles = split_tiles(model)  # the config's training dataset
    assert [osp.basename(t['opt']) for t in tiles] == ['T0.tif', 'T1.tif', 'T2.tif']
    fill = training_mean_fill(model, tiles)
    assert fill['opt'].shape == (2, 4, 4) and fill['opt'].dtype == np.float32
    band0 = np.ones((4, 4))
    band0[0, 0] = 0.5  # tile 2's nodata skipped: (0 + 1) / 2
    np.testing.assert_allclose(fill['opt'][0], band0, rtol=1e-6)
    np.testing.assert_allclose(fill['opt'][1], GRID, rtol=1e-6)  # (0 + 1 + 2) / 3 * GRID
    # DSM: the mean of per-tile z-scores (each tile: GRID without (3, 3), shifted);
    # (3, 3), nodata in every tile, gets the mean over all pixels: 0 for z-scores
    dsm = GRID.copy()
    dsm[3, 3] = np.nan
    expected = zscore(dsm)
    expected[3, 3] = 0.0
    np.testing.assert_allclose(fill['dsm'][0], expected, rtol=1e-5, atol=1e-6)
    lc = np.zeros((4, 4))
    lc[1, 1], lc[2, 2] = 2, 1  # 0, 2, 2 -> 2; nodata, nodata, 1 -> 1; (0, 3) tie -> 0
    np.testing.assert_array_equal(fill['lc'][0], lc)


def test_mean_fill_error_by_hand_next_to_the_other_keys(setup):
    from incomplete_fusion.apis.fill_baseline import split_tiles
    from incomplete_fusion.apis.reconstruct import leave_one_out_errors
    model = setup[3]
    held_out = split_tiles(model, 'annotations/test.json', 'val/')
    errors = leave_one_out_errors(model, held_out, train_tiles=split_tiles(model))
    assert set(errors) == {'opt', 'dsm', 'lc'}
    assert all(set(row) == {'missing', 'given', 'zero', 'mean_fill'} for row in errors.values())
    # opt, 15 valid pixels ((3, 0) is nodata): per pixel (|fill0 - 3| + |GRID - 0|) / 2
    # = (14 * 2 + 2.5 + (120 - 12)) / 2 / 15
    assert errors['opt']['mean_fill'] == pytest.approx(138.5 / 30, rel=1e-6)
    assert errors['opt']['zero'] == pytest.approx((15 * 3 + 0) / 2 / 15, rel=1e-6)
    dsm_fill = zscore(np.where(GRID == 15, np.nan, GRID))
    dsm_fill[3, 3] = 0.0
    assert errors['dsm']['mean_fill'] == pytest.approx(
        np.abs(dsm_fill - zscore(GRID)).mean(), rel=1e-5)
    assert errors['lc']['mean_fill'] == pytest.approx(15 / 16)  # right only at (1, 1)
    assert 'mean_fill' not in leave_one_out_errors(model, held_out)['opt']
    with pytest.raises(ValueError, match='at least one'):
        leave_one_out_errors(model, held_out, train_tiles=[])


def test_tool_prints_the_mean_fill_column(setup, capsys):
    config, checkpoint, root, model = setup
    errors = load_tool().main([config, checkpoint, '--errors', 'annotations/test.json', 'val/',
                               '--mean-fill', '--cfg-options', f'data_root={root}'])
    out = capsys.readouterr().out
    assert '| modality | missing | given | zero | mean_fill |' in out
    assert f"| opt | {errors['opt']['missing']:.4f} |" in out
    assert errors['opt']['mean_fill'] == pytest.approx(138.5 / 30, rel=1e-6)
    assert '1 held-out tiles, per-pixel mean of 3 training tiles' in out


@pytest.mark.parametrize('argv, message', [
    (['--mean-fill'], 'column of --errors'),
    (['--errors', 'a.json', 'val/', 'x'], 'takes ANN_FILE'),
    (['--errors', 'a.json', '--inputs', 'opt=a.tif'], 'give one'),
    ([], '--inputs and --out'),
])
def test_tool_rejects_bad_options(argv, message, capsys):
    with pytest.raises(SystemExit):
        load_tool().parse_args(['config.py', 'ckpt.pth'] + argv)
    assert message in capsys.readouterr().err


def test_absent_split_and_a_size_mismatch_are_clear(setup, tmp_path):
    from incomplete_fusion.apis.fill_baseline import split_tiles, training_mean_fill
    from incomplete_fusion.datasets.modality_paths import DataNotFoundError
    model = setup[3]
    with pytest.raises(DataNotFoundError, match='annotation file'):
        split_tiles(model, 'annotations/none.json')
    big = str(tmp_path / 'big.tif')
    with rasterio.open(big, 'w', driver='GTiff', width=8, height=8, count=1, dtype='float32',
                       crs='EPSG:32631', transform=from_origin(500000, 4000000, 1, 1)) as dst:
        dst.write(np.zeros((1, 8, 8), np.float32))
    tiles = split_tiles(model)
    with pytest.raises(ValueError, match='differ in size'):
        training_mean_fill(model, tiles + [dict(dsm=big)])
