"""Attention rules of FusionViT: block-sparse == flex == dense oracle, key padding, no NaN.

Device- and dtype-parametrised equivalence (CUDA, bfloat16) is in test_device_paths.py.
"""
import pytest
import torch

from incomplete_fusion.models.layers import (AttentionMasks, MaskedSelfAttention, ModalityAttention,
                                             block_sparse_masked_attention, dense_masked_attention,
                                             plain_attention)
from incomplete_fusion.models.layers.attention import ATTENTION_IMPLS, flex_masked_attention
from incomplete_fusion.models.layers.flex_attention import (AutoAttention, flex_block_mask,
                                                            flex_support)

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


@pytest.mark.parametrize('all_present', [False, True], ids=['missing', 'all-present'])
def test_flex_equals_dense_oracle_values_and_gradients(all_present):
    """FlexAttention (torch's eager reference on CPU) computes the same rule."""
    supported, reason = flex_support(torch.device('cpu'))
    if not supported:
        pytest.skip(f'flex_attention does not run on CPU here: {reason}')
    q, k, v = random_qkv()
    available = torch.ones(B, K, L, dtype=torch.bool) if all_present else random_available()
    masks = AttentionMasks.from_available(available)
    flex = flex_masked_attention(q, k, v, masks)
    dense = dense_masked_attention(q, k, v, masks)
    torch.testing.assert_close(flex, dense, rtol=1e-12, atol=1e-12)
    upstream = torch.randn_like(flex)
    for gf, gd in zip(torch.autograd.grad(flex, (q, k, v), upstream),
                      torch.autograd.grad(dense, (q, k, v), upstream)):
        torch.testing.assert_close(gf, gd, rtol=1e-12, atol=1e-12)
    # the block mask is built once per AttentionMasks (= once per backbone forward)
    block_mask = flex_block_mask(masks)
    assert flex_block_mask(masks) is block_mask
    assert block_mask.shape[0] == (1 if all_present else B)  # all present: one mask for all


def test_flex_refuses_a_device_it_cannot_run_on():
    supported, reason = flex_support(torch.device('meta'))
    assert not supported and 'meta' in reason
    q, k, v = [torch.empty(B, K, L, H, DH, device='meta') for _ in range(3)]
    masks = AttentionMasks.from_available(torch.ones(B, K, L, dtype=torch.bool))
    with pytest.raises(RuntimeError, match="attention_impl='flex' cannot run here"):
        flex_masked_attention(q, k, v, masks)


def test_auto_on_cpu_uses_block_sparse_without_measuring():
    q, k, v = random_qkv()
    masks = AttentionMasks.from_available(random_available())
    auto = ATTENTION_IMPLS['auto']
    assert auto.choose(q, k, v, masks) == 'block_sparse'
    assert not [key for key in auto.decisions if key[0] == 'cpu']
    torch.testing.assert_close(auto(q, k, v, masks), block_sparse_masked_attention(q, k, v, masks),
                               rtol=0, atol=0)


def test_auto_measurement_leaves_out_a_failing_candidate():
    """The measurement itself (used on CUDA) runs on any device; a candidate that
    raises is reported and never chosen. Which candidate is faster is not asserted."""

    def broken(q, k, v, masks):
        raise RuntimeError('no kernel')

    auto = AutoAttention({'broken': broken, 'block_sparse': block_sparse_masked_attention},
                         cpu_choice='block_sparse', repeats=1)
    q, k, v = random_qkv()
    masks = AttentionMasks.from_available(random_available())
    with pytest.warns(UserWarning, match='broken failed'):
        decision = auto.measure(q, k, v, masks, grad=True)
    assert decision['choice'] == 'block_sparse'
    assert set(decision['ms']) == {'block_sparse'} and 'no kernel' in decision['errors']['broken']
    assert q.grad is None  # measured on detached copies
    with pytest.raises(ValueError, match='cpu_choice'):
        AutoAttention({'dense': dense_masked_attention}, cpu_choice='block_sparse')


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


@pytest.mark.parametrize('impl', ['block_sparse', 'dense', 'flex', 'auto', 'plain'])
def test_module_runs_and_block_sparse_module_matches_dense(impl):
    torch.manual_seed(0)
    attn = MaskedSelfAttention(H * DH, H, impl=impl).double()
    x = torch.randn(B, K, L, H * DH, dtype=torch.float64)
    masks = AttentionMasks.from_available(random_available())
    out = attn(x, masks)
    assert out.shape == x.shape and torch.isfinite(out).all()
    if impl != 'plain':  # every masked implementation equals the dense oracle
        attn.impl = 'dense'
        torch.testing.assert_close(out, attn(x, masks), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError):
        MaskedSelfAttention(10, 3)
    with pytest.raises(ValueError, match='impl must be one of'):
        MaskedSelfAttention(H * DH, H, impl='flash')


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
