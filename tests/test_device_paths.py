"""The attention implementations and the FusionViT backbone per device and dtype.

Every test runs on CPU, and on CUDA when a device is present (a CUDA parameter
without a device is skipped with that reason; ``benchmarks/device_check.sh``
runs this file on one). The oracle is the dense masked attention (the backbone
with ``attention_impl='dense'``) in float64 on CPU; results in float32 and
bfloat16 (autocast, as in AMP training) must match it within the tolerances of
their dtype. Tolerances are about 10x the errors measured on CPU (float32
~1e-6, bfloat16 ~1e-2 for the attention op); a wrong mask moves outputs by ~0.1.
"""
import pytest
import torch
from test_backbone import SPECS3, make_inputs, tiny, with_missing

from incomplete_fusion.models.backbones import FusionViT
from incomplete_fusion.models.layers.attention import (ATTENTION_IMPLS, AttentionMasks,
                                                       dense_masked_attention)
from incomplete_fusion.models.layers.flex_attention import flex_support

DEVICES = [
    'cpu',
    pytest.param('cuda', marks=pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason='no CUDA device in this run (benchmarks/device_check.sh runs these on one)')),
]
DTYPES = [torch.float32, torch.bfloat16]
IMPLS = ['block_sparse', 'flex', 'auto']
# attention op: elementwise (atol, rtol) for outputs and input gradients
OP_TOL = {torch.float32: (1e-4, 1e-4), torch.bfloat16: (3e-2, 3e-2)}
# backbone: relative error ||x - oracle|| / ||oracle|| of each output / parameter gradient
REL_TOL = {torch.float32: 1e-4, torch.bfloat16: 5e-2}


@pytest.fixture(autouse=True, scope='module')
def _exact_float32_one_cpu_thread():
    """No TF32 on CUDA (cuDNN convolutions default to it; its ~1e-3 error in the
    patch embedding is not what the float32 tolerance is about), and one CPU thread:
    tiny tensors gain nothing from a second one, and on a loaded machine its OpenMP
    spin-waits made these tests ~30x slower (measured)."""
    saved = (torch.get_num_threads(), torch.backends.cudnn.allow_tf32,
             torch.backends.cuda.matmul.allow_tf32)
    torch.set_num_threads(1)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    yield
    torch.set_num_threads(saved[0])
    torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved[1:]


def require(impl: str, device: str) -> None:
    if impl == 'flex':
        supported, reason = flex_support(torch.device(device))
        if not supported:
            pytest.skip(f'flex_attention cannot run on {device}: {reason}')


def rel_err(x: torch.Tensor, ref: torch.Tensor) -> float:
    x, ref = x.detach().double().cpu(), ref.detach().double().cpu()
    return float((x - ref).norm() / ref.norm().clamp_min(1e-12))


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('impl', IMPLS)
@pytest.mark.parametrize('tokens', [24, 128], ids=['L24', 'L128'])
def test_attention_matches_dense_oracle(device, dtype, impl, tokens):
    """L=24: flex tiles straddle the modality blocks; L=128: whole tiles are skipped."""
    require(impl, device)
    b, k, h, dh = 2, 4, 2, 16
    g = torch.Generator().manual_seed(0)
    available = torch.rand(b, k, tokens, generator=g) > 0.3
    available[:, -1] = True
    available[0, 1] = False  # a modality missing for one sample
    qkv = [torch.randn(b, k, tokens, h, dh, generator=g).to(dtype) for _ in range(3)]
    upstream = torch.randn(b, k, tokens, h, dh, generator=g).to(dtype)

    ref_in = [t.double().requires_grad_() for t in qkv]  # oracle on the same rounded inputs
    ref = dense_masked_attention(*ref_in, AttentionMasks.from_available(available))
    ref_grads = torch.autograd.grad(ref, ref_in, upstream.double())

    x = [t.to(device).requires_grad_() for t in qkv]
    out = ATTENTION_IMPLS[impl](*x, AttentionMasks.from_available(available.to(device)))
    grads = torch.autograd.grad(out, x, upstream.to(device))
    atol, rtol = OP_TOL[dtype]
    assert out.dtype == dtype and out.device.type == device
    torch.testing.assert_close(out.double().cpu(), ref, atol=atol, rtol=rtol)
    for grad, ref_grad in zip(grads, ref_grads):
        torch.testing.assert_close(grad.double().cpu(), ref_grad, atol=atol, rtol=rtol)
    if impl == 'auto' and device == 'cuda':  # measured once for this shape, then cached
        decisions = [d for key, d in ATTENTION_IMPLS['auto'].decisions.items()
                     if key[0].startswith('cuda') and key[2][2] == tokens and key[1] == dtype]
        assert decisions and all(d['choice'] in ('block_sparse', 'flex') for d in decisions)


def tiny_backbone(impl: str, dtype=torch.float32, **kwargs) -> FusionViT:
    # head dims 16: compiled flex needs at least 16
    return tiny(attention_impl=impl, dtype=dtype, embed_dims=32, depth=2, out_indices=(0, 1),
                **kwargs)


def run(model: FusionViT, x: torch.Tensor, dtype: torch.dtype):
    """Taps and final tokens, in autocast when ``dtype`` is bfloat16 (AMP)."""
    device = x.device.type
    with torch.autocast(device, dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):
        out = model.forward_tokens(x)
        taps = model(x)
    return [*taps, out.fusion_tokens, *out.modality_tokens.values()]


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('dtype', DTYPES, ids=str)
@pytest.mark.parametrize('impl', IMPLS)
def test_backbone_forward_backward_matches_dense_oracle(device, dtype, impl):
    """Outputs and parameter gradients with missing modalities and patches."""
    require(impl, device)
    oracle = tiny_backbone('dense', torch.float64).train()
    model = tiny_backbone(impl).train().to(device)  # same seed: same weights
    x = with_missing(oracle, make_inputs())
    g = torch.Generator().manual_seed(1)
    ref_outs = run(oracle, x, torch.float64)
    weights = [torch.randn(o.shape, generator=g, dtype=torch.float64) for o in ref_outs]
    sum((o * w).sum() for o, w in zip(ref_outs, weights)).backward()

    outs = run(model, x.float().to(device), dtype)
    sum((o.float() * w.float().to(device)).sum() for o, w in zip(outs, weights)).backward()
    for out, ref in zip(outs, ref_outs):
        assert torch.isfinite(out).all()
        assert rel_err(out, ref) < REL_TOL[dtype]
    ref_params = dict(oracle.named_parameters())
    for name, param in model.named_parameters():
        ref_grad = ref_params[name].grad
        if ref_grad is None or not ref_grad.any():
            continue
        assert param.grad is not None, name
        assert rel_err(param.grad, ref_grad) < REL_TOL[dtype], name


@pytest.mark.parametrize('device', DEVICES)
@pytest.mark.parametrize('impl', IMPLS)
def test_backbone_train_step_with_patch_dropout_under_amp(device, impl):
    """bf16 autocast, PatchDropout and stochastic depth on: finite loss and gradients."""
    require(impl, device)
    torch.manual_seed(0)
    model = tiny_backbone(impl, patch_keep_ratio=0.75, drop_path_rate=0.1).train().to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = with_missing(model, make_inputs(dtype=torch.float32)).to(device)
    for _ in range(2):  # the second step sees other dropped tokens (other shapes for flex)
        optimizer.zero_grad()
        loss = sum(t.float().square().mean() for t in run(model, x, torch.bfloat16))
        loss.backward()
        assert torch.isfinite(loss)
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(gr).all() for gr in grads)
        optimizer.step()


def test_backbone_rejects_unknown_attention_name():
    with pytest.raises(ValueError, match='attention_impl must be one of'):
        FusionViT(SPECS3, img_size=16, patch_size=4, embed_dims=16, depth=1, num_heads=2,
                  attention_impl='flash')
