"""Which scene outputs are byte-identical, and what bounds the others.

A batch is a run of tiles of one tile row of one scene (``mix_scenes=False``, the
default), so however a scene is run -- alone or among other scenes, in any order,
reader pool on or off, cut into row windows -- the model makes the same calls on the
same tensors: the rasters must be byte-identical, on any CPU. The scenes are built
so that batch-mates differ in which modalities they have (the west of a scene
has no RGB; other scenes lack RGB or SAR), the case in which FusionViT's token
tensor, and so its kernels, depend on the batch composition. ``mix_scenes=True``
lets batches span rows and scenes: equal up to float32 rounding only.
"""
import os

import numpy as np
import pytest
import rasterio
import torch

from incomplete_fusion.apis import infer_scene, infer_scenes, init_model
from incomplete_fusion.apis.scene import assemble_windows
from incomplete_fusion.testing import make_scene
from incomplete_fusion.testing.tiny import (SEMANTIC_CONFIG, tiny_scene_config,
                                            tiny_scene_overrides)

SUBSETS = {'all': ('rgb', 'sar', 'dsm'), 'sar_dsm': ('sar', 'dsm'), 'rgb_dsm': ('rgb', 'dsm'),
           'sar': ('sar', )}
# Mixed batches change the kernels' blocking: float32 rounding (~1e-7 relative per
# operation) through a two-layer model; 1e-4 on probabilities in [0, 1] leaves a wide margin.
SCORE_TOL = 1e-4


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    """Four 128 px scenes with the modality sets of ``SUBSETS``; RGB is nodata in
    the west three quarters of every scene that has it, so a tile row mixes tiles
    with and without RGB (for 64 and 96 px tiles)."""
    root = tmp_path_factory.mktemp('repro')
    out = {}
    for k, (name, keep) in enumerate(SUBSETS.items()):
        paths = make_scene(str(root / name), size=128, seed=40 + k, hole_fraction=0.05)
        with rasterio.open(paths['rgb'], 'r+') as dst:
            rgb = dst.read()
            rgb[:, :, :rgb.shape[2] * 3 // 4] = dst.nodata
            dst.write(rgb)
        out[name] = {m: (paths[m] if m in keep else None) for m in ('rgb', 'sar', 'dsm')}
    return out


def _model(tile: int, dims: int):
    torch.manual_seed(0)
    return init_model(tiny_scene_config(SEMANTIC_CONFIG, tiny_scene_overrides(dims, tile),
                                        scale=(tile, tile)), None)


def _bytes(path) -> bytes:
    with open(path, 'rb') as f:
        return f.read()


def _presence_per_batch(model, calls: list):
    """Record, per model call, each tile's set of modalities with an available token."""
    backbone = model.backbone

    def hook(_, args):
        available = backbone.availability(args[0])
        calls.append([tuple(n for n in backbone.names if bool(available[n][i].any()))
                      for i in range(args[0].shape[0])])
    return backbone.register_forward_pre_hook(hook)


@pytest.mark.parametrize('tile,batch_size,dims', [(64, 3, 32), (96, 2, 64), (64, 1, 32)])
def test_a_scene_gives_the_same_bytes_however_it_is_run(scenes, tmp_path, tile, batch_size,
                                                        dims):
    model = _model(tile, dims)
    options = dict(tile_size=tile, overlap=16, batch_size=batch_size)
    alone = tmp_path / 'alone'
    calls = []
    handle = _presence_per_batch(model, calls)
    try:
        for name, inputs in scenes.items():
            infer_scene(model, inputs, alone / f'{name}.tif', scores_path=alone /
                        f'{name}_scores.tif', workers=0, progress=False, **options)
    finally:
        handle.remove()
    if batch_size > 1:  # the adversarial case is really there: batch-mates differ
        assert any(len(set(batch)) > 1 for batch in calls)
    together = tmp_path / 'together'
    infer_scenes(model, scenes, str(together), scores=True, mosaic=None, workers=2, **options)
    reversed_order = tmp_path / 'reversed'
    infer_scenes(model, dict(reversed(list(scenes.items()))), str(reversed_order), scores=True,
                 mosaic=None, workers=0, **options)
    for name in scenes:
        for suffix in ('.tif', '_scores.tif'):
            reference = _bytes(alone / f'{name}{suffix}')
            assert _bytes(together / f'{name}{suffix}') == reference, f'{name}{suffix}'
            assert _bytes(reversed_order / f'{name}{suffix}') == reference, f'{name}{suffix}'
    # one scene cut into two row windows (one per rank in a distributed run)
    windows = tmp_path / 'windows'
    height = rasterio.open(alone / 'all.tif').height
    parts = []
    for rows in ((0, 64), (64, height)):
        part = windows / f'part{rows[0]}.tif'
        infer_scene(model, scenes['all'], part, rows=rows, format='gtiff', workers=0,
                    progress=False, **options)
        parts.append((str(part), rows[0]))
    merged = assemble_windows(parts, str(windows / 'all.tif'), height)
    assert _bytes(merged) == _bytes(alone / 'all.tif')


def test_mixed_batches_agree_up_to_rounding(scenes, tmp_path):
    model = _model(64, 32)
    options = dict(tile_size=64, overlap=16, batch_size=3, scores=True, mosaic=None)
    infer_scenes(model, scenes, str(tmp_path / 'rows'), workers=0, **options)
    calls = []
    handle = _presence_per_batch(model, calls)
    try:
        infer_scenes(model, scenes, str(tmp_path / 'mixed'), mix_scenes=True, workers=2,
                     **options)
    finally:
        handle.remove()
    assert any(len(set(batch)) > 1 for batch in calls)
    for name in scenes:
        with rasterio.open(tmp_path / 'rows' / f'{name}_scores.tif') as a, \
                rasterio.open(tmp_path / 'mixed' / f'{name}_scores.tif') as b:
            rows, mixed = a.read(), b.read()
        np.testing.assert_array_equal(np.isnan(rows), np.isnan(mixed))
        np.testing.assert_allclose(mixed, rows, rtol=0, atol=SCORE_TOL)
        with rasterio.open(tmp_path / 'rows' / f'{name}.tif') as a, \
                rasterio.open(tmp_path / 'mixed' / f'{name}.tif') as b:
            labels_rows, labels_mixed = a.read(1), b.read(1)
        scores = np.nan_to_num(rows)
        if len(scores) == 1:  # one probability band: its runner-up is 1 - p
            scores = np.concatenate([scores, 1 - scores])
        top2 = np.sort(scores, axis=0)[-2:]
        clear = (top2[1] - top2[0]) > 2 * SCORE_TOL  # the class is not a near tie
        np.testing.assert_array_equal(labels_mixed[clear], labels_rows[clear])
    assert sorted(os.listdir(tmp_path / 'mixed')) == sorted(os.listdir(tmp_path / 'rows'))
