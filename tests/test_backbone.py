"""FusionViT: exactness, information flow, missing data, shapes, variants, loading."""
import pytest
import torch
import torch.nn.functional as F

from incomplete_fusion.models.backbones import FusionViT
from incomplete_fusion.models.layers import PatchDropout, sincos_2d_position_embedding
from incomplete_fusion.registry import MODELS

SPECS3 = [dict(name='rgb', channels=3), dict(name='sar', channels=1), dict(name='dsm', channels=1)]
SPECS4 = [
    dict(name='s2', channels=4), dict(name='s1', channels=2), dict(name='dem', channels=1),
    dict(name='dw', channels=1, kind='categorical', num_classes=9)
]
P = 4  # tiny patch for tests: a 16x16 image is a 4x4 grid


def tiny(specs=SPECS3, dtype=torch.float64, seed=0, **kwargs):
    torch.manual_seed(seed)
    cfg = dict(img_size=16, patch_size=P, embed_dims=16, depth=3, num_heads=2, mlp_ratio=2.0,
               out_indices=(0, 1, 2))
    cfg.update(kwargs)
    model = FusionViT(specs, **cfg)
    model.init_weights()
    return model.to(dtype).eval()


def make_inputs(specs=SPECS3, b=3, size=16, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    chans = []
    for s in specs:
        if s.get('kind') == 'categorical':
            chans.append(torch.randint(0, s['num_classes'], (b, 1, size, size), generator=g).to(dtype))
        else:
            chans.append(torch.randn(b, s['channels'], size, size, generator=g, dtype=dtype))
    return torch.cat(chans, 1)


def channel_range(model, name):
    return model.slices[name]


def with_missing(model, x):
    """Per-sample missing modalities, missing patches and a partly-missing patch."""
    x = x.clone()
    rgb, sar, dsm = (channel_range(model, n) for n in ('rgb', 'sar', 'dsm'))
    x[0, sar] = float('nan')  # sample 0 has no SAR
    x[1, rgb] = float('nan')  # sample 1 has no RGB
    x[2, dsm, 0:P, 0:2 * P] = float('nan')  # two DSM patches missing
    x[2, rgb, P:2 * P, P:P + 1] = float('nan')  # 1/4 of a patch missing: still present
    x[2, sar, 2 * P:3 * P, 0:3] = float('nan')  # 3/4 of a patch missing: absent
    x[0, dsm, 3 * P:, 3 * P:] = float('nan')
    return x


def all_outputs(model, x):
    out = model.forward_tokens(x)
    taps = model(x)
    return [*out.modality_tokens.values(), out.fusion_tokens, *taps], out


# ---------------------------------------------------------------- exactness
def test_block_sparse_equals_dense_oracle_with_missing_data_and_gradients():
    sparse = tiny(attention_impl='block_sparse')
    dense = tiny(attention_impl='dense')
    dense.load_state_dict(sparse.state_dict())
    x = with_missing(sparse, make_inputs())
    outs_s, _ = all_outputs(sparse, x)
    outs_d, _ = all_outputs(dense, x)
    for a, b in zip(outs_s, outs_d):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    weights = [torch.randn_like(o) for o in outs_s]
    loss_s = sum((w * o).sum() for w, o in zip(weights, outs_s))
    loss_d = sum((w * o).sum() for w, o in zip(weights, outs_d))
    grads_s = torch.autograd.grad(loss_s, list(sparse.parameters()), allow_unused=True)
    grads_d = torch.autograd.grad(loss_d, list(dense.parameters()), allow_unused=True)
    checked = 0
    for (name, _), gs, gd in zip(sparse.named_parameters(), grads_s, grads_d):
        assert (gs is None) == (gd is None), name
        if gs is not None:
            torch.testing.assert_close(gs, gd, rtol=1e-9, atol=1e-11, msg=name)
            checked += 1
    assert checked > 20


@pytest.mark.parametrize('impl', ['block_sparse', 'dense'])
def test_exact_isolation_of_modality_streams(impl):
    model = tiny(attention_impl=impl)
    x = make_inputs()
    x[2, channel_range(model, 'sar'), :P, :P] = float('nan')
    x = x.requires_grad_(True)
    out = model.forward_tokens(x)
    for name in model.names:
        w = torch.randn_like(out.modality_tokens[name])
        grad_x, grad_f = torch.autograd.grad((w * out.modality_tokens[name]).sum(),
                                             (x, model.fusion_tokens), retain_graph=True)
        for other in model.names:
            g = grad_x[:, channel_range(model, other)]
            if other == name:
                assert g.abs().sum() > 0
            else:
                assert torch.count_nonzero(g) == 0, (name, other)
        assert torch.count_nonzero(grad_f) == 0  # nothing flows from fusion tokens either
    # fusion tokens depend on every present modality
    grad_x = torch.autograd.grad((torch.randn_like(out.fusion_tokens) * out.fusion_tokens).sum(), x)[0]
    for name in model.names:
        assert (grad_x[:, channel_range(model, name)].abs().sum((1, 2, 3)) > 0).all(), name


@pytest.mark.parametrize('masked,modality,impl', [(True, True, 'block_sparse'), (True, True, 'dense'),
                                                  (False, True, 'block_sparse'), (True, False, 'block_sparse')])
def test_forward_skips_modality_work_in_last_layer_exactly(masked, modality, impl):
    """forward() computes only fusion outputs in its last layer: same values as the full layer."""
    model = tiny(masked_attention=masked, modality_attention=modality, attention_impl=impl)
    x = with_missing(model, make_inputs())
    last_tap = model(x)[-1]
    full = model.forward_tokens(x).fusion_tokens  # all layers in full, final norm
    torch.testing.assert_close(last_tap, full.transpose(1, 2).reshape_as(last_tap), rtol=1e-12, atol=1e-12)


# ------------------------------------------------------- absent means absent
def absent_pixels(model, available, name, size=16):
    grid = (size // P, size // P)
    absent = ~available[name].reshape(-1, 1, *grid)
    return F.interpolate(absent.double(), scale_factor=P).bool()


@pytest.mark.parametrize('impl', ['block_sparse', 'dense'])
def test_absent_tokens_change_nothing(impl):
    model = tiny(attention_impl=impl)
    x = with_missing(model, make_inputs())
    ref, ref_out = all_outputs(model, x)
    available = ref_out.available
    # replace every pixel of every absent token (NaN or not) by finite noise
    noisy = x.clone()
    for name in model.names:
        sl = channel_range(model, name)
        mask = absent_pixels(model, available, name).expand_as(noisy[:, sl])
        noisy[:, sl] = torch.where(mask, torch.randn_like(noisy[:, sl]) * 50, noisy[:, sl])
    assert torch.isnan(noisy).sum() == 12  # only the partly-missing but present RGB patch
    out = model.forward_tokens(noisy, visible=available)
    got = [*out.modality_tokens.values(), out.fusion_tokens]
    for a, b in zip(ref, got):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    for name in model.names:
        assert torch.equal(out.available[name], available[name])
        assert torch.count_nonzero(out.modality_tokens[name][~available[name]]) == 0


def test_sample_output_does_not_depend_on_batch_mates():
    model = tiny()
    x = make_inputs(b=3)
    sar = channel_range(model, 'sar')
    x[0, sar] = float('nan')  # sample 0 lacks SAR
    x[1, sar] = float('nan')
    alone = model.forward_tokens(x[:1])  # SAR absent from the batch: not computed
    assert torch.count_nonzero(alone.modality_tokens['sar']) == 0
    with_sar_mate = model.forward_tokens(x[[0, 2]])  # batched with a sample that has SAR
    without_sar_mate = model.forward_tokens(x[[0, 1]])
    for other in (with_sar_mate, without_sar_mate):
        torch.testing.assert_close(other.fusion_tokens[0], alone.fusion_tokens[0], rtol=1e-10, atol=1e-12)
        for name in model.names:
            torch.testing.assert_close(other.modality_tokens[name][0], alone.modality_tokens[name][0],
                                       rtol=1e-10, atol=1e-12)
    for a, b in zip(model(x[:1]), model(x[[0, 2]])):
        torch.testing.assert_close(a[0], b[0], rtol=1e-10, atol=1e-12)


def test_modality_absent_from_batch_is_not_computed():
    model = tiny()
    calls = []
    model.patch_embeds['sar'].register_forward_hook(lambda *a: calls.append('sar'))
    model.patch_embeds['rgb'].register_forward_hook(lambda *a: calls.append('rgb'))
    x = make_inputs()
    x[:, channel_range(model, 'sar')] = float('nan')
    model(x)
    assert calls == ['rgb']


def test_availability_threshold_and_categorical_validity():
    model = tiny(SPECS4, min_valid_fraction=0.5)
    x = make_inputs(SPECS4, b=1)
    s1, dw = channel_range(model, 's1'), channel_range(model, 'dw')
    x[0, s1.start, 0:2, 0:P] = float('nan')  # 8 of 16 pixels of patch 0: still present
    x[0, s1.start, 0:2, P:2 * P] = float('nan')
    x[0, s1.start, 2, P] = float('nan')  # 9 of 16 in patch 1: absent
    x[0, dw, 0:3, 2 * P:3 * P] = 9.0  # class index out of range = no data
    avail = model.availability(x)
    assert avail['s1'][0, 0] and not avail['s1'][0, 1] and avail['s1'][0, 2:].all()
    assert not avail['dw'][0, 2] and avail['dw'].sum() == 15
    assert avail['s2'].all() and avail['dem'].all()
    assert torch.equal(model.forward_tokens(x).available['s1'], avail['s1'])


def test_visible_masks_are_applied():
    model = tiny()
    x = make_inputs(b=2)
    visible = {'rgb': torch.rand(2, 16) > 0.5}
    out = model.forward_tokens(x, visible=visible)
    assert torch.equal(out.available['rgb'], visible['rgb'])
    assert torch.count_nonzero(out.modality_tokens['rgb'][~visible['rgb']]) == 0
    with pytest.raises(ValueError, match='unknown'):
        model.forward_tokens(x, visible={'lidar': visible['rgb']})


# ------------------------------------------------------------ shapes, variants
@pytest.mark.parametrize('specs', [SPECS3, SPECS4], ids=['3mod', '4mod_categorical'])
@pytest.mark.parametrize('size', [256, 512])
def test_output_shapes_and_strides(specs, size):
    model = tiny(specs, dtype=torch.float32, img_size=256, patch_size=16, depth=2, out_indices=(0, 1))
    x = make_inputs(specs, b=1, size=size, dtype=torch.float32)
    x[0, :3, : size // 2] = float('nan')  # part of the first modality missing
    maps = model(x)
    assert len(maps) == 2
    for m in maps:
        assert m.shape == (1, 16, size // 16, size // 16)
        assert torch.isfinite(m).all()
    out = model.forward_tokens(x)
    assert out.grid_size == (size // 16, size // 16)
    assert set(out.modality_tokens) == {s['name'] for s in specs}
    assert out.fusion_tokens.shape == (1, (size // 16)**2, 16)


def test_non_square_input_and_errors():
    model = tiny()
    maps = model(make_inputs(b=1, size=16)[..., :8])  # 16 x 8 image
    assert maps[0].shape == (1, 16, 4, 2)
    with pytest.raises(ValueError, match='divisible'):
        model(make_inputs(b=1, size=18))
    with pytest.raises(ValueError, match='channels'):
        model(make_inputs(b=1)[:, :4])


def test_default_vit_tiny_config_builds_and_runs():
    model = MODELS.build(dict(type='FusionViT', modality_specs=SPECS3))
    model.init_weights()
    assert (model.embed_dims, model.depth, len(model.layers)) == (192, 12, 12)
    assert model.out_indices == (2, 5, 8, 11)
    n_params = sum(p.numel() for p in model.parameters())
    assert 8e6 < n_params < 14e6  # ViT-T (5.5M) + modality attention (~0.44M / layer)
    with torch.no_grad():
        maps = model(make_inputs(b=1, size=256, dtype=torch.float32))
    assert [tuple(m.shape) for m in maps] == [(1, 192, 16, 16)] * 4


@pytest.mark.parametrize('masked,modality', [(False, False), (False, True), (True, False)],
                         ids=['multivit', 'no_masked_attention', 'no_modality_attention'])
def test_ablation_variants(masked, modality):
    model = tiny(masked_attention=masked, modality_attention=modality)
    assert all((layer.modality_attn is not None) == modality for layer in model.layers)
    assert model.layers[0].attn.impl == ('block_sparse' if masked else 'plain')
    x = with_missing(model, make_inputs()).requires_grad_(True)
    out = model.forward_tokens(x)
    assert all(torch.isfinite(t).all() for t in out.modality_tokens.values())
    grad = torch.autograd.grad(out.modality_tokens['rgb'].sum(), x)[0]
    leaks = torch.count_nonzero(grad[:, channel_range(model, 'sar')]) > 0
    assert leaks == (not masked)  # without masking, modality streams mix


def test_bfloat16_autocast_runs_close_to_float32():
    model = tiny(SPECS4, dtype=torch.float32)
    x = make_inputs(SPECS4, b=2, dtype=torch.float32)
    x[0, :4] = float('nan')
    ref = model(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(x)
        tokens = model.forward_tokens(x)
    assert torch.isfinite(tokens.fusion_tokens).all()
    for a, b in zip(ref, out):
        assert torch.isfinite(b).all()
        assert F.cosine_similarity(a.flatten(), b.float().flatten(), dim=0) > 0.98


# ------------------------------------------------------------- PatchDropout
def test_patch_dropout_keeps_ratio_of_present_tokens_with_dirichlet_shares():
    torch.manual_seed(0)
    available = torch.rand(64, 3, 50) > 0.2
    available[:8, 1] = False  # some samples lack a modality
    available[8:16, 0, :] = True
    for alpha in (1.0, 0.01):  # 0.01: nearly all budget on one modality -> capped, redistributed
        drop = PatchDropout(keep_ratio=0.9, alpha=alpha).train()
        kept = drop(available)
        assert not (kept & ~available).any()
        present = available.sum((1, 2)).float()
        n_kept = kept.sum((1, 2)).float()
        assert ((present * 0.9).round() - n_kept).abs().max() <= 3  # flooring per modality
        assert (kept.sum(-1) <= available.sum(-1)).all()
    per_modality = PatchDropout(0.5, 1.0).train()(torch.ones(256, 3, 40, dtype=torch.bool)).sum(-1)
    assert per_modality.float().std() > 5  # shares vary across samples (Dirichlet), not fixed
    assert torch.equal(PatchDropout(0.9).eval()(available), available)


def test_backbone_patch_dropout_only_in_training():
    model = tiny(patch_keep_ratio=0.75)
    x = make_inputs(b=2)
    assert all(a.all() for a in model.forward_tokens(x).available.values())
    model.train()
    out = model.forward_tokens(x)
    n = sum(int(a.sum()) for a in out.available.values())
    assert 2 * 3 * 16 * 0.75 - 6 <= n <= 2 * 3 * 16 * 0.75
    for name, a in out.available.items():
        assert torch.count_nonzero(out.modality_tokens[name][~a]) == 0


# ------------------------------------------------------ init and pretrained
def test_position_embedding_matches_mmpretrain_formula_in_row_major_order():
    from mmpretrain.models.utils import build_2d_sincos_position_embedding
    ours = sincos_2d_position_embedding((3, 5), 16)
    theirs = build_2d_sincos_position_embedding((3, 5), 16)[0]  # (h, w) grid, x-major order
    # mmpretrain's table is indexed [x][y]; ours is [y][x] (row-major tokens)
    torch.testing.assert_close(ours, theirs.reshape(5, 3, 16).transpose(0, 1).reshape(15, 16))
    one = torch.tensor(1.0).sin().item()
    assert ours[1, 0].item() == pytest.approx(one) and ours[1, 8].item() == 0  # (y, x) = (0, 1)
    assert ours[5, 0].item() == 0 and ours[5, 8].item() == pytest.approx(one)  # (y, x) = (1, 0)


def test_pretrained_by_prefix_interpolates_fusion_grid(tmp_path):
    source = tiny(dtype=torch.float32, seed=1)
    state = {'backbone.' + k: v for k, v in source.state_dict().items()}
    state['neck.weight'] = torch.zeros(1)  # other parts of a detector checkpoint are ignored
    ckpt = tmp_path / 'pretrained.pth'
    torch.save({'state_dict': state, 'meta': {}}, ckpt)

    init_cfg = dict(type='Pretrained', checkpoint=str(ckpt), prefix='backbone.')
    target = tiny(dtype=torch.float32, seed=2, img_size=32, init_cfg=init_cfg)  # 8x8 grid
    torch.testing.assert_close(target.layers[1].attn.qkv.weight, source.layers[1].attn.qkv.weight)
    torch.testing.assert_close(target.patch_embeds['rgb'].proj.weight,
                               source.patch_embeds['rgb'].proj.weight)
    assert target.fusion_tokens.shape == (1, 8, 8, 16)
    expected = F.interpolate(source.fusion_tokens.detach().permute(0, 3, 1, 2), size=(8, 8),
                             mode='bicubic', align_corners=False).permute(0, 2, 3, 1)
    torch.testing.assert_close(target.fusion_tokens.detach(), expected)
    # same size: exact round trip, and forward at another size interpolates on the fly
    same = tiny(dtype=torch.float32, seed=3, init_cfg=init_cfg)
    for a, b in zip(same(make_inputs(b=1, dtype=torch.float32)), source(make_inputs(b=1, dtype=torch.float32))):
        torch.testing.assert_close(a, b)
    assert same(make_inputs(b=1, size=32, dtype=torch.float32))[0].shape == (1, 16, 8, 8)
    # a modality the checkpoint lacks keeps its ViT init, the rest loads
    extra = tiny(SPECS3 + [dict(name='lidar', channels=1)], dtype=torch.float32, seed=4, init_cfg=init_cfg)
    torch.testing.assert_close(extra.layers[2].mlp.fc1.weight, source.layers[2].mlp.fc1.weight)
    assert torch.count_nonzero(extra.patch_embeds['lidar'].proj.bias) == 0  # ViT init, not PyTorch's


def test_init_weights_is_vit_like():
    model = tiny(dtype=torch.float32)
    qkv = model.layers[0].attn.qkv
    assert qkv.weight.std().item() == pytest.approx(0.02, rel=0.2)
    assert torch.count_nonzero(qkv.bias) == 0
    assert model.fusion_tokens.std().item() == pytest.approx(0.02, rel=0.3)
