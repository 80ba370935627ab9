"""Self-attention over modality tokens and fusion tokens.

Layout: ``x`` of shape ``(B, K, L, D)``, ``K - 1`` modality blocks then the fusion
block; ``available`` ``(B, K, L)`` says which tokens exist. Rules sharing one
signature ``fn(q, k, v, masks)``: :func:`block_sparse_masked_attention` (the masked
Zorro-style rule block by block), :func:`dense_masked_attention` (the same rule with
a boolean ``(N, N)`` mask: the test oracle) and :func:`plain_attention` (no modality
masking, MultiViT); ``'flex'`` and ``'auto'`` live in :mod:`.flex_attention`.
Guaranteed: absent tokens are never keys, so they cannot influence a present token;
absent queries get finite outputs that nothing reads.
See docs/advanced_guides/backbone.md#block-sparse-attention-and-the-dense-oracle.
"""
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .flex_attention import AutoAttention, flex_masked_attention

__all__ = [
    'AttentionMasks', 'block_sparse_masked_attention', 'dense_masked_attention',
    'plain_attention', 'flex_masked_attention', 'MaskedSelfAttention', 'ATTENTION_IMPLS',
    'MASKED_ATTENTION_IMPLS'
]


def _none_if_all(mask: Tensor) -> Optional[Tensor]:
    """Drop a key mask that masks nothing: SDPA runs faster without one."""
    return None if bool(mask.all()) else mask


@dataclass
class AttentionMasks:
    """Key masks derived once per forward from token availability.

    Built once and shared by all layers, so the per-layer cost is zero and
    masks that mask nothing are passed to SDPA as ``None``.
    """

    available: Tensor  # (B, K, L) bool, last block = fusion (all True)
    modality_keys: List[Optional[Tensor]] = field(default_factory=list)  # (B, 1, 1, L)
    all_keys: Optional[Tensor] = None  # (B, 1, 1, K * L)
    _dense: Optional[Tensor] = None
    _block_mask: Optional[Any] = None  # FlexAttention BlockMask, built on first use

    @classmethod
    def from_available(cls, available: Tensor) -> 'AttentionMasks':
        b, k, l = available.shape
        if not bool(available[:, -1].all()):
            raise ValueError('fusion tokens (the last block) must all be available')
        modality = available[:, :-1]
        # A (sample, modality) block without any present token: let its
        # (absent) queries see all its own keys, so the softmax stays finite.
        modality = modality | ~modality.any(-1, keepdim=True)
        return cls(
            available=available,
            modality_keys=[_none_if_all(modality[:, m, None, None, :]) for m in range(k - 1)],
            all_keys=_none_if_all(available.reshape(b, 1, 1, k * l)))

    @property
    def num_blocks(self) -> int:
        return self.available.shape[1]

    def key_rows(self) -> Tuple[Tensor, Tensor]:
        """Which keys a query may read, per sample, ``(B, N)`` bool each.

        Returns ``(own, every)``: a modality query reads the ``own`` keys of its
        own block (present keys, or the whole block when it has none); a fusion
        query reads ``every`` present key.
        """
        b, k, l = self.available.shape
        modality = self.available[:, :-1]
        own = torch.cat([modality | ~modality.any(-1, keepdim=True), self.available[:, -1:]], 1)
        return own.reshape(b, k * l), self.available.reshape(b, k * l)

    def dense(self) -> Tensor:
        """The same rule as one boolean ``(B, 1, N, N)`` mask (True = may attend)."""
        if self._dense is None:
            b, k, l = self.available.shape
            block = torch.arange(k, device=self.available.device).repeat_interleave(l)  # (N,)
            is_fusion_query = (block == k - 1)[:, None]
            same_block = block[:, None] == block[None, :]
            own, every = self.key_rows()
            own = same_block[None] & own[:, None]
            every = every[:, None].expand(b, k * l, k * l)
            self._dense = torch.where(is_fusion_query[None], every, own)[:, None]
        return self._dense


def _heads_first(t: Tensor) -> Tensor:
    """(B, L, H, Dh) -> (B, H, L, Dh), a view."""
    return t.transpose(1, 2)


def block_sparse_masked_attention(q: Tensor, k: Tensor, v: Tensor,
                                  masks: AttentionMasks) -> Tensor:
    """Masked self-attention computed per block.

    Args:
        q, k, v: ``(B, K, L, H, Dh)`` (views into one qkv projection are fine).
        masks: key masks of the current token availability.

    Returns:
        ``(B, K, L, H, Dh)``.
    """
    b, kb, l, h, dh = q.shape
    # unbind once (not q[:, m] per block): its backward is one stack, where
    # per-block indexing would allocate a zero gradient of the full size per block
    qs, ks, vs = q.unbind(1), k.unbind(1), v.unbind(1)
    outs = [
        F.scaled_dot_product_attention(
            _heads_first(qs[m]), _heads_first(ks[m]), _heads_first(vs[m]),
            attn_mask=masks.modality_keys[m])
        for m in range(kb - 1)  # a handful of modalities, never samples
    ]
    # fusion queries over every token: (B, K, L, H, Dh) -> (B, H, K*L, Dh) is a view
    k_all = k.permute(0, 3, 1, 2, 4).reshape(b, h, kb * l, dh)
    v_all = v.permute(0, 3, 1, 2, 4).reshape(b, h, kb * l, dh)
    outs.append(F.scaled_dot_product_attention(
        _heads_first(qs[-1]), k_all, v_all, attn_mask=masks.all_keys))
    return torch.stack([o.transpose(1, 2) for o in outs], 1)  # one copy, contiguous


def _flat(t: Tensor) -> Tensor:
    """(B, K, L, H, Dh) -> (B, H, K*L, Dh)."""
    b, kb, l, h, dh = t.shape
    return t.reshape(b, kb * l, h, dh).transpose(1, 2)


def dense_masked_attention(q: Tensor, k: Tensor, v: Tensor, masks: AttentionMasks) -> Tensor:
    """Oracle: the masked rule as one SDPA call with an explicit ``(N, N)`` bool mask."""
    b, kb, l, h, dh = q.shape
    o = F.scaled_dot_product_attention(_flat(q), _flat(k), _flat(v), attn_mask=masks.dense())
    return o.transpose(1, 2).reshape(b, kb, l, h, dh)


def plain_attention(q: Tensor, k: Tensor, v: Tensor, masks: AttentionMasks) -> Tensor:
    """Unmasked attention over all tokens (MultiViT); absent tokens are not keys."""
    b, kb, l, h, dh = q.shape
    o = F.scaled_dot_product_attention(_flat(q), _flat(k), _flat(v), attn_mask=masks.all_keys)
    return o.transpose(1, 2).reshape(b, kb, l, h, dh)


ATTENTION_IMPLS: Dict[str, Callable[..., Tensor]] = {
    'block_sparse': block_sparse_masked_attention,
    'dense': dense_masked_attention,
    'flex': flex_masked_attention,
    # on CUDA the faster of these two, measured once per (device, dtype, shape, grad)
    'auto': AutoAttention({'block_sparse': block_sparse_masked_attention,
                           'flex': flex_masked_attention}, cpu_choice='block_sparse'),
    'plain': plain_attention,
}
# the names that compute the masked (Zorro) rule; 'plain' is the unmasked ablation
MASKED_ATTENTION_IMPLS = ('block_sparse', 'dense', 'flex', 'auto')


class MaskedSelfAttention(nn.Module):
    """Multi-head self-attention over the ``(B, K, L, D)`` token layout.

    Args:
        embed_dims: token width ``D``.
        num_heads: number of heads.
        impl: one of :data:`MASKED_ATTENTION_IMPLS` (the same masked rule,
            computed differently) or ``'plain'`` (no modality masking).
        qkv_bias: bias of the qkv projection.
    """

    def __init__(self, embed_dims: int, num_heads: int, impl: str = 'block_sparse',
                 qkv_bias: bool = True):
        super().__init__()
        if impl not in ATTENTION_IMPLS:
            raise ValueError(f'impl must be one of {sorted(ATTENTION_IMPLS)}, got {impl!r}')
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} not divisible by num_heads {num_heads}')
        self.embed_dims, self.num_heads, self.impl = embed_dims, num_heads, impl
        self.qkv = nn.Linear(embed_dims, 3 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)

    def forward(self, x: Tensor, masks: AttentionMasks) -> Tensor:
        b, kb, l, d = x.shape
        q, k, v = self.qkv(x).view(b, kb, l, 3, self.num_heads, d // self.num_heads).unbind(3)
        out = ATTENTION_IMPLS[self.impl](q, k, v, masks)
        return self.proj(out.reshape(b, kb, l, d))

    def forward_fusion(self, x: Tensor, masks: AttentionMasks) -> Tensor:
        """Outputs of the fusion queries only, ``(B, L, D)``.

        Fusion queries attend to every present token under all three rules, so
        this is exact for every ``impl``; it skips the modality queries when
        only fusion outputs are needed (the last layer of ``FusionViT.forward``).
        """
        b, kb, l, d = x.shape
        h = self.num_heads
        weight, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x[:, -1], weight[:d], None if bias is None else bias[:d])
        kv = F.linear(x, weight[d:], None if bias is None else bias[d:])
        kv = kv.view(b, kb * l, 2, h, d // h)
        out = F.scaled_dot_product_attention(
            q.view(b, l, h, d // h).transpose(1, 2), kv[:, :, 0].transpose(1, 2),
            kv[:, :, 1].transpose(1, 2), attn_mask=masks.all_keys)
        return self.proj(out.transpose(1, 2).reshape(b, l, d))
