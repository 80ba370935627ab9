"""FlexAttention form of FusionViT's masked self-attention, and the ``auto`` choice.

:func:`flex_masked_attention` computes exactly the rule of
:func:`~.attention.block_sparse_masked_attention` (modality queries read their own
block, fusion queries every present key; absent tokens are never keys) as one
``flex_attention`` call, with a ``BlockMask`` built once per forward and cached on
the ``AttentionMasks``. On CUDA it runs compiled (Triton); on CPU torch's eager
reference (correct, slow; compiled flex is never used on CPU). :class:`AutoAttention`
(``attention_impl='auto'``) picks per ``(device, dtype, shape, grad)``: on CUDA the
faster candidate, timed once; on CPU ``block_sparse``. Failing candidates are left
out with a warning. See docs/advanced_guides/backbone.md#attention-implementations-block_sparse-dense-flex-auto.
"""
import functools
import time
import warnings
from typing import TYPE_CHECKING, Callable, Dict, Optional, Tuple

import torch
from torch import Tensor

if TYPE_CHECKING:
    from .attention import AttentionMasks

__all__ = ['flex_masked_attention', 'flex_block_mask', 'flex_support', 'AutoAttention']

try:
    from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention
except ImportError:  # torch < 2.5
    BlockMask = create_block_mask = flex_attention = None

_compiled: Optional[Callable] = None


def flex_support(device: torch.device) -> Tuple[bool, str]:
    """Whether :func:`flex_masked_attention` runs on ``device``, and how (or why not)."""
    return _flex_support(torch.device(device).type)


@functools.lru_cache(maxsize=None)
def _flex_support(device_type: str) -> Tuple[bool, str]:
    if flex_attention is None:
        return False, f'torch {torch.__version__} has no torch.nn.attention.flex_attention'
    if not torch._dynamo.is_dynamo_supported():
        return False, 'flex_attention needs dynamo, which this Python/torch does not support'
    if device_type == 'cuda':
        from torch.utils._triton import has_triton
        if not has_triton():
            return False, 'compiled flex_attention on CUDA needs Triton, which is not installed'
        return True, 'compiled (fused Triton kernels)'
    if device_type == 'cpu':
        return True, 'eager reference (unfused; compiled CPU flex has no backward in torch 2.9)'
    return False, f'flex_attention is not set up for device type {device_type!r} here'


def _kernel(device: torch.device) -> Callable:
    """Compiled flex_attention on CUDA, the eager reference elsewhere."""
    global _compiled
    if device.type != 'cuda':
        return _eager_flex
    if _compiled is None:
        _compiled = torch.compile(flex_attention)
    return _compiled


def _eager_flex(q: Tensor, k: Tensor, v: Tensor, block_mask) -> Tensor:
    with warnings.catch_warnings():  # eager on CPU is deliberate (module docstring)
        warnings.filterwarnings('ignore', message='flex_attention called without torch.compile')
        return flex_attention(q, k, v, block_mask=block_mask)


def flex_block_mask(masks: 'AttentionMasks') -> 'BlockMask':
    """The FlexAttention ``BlockMask`` of ``masks``' rule, built on first use and cached."""
    if masks._block_mask is not None:
        return masks._block_mask
    available = masks.available
    b, kb, l = available.shape
    n, fusion_start = kb * l, (kb - 1) * l

    if masks.all_keys is None:  # every token present: one mask for the whole batch
        def mask_mod(b_, h_, q_idx, kv_idx):
            return (q_idx >= fusion_start) | (q_idx // l == kv_idx // l)

        batch = None
    else:
        own, every = masks.key_rows()  # (B, N) each

        def mask_mod(b_, h_, q_idx, kv_idx):
            fusion_query = q_idx >= fusion_start
            same_block = q_idx // l == kv_idx // l
            return ((fusion_query & every[b_, kv_idx])
                    | (~fusion_query & same_block & own[b_, kv_idx]))

        batch = b
    masks._block_mask = create_block_mask(mask_mod, batch, None, n, n, device=available.device)
    return masks._block_mask


def flex_masked_attention(q: Tensor, k: Tensor, v: Tensor, masks: 'AttentionMasks') -> Tensor:
    """Masked self-attention as one FlexAttention call.

    Args:
        q, k, v: ``(B, K, L, H, Dh)`` (views into one qkv projection are fine).
        masks: token availability; its ``BlockMask`` is built on first use.

    Returns:
        ``(B, K, L, H, Dh)``.
    """
    supported, reason = flex_support(q.device)
    if not supported:
        raise RuntimeError(f"attention_impl='flex' cannot run here: {reason}")
    b, kb, l, h, dh = q.shape

    def flat(t: Tensor) -> Tensor:  # (B, K, L, H, Dh) -> (B, H, K*L, Dh)
        return t.reshape(b, kb * l, h, dh).transpose(1, 2)

    out = _kernel(q.device)(flat(q), flat(k), flat(v), block_mask=flex_block_mask(masks))
    return out.transpose(1, 2).reshape(b, kb, l, h, dh)


def _best_ms(fn: Callable, q: Tensor, k: Tensor, v: Tensor, masks: 'AttentionMasks',
             grad: bool, repeats: int) -> float:
    """Best-of-``repeats`` milliseconds of ``fn`` (forward, + backward if ``grad``),
    on detached copies (the caller's graph is untouched); the first call is a warm-up."""
    leaves = [t.detach().requires_grad_(grad) for t in (q, k, v)]

    def run():
        with torch.set_grad_enabled(grad):
            out = fn(*leaves, masks)
            if grad:
                out.backward(torch.ones_like(out))

    run()  # compiles flex; builds the block mask
    sync = torch.cuda.synchronize if q.device.type == 'cuda' else (lambda *a: None)
    best = float('inf')
    for _ in range(repeats):
        sync(q.device)
        start = time.perf_counter()
        run()
        sync(q.device)
        best = min(best, time.perf_counter() - start)
    return best * 1e3


class AutoAttention:
    """The fastest masked-attention implementation, measured once per shape.

    Args:
        candidates: name -> implementation, all computing the same rule; ties
            go to the first.
        cpu_choice: used on CPU without measuring.
        repeats: timed calls per candidate (after one warm-up call).

    ``decisions`` maps ``(device, dtype, q shape, grad)`` to
    ``dict(choice=name, ms={name: best ms}, errors={name: message})``.
    """

    def __init__(self, candidates: Dict[str, Callable[..., Tensor]],
                 cpu_choice: str = 'block_sparse', repeats: int = 3):
        if cpu_choice not in candidates:
            raise ValueError(f'cpu_choice {cpu_choice!r} not among {sorted(candidates)}')
        self.candidates, self.cpu_choice, self.repeats = dict(candidates), cpu_choice, repeats
        self.decisions: Dict[tuple, dict] = {}

    def choose(self, q: Tensor, k: Tensor, v: Tensor, masks: 'AttentionMasks') -> str:
        if q.device.type != 'cuda':
            return self.cpu_choice
        grad = torch.is_grad_enabled() and q.requires_grad
        key = (str(q.device), q.dtype, tuple(q.shape), grad)
        if key not in self.decisions:
            self.decisions[key] = self.measure(q, k, v, masks, grad)
        return self.decisions[key]['choice']

    def measure(self, q: Tensor, k: Tensor, v: Tensor, masks: 'AttentionMasks',
                grad: bool) -> dict:
        ms, errors = {}, {}
        for name, fn in self.candidates.items():
            try:
                ms[name] = _best_ms(fn, q, k, v, masks, grad, self.repeats)
            except Exception as error:  # noqa: BLE001  a candidate that cannot run is left out
                errors[name] = f'{type(error).__name__}: {error}'[:300]
                warnings.warn(f"attention_impl='auto': {name} failed on {q.device} and is "
                              f'left out: {errors[name]}')
        choice = min(ms, key=ms.get) if ms else self.cpu_choice
        return dict(choice=choice, ms=ms, errors=errors)

    def __call__(self, q: Tensor, k: Tensor, v: Tensor, masks: 'AttentionMasks') -> Tensor:
        return self.candidates[self.choose(q, k, v, masks)](q, k, v, masks)
