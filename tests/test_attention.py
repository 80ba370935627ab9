"""Attention rules of FusionViT: block-sparse == dense oracle, key padding, no NaN."""
import pytest
import torch

from incomplete_fusion.models.layers import (AttentionMasks, MaskedSelfAttention, ModalityAttention,
                                             block_sparse_masked_attention, dense_masked_attention,
                                             plain_attention)

B, K, L, H, DH = 3, 4, 10, 2, 5  # 3 modality blocks + fusion


def random_available(b=B, k=K, l=L, seed=0):
    g = torch.Generator().manual_seed(seed)
    available = torch.rand(b, k, l, generator=g) > 0.35
    available[:, -1] = True  # fusion tokens always exist
    available[0, 1] = False  # a modality missing for one sample only
    available[2, 0] = False
    return available


def random_qkv(seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(B, K, L, H, DH, generator=g, dtype=torch.float64, requires_grad=True)
            for _ in range(3)]


def test_block_sparse_equals_dense_oracle_values_and_gradients():
    q, k, v = random_qkv()
    masks = AttentionMasks.from_available(random_available())
    sparse = block_sparse_masked_attention(q, k, v, masks)
    dense = dense_masked_attention(q, k, v, masks)
    assert sparse.shape == (B, K, L, H, DH)
    torch.testing.assert_close(sparse, dense, rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(sparse)
    grads_sparse = torch.autograd.grad(sparse, (q, k, v), upstream)
    grads_dense = torch.autograd.grad(dense, (q, k, v), upstream)
    for gs, gd in zip(grads_sparse, grads_dense):
        torch.testing.assert_close(gs, gd, rtol=1e-12, atol=1e-12)


def test_masked_rule_isolation_and_key_padding():
    """Modality queries only read their own present keys; fusion reads all present keys."""
    q, k, v = random_qkv()
    available = random_available()
    out = block_sparse_masked_attention(q, k, v, AttentionMasks.from_available(available))
    for m in range(K):
        grad_k, grad_v = torch.autograd.grad(out[:, m].sum(), (k, v), retain_graph=True)
        touched = (grad_k.abs() + grad_v.abs()).sum((-1, -2)) > 0  # (B, K, L)
        if m < K - 1:  # a modality block: only its own block
            others = torch.ones(K, dtype=torch.bool)
            others[m] = False
            assert not touched[:, others].any()
        # absent keys are never read, except inside a block without any present key
        empty_block = ~available.any(-1, keepdim=True).expand_as(available)
        allowed = available | (empty_block & (torch.arange(K) == m)[None, :, None])
        assert not (touched & ~allowed).any()
    # fusion queries read every present key of every block
    grad_v = torch.autograd.grad(out[:, -1].sum(), v)[0]
    assert ((grad_v.abs().sum((-1, -2)) > 0) == available).all()


def test_fully_absent_block_gives_finite_output():
    available = torch.ones(2, 3, L, dtype=torch.bool)
    available[0, 0] = False  # whole modality absent for sample 0
    q, k, v = [torch.randn(2, 3, L, H, DH, dtype=torch.float64) for _ in range(3)]
    masks = AttentionMasks.from_available(available)
    for fn in (block_sparse_masked_attention, dense_masked_attention, plain_attention):
        assert torch.isfinite(fn(q, k, v, masks)).all()


def test_masks_that_mask_nothing_are_dropped():
    masks = AttentionMasks.from_available(torch.ones(2, 3, L, dtype=torch.bool))
    assert masks.all_keys is None and masks.modality_keys == [None, None]
    with pytest.raises(ValueError, match='fusion'):
        AttentionMasks.from_available(torch.zeros(2, 3, L, dtype=torch.bool))


def test_plain_attention_mixes_modalities_but_ignores_absent_keys():
    q, k, v = random_qkv()
    available = random_available()
    out = plain_attention(q, k, v, AttentionMasks.from_available(available))
    grad_v = torch.autograd.grad(out[:, 0].sum(), v)[0]
    assert ((grad_v.abs().sum((-1, -2)) > 0) == available).all()


@pytest.mark.parametrize('impl', ['block_sparse', 'dense', 'plain'])
def test_module_runs_and_block_sparse_module_matches_dense(impl):
    torch.manual_seed(0)
    attn = MaskedSelfAttention(H * DH, H, impl=impl).double()
    x = torch.randn(B, K, L, H * DH, dtype=torch.float64)
    masks = AttentionMasks.from_available(random_available())
    out = attn(x, masks)
    assert out.shape == x.shape and torch.isfinite(out).all()
    if impl == 'block_sparse':
        attn.impl = 'dense'
        torch.testing.assert_close(out, attn(x, masks), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        MaskedSelfAttention(10, 3)


def test_modality_attention_is_per_location_and_ignores_absent_tokens():
    torch.manual_seed(0)
    d = H * DH
    layer = ModalityAttention(d, H).double()
    available = random_available()
    masks = AttentionMasks.from_available(available)
    x = torch.randn(B, K, L, d, dtype=torch.float64, requires_grad=True)
    fusion = layer(x, masks)
    assert fusion.shape == (B, L, d)
    # fusion token at location i reads exactly the present tokens at location i
    i = 3
    grad = torch.autograd.grad(fusion[:, i].sum(), x)[0].abs().sum(-1)  # (B, K, L)
    expected = torch.zeros(B, K, L, dtype=torch.bool)
    expected[:, :, i] = available[:, :, i]
    assert ((grad > 0) == expected).all()
    # changing absent tokens changes nothing
    noisy = torch.where(available[..., None], x, torch.randn_like(x) * 100)
    torch.testing.assert_close(layer(noisy, masks), fusion, rtol=0, atol=0)
