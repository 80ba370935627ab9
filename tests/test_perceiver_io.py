"""PerceiverIO-style baseline: absent means absent, shapes, gradients, errors, config root."""
import glob
import json
import math
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from incomplete_fusion.experiments import compose_config
from incomplete_fusion.models.backbones import PerceiverIO
from incomplete_fusion.models.layers import LocalConv3d
from incomplete_fusion.registry import MODELS
# 4x4-pixel patches and FusionViT's test inputs (per-sample, patch and partial absence)
from test_backbone import P, SPECS3, SPECS4, absent_pixels, make_inputs, with_missing
from incomplete_fusion.testing.tiny import REPO, fresh_run, load_tool, make_tiny_config

CONFIGS = osp.join(REPO, 'configs', 'fusionvit')
ROOT = osp.join(CONFIGS, 'perceiverio_dfc2023_semantic.py')


def tiny(specs=SPECS3, dtype=torch.float64, seed=0, **kwargs):
    torch.manual_seed(seed)
    cfg = dict(img_size=16, patch_size=P, embed_dims=16, num_heads=2, mlp_ratio=2.0,
               num_latents=8, depth=3, out_indices=(0, 2))
    cfg.update(kwargs)
    model = PerceiverIO(specs, **cfg)
    model.init_weights()
    return model.to(dtype).eval()


def garbage_where_absent(model, x, available):
    """Every pixel of every absent patch (NaN or not) replaced by large finite noise."""
    noisy = x.clone()
    for name in model.names:
        sl = model.slices[name]
        mask = absent_pixels(model, available, name).expand_as(noisy[:, sl])
        noisy[:, sl] = torch.where(mask, torch.randn_like(noisy[:, sl]) * 1e3, noisy[:, sl])
    return noisy


# ------------------------------------------------------------- missing data
@pytest.mark.parametrize('kwargs', [{}, dict(local_dilations=()), dict(query_local_features=False)],
                         ids=['default', 'no_local', 'position_queries'])
def test_absent_modality_values_do_not_change_the_output(kwargs):
    model = tiny(**kwargs)
    x = with_missing(model, make_inputs())
    available = model.availability(x)  # the NaN rule
    assert not available['sar'][0].any() and not available['rgb'][1].any()
    assert available['rgb'][2].all() and available['sar'][2].sum() == 15
    key_masks = []
    model.encoder.register_forward_pre_hook(lambda mod, args: key_masks.append(args[2]))
    ref = model(x)
    # the NaN-derived availability is the key padding mask of the latent cross-attention
    expected = torch.stack([available[n] for n in model.names], 1).flatten(1)
    assert torch.equal(key_masks[0][:, 1:], expected) and key_masks[0][:, 0].all()  # null key
    noisy = garbage_where_absent(model, x, available)
    assert torch.isnan(noisy).sum() == 12  # only the partly-missing but present RGB patch
    got = model.forward_maps(noisy, visible=available)
    for a, b in zip(ref, got):
        assert torch.equal(a, b)
    # and the check can fail: the same garbage read as present data changes the output
    changed = model(noisy)
    for sample in (0, 1):
        assert not torch.equal(changed[-1][sample], ref[-1][sample])


def test_sample_output_does_not_depend_on_batch_mates():
    model = tiny()
    x = make_inputs(b=3)
    sar = model.slices['sar']
    x[0, sar] = float('nan')
    x[1, sar] = float('nan')
    alone = model(x[:1])  # SAR absent from the batch: not embedded
    for batch in ([0, 2], [0, 1]):
        for a, b in zip(alone, model(x[batch])):
            torch.testing.assert_close(b[0], a[0], rtol=1e-10, atol=1e-12)


def test_modality_absent_from_batch_is_not_embedded_and_empty_sample_is_finite():
    model = tiny()
    calls = []
    for name in model.names:
        model.patch_embeds[name].register_forward_hook(lambda *a, n=name: calls.append(n))
    x = make_inputs(b=2)
    x[:, model.slices['sar']] = float('nan')
    x[1] = float('nan')  # sample 1 has no data at all: only the null key is read
    maps = model(x)
    assert calls == ['rgb', 'dsm']
    assert all(torch.isfinite(m).all() for m in maps)


def test_local_conv3d_mixes_modalities_and_ignores_absent_values():
    torch.manual_seed(0)
    local = LocalConv3d(8, dilations=(1, 2)).double()
    tokens = torch.randn(2, 3, 16, 8, dtype=torch.float64)
    available = torch.ones(2, 3, 16, dtype=torch.bool)
    available[0, 1] = False  # modality 1 absent in sample 0
    available[1, 2, :5] = False
    ref = local(tokens, available, (4, 4))
    assert torch.count_nonzero(ref[~available]) == 0
    noisy = torch.where(available[..., None], tokens, torch.randn_like(tokens) * 1e3)
    assert torch.equal(local(noisy, available, (4, 4)), ref)
    # a present token of modality 0 changes the output of modality 1 at a neighbour
    bumped = tokens.clone()
    bumped[1, 0, 5] += torch.randn(8, dtype=torch.float64)  # not a constant: LayerNorm
    out = local(bumped, available, (4, 4))
    assert not torch.allclose(out[1, 1, 6], ref[1, 1, 6])  # next location, next modality
    with pytest.raises(ValueError, match='grid'):
        local(tokens, available, (4, 3))


# ------------------------------------------------------------ shapes, grads
@pytest.mark.parametrize('specs', [SPECS3, SPECS4], ids=['3mod', '4mod_categorical'])
@pytest.mark.parametrize('size', [(16, 16), (32, 32), (16, 8)])
def test_output_shapes_for_sizes_and_modality_subsets(specs, size):
    model = tiny(specs, dtype=torch.float32)
    names = [s['name'] for s in specs]
    x = make_inputs(specs, b=len(names), size=32, dtype=torch.float32)[..., :size[0], :size[1]]
    for i, name in enumerate(names):  # sample i has modality i only
        for other in names:
            if other != name:
                x[i, model.slices[other]] = float('nan')
    maps = model(x)
    assert len(maps) == 2
    for m in maps:
        assert m.shape == (len(names), 16, size[0] // P, size[1] // P)
        assert torch.isfinite(m).all()


def test_gradients_reach_every_used_parameter_and_no_nan():
    model = tiny(dtype=torch.float32).train()
    x = with_missing(model, make_inputs(dtype=torch.float32))
    sum(m.square().mean() for m in model(x)).backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    missing = [n for n, g in grads.items() if g is None or not torch.count_nonzero(g)]
    # block 1 feeds only taps after it (out_indices (0, 2)): everything is used
    assert missing == [], missing
    assert all(torch.isfinite(g).all() for g in grads.values())


def test_errors_are_clear():
    model = tiny()
    with pytest.raises(ValueError, match='channels'):
        model(make_inputs(b=1)[:, :4])
    with pytest.raises(ValueError, match='divisible'):
        model(make_inputs(b=1, size=18))
    with pytest.raises(ValueError, match='unknown'):
        model.forward_maps(make_inputs(b=1), visible={'lidar': torch.ones(1, 16, dtype=torch.bool)})
    with pytest.raises(ValueError, match='out of range'):
        tiny(depth=2, out_indices=(0, 3))
    with pytest.raises(ValueError, match='divisible'):
        tiny(img_size=18)


# ------------------------------------------------------------------ configs
def test_config_root_is_the_fusionvit_root_with_another_backbone():
    mine, theirs = Config.fromfile(ROOT), Config.fromfile(
        osp.join(CONFIGS, 'mask2former_dfc2023_semantic.py'))
    assert mine.model.backbone.type == 'PerceiverIO' and mine.model.backbone.embed_dims == 192
    assert [s['name'] for s in mine.model.backbone.modality_specs] == ['rgb', 'sar', 'dsm']
    a, b = mine.to_dict(), theirs.to_dict()
    for cfg in (a, b):
        del cfg['model']['backbone'], cfg['optim_wrapper']['paramwise_cfg']['custom_keys']
        cfg.pop('embed_multi')
    assert a == b  # neck, head, data, schedule, random modality combination unchanged
    assert any(h['type'] == 'ModalityDropoutHook' for h in mine.custom_hooks)


def test_cpu_preset_applies_unchanged():
    preset = osp.join(REPO, 'configs', 'demo', 'cpu_preset.py')
    cfg = compose_config(ROOT, preset)
    model = MODELS.build(cfg.model.backbone)
    assert (model.depth, model.out_indices, len(model.blocks)) == (6, (1, 2, 4, 5), 6)
    with torch.no_grad():
        maps = model(torch.randn(1, 5, 128, 128))
    assert [tuple(m.shape) for m in maps] == [(1, 192, 8, 8)] * 4


def test_config_root_trains_through_the_stock_entry(tmp_path, dfc2023_root):
    """tools/train.py on the tiny config root: two finite losses, a PerceiverIO checkpoint."""
    config = make_tiny_config('perceiverio_dfc2023_semantic', dfc2023_root, str(tmp_path))
    work_dir = str(tmp_path / 'work')
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        load_tool('train').main([config, '--work-dir', work_dir, '--cfg-options',
                                 'model.backbone.num_latents=8', *fresh_run()])
    finally:
        torch.set_num_threads(threads)
    (path, ) = glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    with open(path) as f:
        losses = [r['loss'] for r in map(json.loads, f) if 'loss' in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    state = torch.load(osp.join(work_dir, 'iter_2.pth'), map_location='cpu',
                       weights_only=False)['state_dict']
    assert state['backbone.latents'].shape == (1, 8, 32)
