"""The full model on every device: a bf16-autocast train step, and scene inference.

CPU always; CUDA when present (skipped with its reason otherwise). On CUDA the
scene prediction is compared with the CPU one of the same weights.
"""
import copy

import numpy as np
import pytest
import rasterio
import torch
from mmengine.optim import OptimWrapper
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from incomplete_fusion.apis import infer_scene, init_model
from incomplete_fusion.apis.scene import SEMANTIC_NODATA
from incomplete_fusion.testing.tiny import (OVERLAP, SEMANTIC_CONFIG, TILE, TINY_SEMANTIC,
                                            tiny_scene_config)
from test_device_paths import DEVICES
from test_scene_inference import scene  # noqa: F401 (fixture)


def _batch(n=2, size=TILE):
    torch.manual_seed(1)
    inputs = [torch.randn(5, size, size) for _ in range(n)]
    inputs[1][:3] = float('nan')  # the second sample has no rgb
    samples = []
    for _ in range(n):
        sample = SegDataSample(metainfo=dict(img_shape=(size, size), ori_shape=(size, size)))
        sample.gt_sem_seg = PixelData(data=(torch.rand(1, size, size) > 0.7).long())
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('device', DEVICES)
def test_full_model_train_step_under_bf16_autocast(device):
    torch.manual_seed(0)
    model = init_model(tiny_scene_config(SEMANTIC_CONFIG, TINY_SEMANTIC), None, device=device).train()
    before = copy.deepcopy(model.backbone.patch_embeds['sar'].state_dict())
    wrapper = OptimWrapper(torch.optim.AdamW(model.parameters(), lr=1e-3))
    with torch.autocast(device_type=device, dtype=torch.bfloat16):
        losses = model.train_step(_batch(), wrapper)
    assert losses and all(torch.isfinite(v).all() for v in losses.values())
    after = model.backbone.patch_embeds['sar'].state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # the step trained
    assert all(torch.isfinite(p).all() for p in model.parameters())


@pytest.mark.parametrize('device', DEVICES)
def test_scene_inference_on_device(scene, tmp_path, device):  # noqa: F811
    files, grid = scene
    torch.manual_seed(0)
    model = init_model(tiny_scene_config(SEMANTIC_CONFIG, TINY_SEMANTIC), None, device=device)
    out = tmp_path / f'pred_{device}.tif'
    infer_scene(model, files, out, tile_size=TILE, overlap=OVERLAP, reference=grid)
    with rasterio.open(out) as src:
        pred = src.read(1)
        assert (src.height, src.width) == (grid.shape[0], grid.shape[1])
    valid = pred != SEMANTIC_NODATA
    assert valid.mean() > 0.5
    if device != 'cpu':
        cpu = init_model(tiny_scene_config(SEMANTIC_CONFIG, TINY_SEMANTIC), None, device='cpu')
        cpu.load_state_dict(model.state_dict())
        ref_path = tmp_path / 'pred_ref.tif'
        infer_scene(cpu, files, ref_path, tile_size=TILE, overlap=OVERLAP, reference=grid)
        with rasterio.open(ref_path) as src:
            ref = src.read(1)
        assert np.mean(pred == ref) > 0.99  # float32 kernels differ slightly between devices
