"""End-to-end scene inference with tiny FusionViT-Mask2Former models (random init).

Scene: ``make_scene`` 208 px (rgb 0.5 m with a nodata hole, sar at 1 m missing a
west strip, dsm missing a south strip), predicted on a 160 × 224 px reference grid
(so the eastern 16 columns lie outside every input) with 64 px tiles, overlap 16.
"""
import json

import numpy as np
import pytest
import rasterio
import rasterio.features
import torch
from affine import Affine

from incomplete_fusion.apis import infer_scene, init_model, plan_scene
from incomplete_fusion.apis.model import model_modality_set
from incomplete_fusion.apis.scene import (INSTANCE_NODATA, SEMANTIC_NODATA, SceneOptions,
                                          TileReader, plan_tiles, predict_tiles)
from incomplete_fusion.datasets.geo_io import RasterGrid
from incomplete_fusion.testing import make_scene
from incomplete_fusion.testing.tiny import (INSTANCE_CONFIG, OVERLAP, REPO,  # noqa: F401
                                            SEMANTIC_CONFIG, TILE, TINY_INSTANCE, TINY_SEMANTIC,
                                            load_tool, tiny_config_file, tiny_scene_config)

GRID_H, GRID_W = 160, 224


@pytest.fixture(scope='module')
def scene(tmp_path_factory):
    out = tmp_path_factory.mktemp('scene208')
    paths = make_scene(str(out), size=208, seed=5, nodata_hole=True, hole_fraction=0.1)
    with rasterio.open(paths['rgb']) as src:
        t = src.transform
        grid = RasterGrid(src.crs, t, GRID_H, GRID_W)  # rgb pixels, 16 columns past the east edge
    return {k: paths[k] for k in ('rgb', 'sar', 'dsm')}, grid


@pytest.fixture(scope='module')
def semantic_model():
    torch.manual_seed(0)
    return init_model(tiny_scene_config(SEMANTIC_CONFIG, TINY_SEMANTIC), None)


def _read(path):
    with rasterio.open(path) as src:
        return src.read(1), src.profile


@pytest.mark.parametrize('drop', [None, 'rgb'])
def test_semantic_scene_matches_tilewise_prediction(scene, semantic_model, tmp_path, drop):
    files, grid = scene
    inputs = {k: (None if k == drop else v) for k, v in files.items()}
    out, scores_out = tmp_path / 'pred.tif', tmp_path / 'scores.tif'
    result = infer_scene(semantic_model, inputs, out, tile_size=TILE, overlap=OVERLAP,
                         reference=grid, batch_size=3, scores_path=scores_out, progress=False)
    pred, profile = _read(out)
    # georeferencing and size of the reference grid
    assert profile['crs'] == grid.crs and profile['transform'] == grid.transform
    assert pred.shape == (GRID_H, GRID_W) and pred.dtype == np.uint8
    assert profile['nodata'] == SEMANTIC_NODATA
    assert result.num_tiles == 15 and result.missing == (() if drop is None else (drop, ))
    # nodata exactly where no input has data: east of the scene (x >= 208)
    assert (pred[:, 208:] == SEMANTIC_NODATA).all()
    assert (pred[:, :208] < 2).all()

    # interior: pixels covered by a single tile equal the model's own prediction of
    # that tile, read through the same path (tile at row 1, col 2: y0=48, x0=96)
    plan = plan_scene(inputs, model_modality_set(semantic_model), reference=grid)
    tiles = plan_tiles(GRID_H, GRID_W, TILE, OVERLAP)
    tile = next(t for t in tiles if (t.row, t.col) == (1, 2))
    assert (tile.y0, tile.x0) == (48, 96)
    reader = TileReader.from_model(semantic_model)
    img = reader.read_tile(plan, tile).img
    # the config's loader = the default loader
    np.testing.assert_array_equal(img, TileReader(plan.modality_set).read_tile(plan, tile).img)
    if drop == 'rgb':
        assert np.isnan(img[:3]).all()
    sample, = predict_tiles(semantic_model, [reader.pack(reader.read_tile(plan, tile))])
    from_array, = predict_tiles(semantic_model, img[None])
    torch.testing.assert_close(from_array.seg_logits.data, sample.seg_logits.data)
    direct = sample.pred_sem_seg.data[0].numpy()
    direct_scores = sample.seg_logits.data.numpy()
    # the scene run predicted the tile in one call with its row's first two tiles
    # (batch_size=3, batches are runs of one tile row): the same call, the same bits
    mates = [t for t in tiles if t.row == tile.row][:3]
    assert mates[2] == tile
    in_batch = predict_tiles(semantic_model,
                             [reader.pack(reader.read_tile(plan, t)) for t in mates])[2]
    with rasterio.open(scores_out) as src:
        scores = src.read()
        assert src.transform == grid.transform and src.count == 2
    # neighbours: the tile above ends at row 64, the one below starts at 96;
    # the left one ends at column 112, the right one starts at 144
    core = np.s_[64:96, 112:144]
    np.testing.assert_array_equal(scores[(slice(None), ) + core],
                                  in_batch.seg_logits.data.numpy()[:, 16:48, 16:48])
    np.testing.assert_array_equal(pred[core], in_batch.pred_sem_seg.data[0].numpy()[16:48, 16:48])
    # alone, the tile is another call (other batch shape, other modalities computed):
    # equal up to float32 rounding, labels equal except at near ties
    tol = 1e-4  # float32 rounding through a two-layer model, on probabilities in [0, 1]
    np.testing.assert_allclose(scores[(slice(None), ) + core], direct_scores[:, 16:48, 16:48],
                               rtol=0, atol=tol)
    top2 = np.sort(direct_scores[:, 16:48, 16:48], axis=0)[-2:]
    clear = top2[1] - top2[0] > 2 * tol
    assert clear.mean() > 0.5
    np.testing.assert_array_equal(pred[core][clear], direct[16:48, 16:48][clear])
    assert np.isnan(scores[:, :, 208:]).all() and np.isfinite(scores[:, :, :208]).all()
    # in the overlaps the scores are a blend: between the tiles' own scores, not equal to one
    assert not np.allclose(scores[:, 48:64, 112:144], direct_scores[:, :16, 16:48])


def test_semantic_scene_with_nodata_hole_keeps_predicting(scene, semantic_model, tmp_path):
    """The rgb cloud hole is NaN for the model, but sar/dsm still cover it."""
    files, _ = scene
    plan = plan_scene(files, model_modality_set(semantic_model))
    assert plan.reference_name == 'rgb' and plan.grid.width == 208
    with rasterio.open(files['rgb']) as src:
        hole = (src.read() == 0).all(axis=0)
    assert 0.05 < hole.mean() < 0.2
    out = tmp_path / 'pred_full.tif'
    result = infer_scene(semantic_model, files, out, tile_size=TILE, overlap=OVERLAP,
                         progress=False)
    pred, profile = _read(out)
    assert profile['transform'] == plan.grid.transform and pred.shape == (208, 208)
    assert (pred[hole] < 2).all()  # predicted, not nodata
    assert result.num_tiles_run == result.num_tiles == 16
    # bounded memory: one strip of tile + 16 rows (2 class scores + weight sum in float32,
    # a validity byte), not the 208 rows of the scene
    assert result.peak_buffer_bytes == (2 + 1) * 4 * (TILE + 16) * 208 + (TILE + 16) * 208


def test_instance_scene_writes_ids_and_polygons_in_map_coordinates(scene, tmp_path):
    files, full = scene
    torch.manual_seed(0)
    model = init_model(tiny_scene_config(INSTANCE_CONFIG, TINY_INSTANCE), None)
    grid = RasterGrid(full.crs, full.transform, 96, 128)
    out = tmp_path / 'inst.tif'
    result = infer_scene(model, files, out, tile_size=TILE, overlap=OVERLAP, reference=grid,
                         score_thr=0.0, progress=False)
    ids, profile = _read(out)
    assert profile['crs'] == grid.crs and profile['transform'] == grid.transform
    assert ids.shape == (96, 128) and ids.dtype == np.uint32
    assert profile['nodata'] == INSTANCE_NODATA
    with open(result.geojson_path) as f:
        collection = json.load(f)
    assert collection['type'] == 'FeatureCollection'
    assert collection['crs']['properties']['name'].endswith('32632')
    features = collection['features']
    assert result.num_instances == len(features) > 0
    present = set(np.unique(ids)) - {0, INSTANCE_NODATA}
    assert present == {f['properties']['id'] for f in features}
    left, bottom, right, top = grid.bounds
    for feature in features:
        fid = feature['properties']['id']
        geometry = feature['geometry']
        rings = (geometry['coordinates'] if geometry['type'] == 'Polygon' else
                 [ring for poly in geometry['coordinates'] for ring in poly])
        xy = np.array([pt for ring in rings for pt in ring])
        # map coordinates (UTM metres), inside the grid's footprint
        assert (xy[:, 0] >= left).all() and (xy[:, 0] <= right).all()
        assert (xy[:, 1] >= bottom).all() and (xy[:, 1] <= top).all()
        # burning the polygon back onto the grid gives exactly that id's pixels
        burnt = rasterio.features.rasterize([(geometry, 1)], out_shape=ids.shape,
                                            transform=grid.transform, dtype='uint8')
        np.testing.assert_array_equal(burnt.astype(bool), ids == fid)
        assert feature['properties']['pixels'] == int((ids == fid).sum())
        assert 0.0 <= feature['properties']['score'] <= 1.0
        assert feature['properties']['class'] == 'building'  # the dataset's class names


def test_the_config_pipeline_and_active_set_make_the_model_input(scene, tmp_path, monkeypatch):
    """Tiles go through the config's own test pipeline (a change there reaches inference:
    here its resize to 128 px) and the model's active set (inactive files never opened,
    their channels NaN in the backbone input); the output stays on the scene grid."""
    files, full = scene
    torch.manual_seed(0)
    model = init_model(tiny_scene_config(SEMANTIC_CONFIG, TINY_SEMANTIC, scale=(128, 128)), None,
                       active=['sar', 'dsm'])
    seen, opened = [], []
    model.backbone.register_forward_pre_hook(lambda _, args: seen.append(args[0].clone()))
    real_open = rasterio.open
    monkeypatch.setattr(rasterio, 'open', lambda path, *args, **kwargs: (
        opened.append(str(path)), real_open(path, *args, **kwargs))[1])
    grid = RasterGrid(full.crs, full.transform, TILE, TILE)
    result = infer_scene(model, files, tmp_path / 'pred.tif', tile_size=TILE, overlap=0,
                         reference=grid, progress=False, batch_size=1)  # one tile per pass
    assert result.ignored == ('rgb', ) and result.num_tiles_run == 1
    inputs, = seen
    assert inputs.shape == (1, 5, 128, 128)
    assert torch.isnan(inputs[:, :3]).all() and torch.isfinite(inputs[:, 3:]).any()
    assert files['rgb'] not in opened and files['sar'] in opened
    pred, _ = _read(result.path)
    assert pred.shape == (TILE, TILE) and (pred < 2).any()


def test_trained_checkpoint_through_the_cli(scene, dfc2023_root, tmp_path, monkeypatch):
    """tools/train.py writes a checkpoint with the mmengine runner; tools/infer.py uses it."""
    config = tiny_config_file(tmp_path / 'tiny_semantic.py', SEMANTIC_CONFIG, TINY_SEMANTIC)
    work_dir = tmp_path / 'work'
    load_tool('train').main([
        config, '--work-dir', str(work_dir), '--cfg-options', f'data_root={dfc2023_root}/',
        'train_cfg.max_iters=1', 'train_dataloader.batch_size=1',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_cfg=None', 'val_dataloader=None', 'val_evaluator=None',
        'default_hooks.checkpoint.interval=1'
    ])
    checkpoint = work_dir / 'iter_1.pth'
    assert checkpoint.exists()

    files, _ = scene
    out = tmp_path / 'cli_pred.tif'
    import incomplete_fusion.apis as apis
    import incomplete_fusion.apis.scene.engine as engine
    plans = []

    def counted(*args, **kwargs):
        plans.append(args)
        return plan_scene(*args, **kwargs)

    monkeypatch.setattr(apis, 'plan_scene', counted)
    monkeypatch.setattr(engine, 'plan_scene', counted)
    result = load_tool('infer').main([
        config, str(checkpoint), '--input', f'sar={files["sar"]}', '--input',
        f'dsm={files["dsm"]}', '--out', str(out), '--tile-size', '64', '--overlap', '16',
        '--resolution', '1.0', '--no-progress'
    ])
    pred, profile = _read(out)
    with rasterio.open(files['dsm']) as src:  # dsm (0.5 m) is finer than sar (1 m)
        t = src.transform
    assert len(plans) == 1  # planned once: validated before the model, then used
    assert result.reference_name == 'dsm' and result.missing == ('rgb', )
    assert result.status == 'done' and result.inputs == dict(sar=files['sar'], dsm=files['dsm'])
    # union of sar and dsm = the dsm's origin; --resolution 1.0 halves the 208 px
    assert profile['transform'] == Affine(1.0, 0.0, t.c, 0.0, -1.0, t.f)
    assert pred.shape == (result.grid.height, result.grid.width) == (104, 104)
    # south-west corner: outside dsm (south strip) and sar (west strip) → nodata
    assert (pred[91:, :13] == SEMANTIC_NODATA).all()
    assert (pred[:91] < 2).all() and (pred[91:, 14:] < 2).all()
    # the runner's weights are the ones used
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)['state_dict']
    model = init_model(config, str(checkpoint))
    assert model.state_dict().keys() == state.keys()
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, state[key])
    with pytest.raises(SystemExit, match='1 channel'):
        load_tool('infer').main([config, str(checkpoint), '--input', f'sar={files["rgb"]}',
                                  '--out', str(tmp_path / 'x.tif')])


def _instances(boxes, scores, size=TILE):
    """mmdet-style pred_instances with rectangular masks (y0, y1, x0, x1) in tile pixels."""
    from mmengine.structures import InstanceData
    masks = torch.zeros(len(boxes), size, size, dtype=torch.bool)
    for k, (y0, y1, x0, x1) in enumerate(boxes):
        masks[k, y0:y1, x0:x1] = True
    inst = InstanceData(masks=masks, scores=torch.tensor(scores, dtype=torch.float32),
                        labels=torch.zeros(len(boxes), dtype=torch.long))
    from mmdet.structures import DetDataSample
    return DetDataSample(pred_instances=inst)


def test_instances_across_tiles_are_kept_once(tmp_path):
    """Centroid-in-core ownership and duplicate suppression, on known instance masks."""
    from rasterio.crs import CRS

    from incomplete_fusion.apis.scene.merge import InstanceMerger
    from incomplete_fusion.apis.scene.plan import ScenePlan
    from incomplete_fusion.modalities import ModalitySet
    grid = RasterGrid(CRS.from_epsg(32632), Affine(0.5, 0, 500000.0, 0, -0.5, 5000000.0), 64, 112)
    plan = ScenePlan(ModalitySet.from_config([dict(name='rgb', channels=3)]), {}, grid)
    left, right = plan_tiles(64, 112, TILE, OVERLAP)  # x0 = 0 and 48; cores cut at x = 56
    assert left.core == (0, 64, 0, 56) and right.core == (0, 64, 56, 112)
    valid = np.ones((TILE, TILE), bool)
    out = tmp_path / 'ids.tif'
    options = SceneOptions(tile_size=TILE, overlap=OVERLAP, score_thr=0.3, format='gtiff')
    with InstanceMerger(None, plan, options, out) as merger:
        # building A (scene cols 40..60, centroid 50) seen by both tiles
        merger.add(left, _instances([(10, 30, 40, 60), (40, 50, 2, 8)], [0.9, 0.2]), valid)
        merger.add(right, _instances([
            (10, 30, 0, 12),  # A again, centroid 54 (scene) → owned by the left tile: skipped
            (12, 30, 2, 16),  # A shifted (scene 50..64, centroid 57 → right core), 71 % taken
            (40, 60, 30, 50),  # building B, scene cols 78..98
            (40, 50, 1, 11),  # C, scene cols 49..59, centroid 53.5: the left tile's business
        ], [0.8, 0.7, 0.6, 0.6]), valid)
        merger.flush(64)
    ids, profile = _read(out)
    assert merger.num_instances == 2  # A once, B once; low-score and duplicates dropped
    assert (ids[10:30, 40:60] == 1).all() and (ids[40:60, 78:98] == 2).all()
    assert set(np.unique(ids)) == {0, 1, 2}
    assert (ids[40:50, 2:8] == 0).all()  # below score_thr
    assert (ids[40:50, 49:59] == 0).all()  # centroid in the other tile's core
    with open(merger.geojson_path) as f:
        features = json.load(f)['features']
    assert [f['properties']['id'] for f in features] == [1, 2]
    assert [f['properties']['pixels'] for f in features] == [400, 400]
    # polygon of A in map coordinates: x from 500000 + 40 * 0.5 to 500000 + 60 * 0.5
    xs = [pt[0] for pt in features[0]['geometry']['coordinates'][0]]
    ys = [pt[1] for pt in features[0]['geometry']['coordinates'][0]]
    assert (min(xs), max(xs)) == (500020.0, 500030.0)
    assert (min(ys), max(ys)) == (5000000.0 - 15.0, 5000000.0 - 5.0)
