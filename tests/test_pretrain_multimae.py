"""MultiMAE around a tiny FusionViT: what the reconstruction loss may and may not see."""
import pytest
import torch

import incomplete_fusion  # noqa: F401  (registers components)
from incomplete_fusion.models.selfsup import (CrossModalContrastiveHead, MultiModalMaskGenerator,
                                              patchify)
from incomplete_fusion.registry import MODELS

SPECS = [
    dict(name='rgb', channels=3),
    dict(name='sar', channels=1),
    dict(name='dsm', channels=1),
    dict(name='dw', channels=1, kind='categorical', num_classes=4),
]
NAMES = [s['name'] for s in SPECS]
PATCH, SIZE, DIMS = 8, 32, 32
L = (SIZE // PATCH)**2


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: extra intra-op threads only cost."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_model(contrastive=None, seed=0):
    torch.manual_seed(seed)
    model = MODELS.build(dict(
        type='MultiMAE',
        backbone=dict(type='FusionViT', modality_specs=SPECS, img_size=SIZE, patch_size=PATCH,
                      embed_dims=DIMS, depth=2, num_heads=2, out_indices=(0, 1)),
        head=dict(type='MultiModalReconstructionHead', modality_specs=SPECS, patch_size=PATCH,
                  in_dims=DIMS, decoder_dims=32, decoder_depth=2, decoder_heads=4),
        contrastive_head=contrastive,
        mask_seed=0))
    model.init_weights()
    return model


def sample_batch(batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 6, SIZE, SIZE, generator=g)
    x[:, 5] = torch.randint(0, 4, (batch, SIZE, SIZE), generator=g).float()
    return x


def fixed_visible(batch, seed=0):
    """Half the tokens visible, equal shares: every modality has visible and masked ones."""
    available = {n: torch.ones(batch, L, dtype=torch.bool) for n in NAMES}
    generator = MultiModalMaskGenerator(0.5, dirichlet_alpha=None)
    return generator(available, torch.Generator().manual_seed(seed))


def patch_pixels(x, name, selected, value):
    """Set every pixel of the first ``selected`` (B, L) patch of each sample to ``value``."""
    channels = {'rgb': slice(0, 3), 'sar': slice(3, 4), 'dsm': slice(4, 5), 'dw': slice(5, 6)}
    y = x.clone()
    for b in range(x.shape[0]):
        row, col = divmod(int(torch.nonzero(selected[b])[0]), SIZE // PATCH)
        y[b, channels[name], row * PATCH:(row + 1) * PATCH, col * PATCH:(col + 1) * PATCH] = value
    return y


def test_loss_keys_and_head_shapes():
    model = tiny_model()
    losses = model.loss(sample_batch())
    assert sorted(losses) == sorted(f'loss_rec_{n}' for n in NAMES)
    assert all(torch.isfinite(v) and v > 0 for v in losses.values())
    out = model.backbone.forward_tokens(sample_batch())
    preds = model.head(out.fusion_tokens, out.grid_size)
    assert preds['rgb'].shape == (2, L, PATCH * PATCH * 3)
    assert preds['dw'].shape == (2, L, PATCH * PATCH, 4)
    feats = model.extract_feat(sample_batch())
    assert [tuple(f.shape) for f in feats] == [(2, DIMS, 4, 4)] * 2


def test_target_changes_count_only_on_masked_patches():
    model = tiny_model().eval()
    x = sample_batch()
    visible = fixed_visible(2)
    available = model.backbone.availability(x)
    masked = {n: available[n] & ~visible[n] for n in NAMES}
    out = model.backbone.forward_tokens(x, visible=visible)
    preds = model.head(out.fusion_tokens, out.grid_size)
    base = model.head.loss(preds, x, masked)
    for name in NAMES:
        new_value = 3.0 if name == 'dw' else 50.0
        same = model.head.loss(preds, patch_pixels(x, name, visible[name], new_value), masked)
        changed = model.head.loss(preds, patch_pixels(x, name, masked[name], new_value), masked)
        assert torch.equal(same[f'loss_rec_{name}'], base[f'loss_rec_{name}']), name
        assert not torch.allclose(changed[f'loss_rec_{name}'], base[f'loss_rec_{name}']), name


def test_masked_input_pixels_cannot_reach_the_predictions():
    """The encoder never sees masked tokens: editing their pixels changes nothing."""
    model = tiny_model().eval()
    x = sample_batch()
    visible = fixed_visible(2)
    y = x.clone()
    for name in NAMES:
        y = patch_pixels(y, name, ~visible[name], 2.0 if name == 'dw' else -7.0)
    with torch.no_grad():
        a = model.reconstruct(x, visible=visible)
        b = model.reconstruct(y, visible=visible)
        c = model.reconstruct(y)  # without the mask the edit is seen
    assert all(torch.equal(a[n], b[n]) for n in NAMES)
    assert not torch.allclose(a['rgb'], c['rgb'])


def test_absent_modality_contributes_nothing():
    model = tiny_model().train()
    x = sample_batch()
    x[:, 4] = float('nan')  # dsm missing in every sample
    x[1, 0:3] = float('nan')  # rgb missing in the second sample
    losses = model.loss(x)
    assert losses['loss_rec_dsm'].item() == 0.0
    sum(losses.values()).backward()
    dsm_grads = [p.grad for p in model.head.decoders['dsm'].parameters()]
    assert all(g is None or not g.any() for g in dsm_grads)
    assert any(g is not None and g.abs().sum() > 0
               for g in (p.grad for p in model.head.decoders['rgb'].parameters()))

    # rgb loss of the pair equals the rgb loss of the sample that has rgb
    model.eval()
    visible = fixed_visible(2)
    visible = {n: v & model.backbone.availability(x)[n] for n, v in visible.items()}
    pair = model.loss(x, visible=visible)
    single = model.loss(x[:1], visible={n: v[:1] for n, v in visible.items()})
    assert pair['loss_rec_rgb'].item() == pytest.approx(single['loss_rec_rgb'].item(), rel=1e-5)


def test_overfits_a_fixed_batch():
    model = tiny_model().train()
    x = sample_batch(batch=2, seed=3)
    # smooth, learnable images
    x[:, :5] = torch.nn.functional.avg_pool2d(x[:, :5], 9, 1, 4) * 3
    visible = fixed_visible(2, seed=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    history = []
    for _ in range(25):
        loss = sum(model.loss(x, visible=visible).values())
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append(loss.item())
    assert history[-1] < 0.5 * history[0], history


def test_reconstruct_returns_every_modality_as_images():
    model = tiny_model().eval()
    x = sample_batch()
    x[:, 3] = float('nan')  # sar missing: still reconstructed
    rec = model.reconstruct(x)
    assert rec['rgb'].shape == (2, 3, SIZE, SIZE) and rec['sar'].shape == (2, 1, SIZE, SIZE)
    assert rec['dw'].shape == (2, 4, SIZE, SIZE)
    assert torch.allclose(rec['dw'].sum(1), torch.ones(2, SIZE, SIZE), atol=1e-5)
    assert all(torch.isfinite(v).all() for v in rec.values())
    # patchify/unpatchify round trip used by the targets
    from incomplete_fusion.models.selfsup import unpatchify
    assert torch.equal(unpatchify(patchify(x[:, :3], PATCH), PATCH, (4, 4), 3), x[:, :3])


@pytest.mark.parametrize('variant', ['infonce', 'dino'])
def test_contrastive_loss_trains_pooling(variant):
    head = dict(type='CrossModalContrastiveHead', modality_specs=SPECS, in_dims=DIMS, num_heads=2,
                proj_dims=16, proj_hidden_dims=32, variant=variant, loss_weight=0.3)
    model = tiny_model(contrastive=head).train()
    x = sample_batch(batch=3)
    x[0, 4] = float('nan')  # dsm missing in one sample: left out of its InfoNCE
    losses = model.loss(x)
    assert 'loss_contrast' in losses and torch.isfinite(losses['loss_contrast'])
    losses['loss_contrast'].backward()
    assert model.contrastive_head.pool.attn.in_proj_weight.grad.abs().sum() > 0
    assert model.contrastive_head.modality_tokens['sar'].grad.abs().sum() > 0
    if variant == 'dino':
        assert model.contrastive_head.center.abs().sum() > 0


def test_contrastive_pooling_sees_only_kept_tokens():
    torch.manual_seed(0)
    head = CrossModalContrastiveHead(SPECS[:2], in_dims=DIMS, num_heads=2, proj_dims=8,
                                     proj_hidden_dims=16)
    head.init_weights()
    tokens = {n: torch.randn(2, L, DIMS) for n in ('rgb', 'sar')}
    fusion = torch.randn(2, L, DIMS)
    keep = {n: torch.rand(2, L) > 0.5 for n in ('rgb', 'sar')}
    a = head(tokens, fusion, keep)
    edited = {n: t.masked_fill(~keep[n][..., None], 9.0) for n, t in tokens.items()}
    fusion_edit = fusion.masked_fill(~keep['rgb'][..., None], 9.0)
    b = head(edited, fusion_edit, keep)
    assert torch.allclose(a['rgb'][0], b['rgb'][0]) and torch.allclose(a['rgb'][1], b['rgb'][1])
    assert torch.allclose(a['sar'][0], b['sar'][0])
    assert not torch.allclose(a['sar'][1], b['sar'][1])  # sar's fusion vector saw the edit


def test_bad_head_configs():
    with pytest.raises(ValueError, match='unknown modality'):
        MODELS.build(dict(type='MultiModalReconstructionHead', modality_specs=SPECS,
                          losses=dict(height=dict(type='l1'))))
    with pytest.raises(ValueError, match='categorical'):
        MODELS.build(dict(type='MultiModalReconstructionHead', modality_specs=SPECS,
                          losses=dict(dw=dict(type='l2'))))
