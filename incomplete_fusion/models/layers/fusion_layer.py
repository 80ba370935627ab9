"""One FusionViT layer: modality attention, then (masked) self-attention + MLP."""
from typing import Optional

import torch
from mmcv.cnn.bricks.drop import DropPath
from torch import Tensor, nn

from .attention import AttentionMasks, MaskedSelfAttention
from .mlp import Mlp
from .modality_attention import ModalityAttention

__all__ = ['FusionLayer']


class FusionLayer(nn.Module):
    """Pre-norm transformer layer over the ``(B, K, L, D)`` token layout.

    Weights of the self-attention block are shared by all modalities and the
    fusion tokens (as in Zorro); the modality attention, when enabled, only
    updates the fusion tokens.

    Args:
        embed_dims, num_heads, mlp_ratio: usual ViT sizes.
        attention_impl: ``'block_sparse'``, ``'dense'`` or ``'plain'``.
        modality_attention: prepend the per-location modality attention.
        drop_path: stochastic depth rate.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0,
                 attention_impl: str = 'block_sparse', modality_attention: bool = True,
                 drop_path: float = 0.0, qkv_bias: bool = True):
        super().__init__()
        self.modality_attn: Optional[ModalityAttention] = (
            ModalityAttention(embed_dims, num_heads, mlp_ratio, drop_path, qkv_bias)
            if modality_attention else None)
        self.norm1 = nn.LayerNorm(embed_dims)
        self.attn = MaskedSelfAttention(embed_dims, num_heads, attention_impl, qkv_bias)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, masks: AttentionMasks) -> Tensor:
        """``(B, K, L, D)`` tokens -> updated tokens."""
        x = self._gather_into_fusion(x, masks)
        x = x + self.drop_path(self.attn(self.norm1(x), masks))
        return x + self.drop_path(self.mlp(self.norm2(x)))

    def forward_fusion(self, x: Tensor, masks: AttentionMasks) -> Tensor:
        """Only the updated fusion tokens ``(B, L, D)``: same values as
        ``forward(x, masks)[:, -1]``, without the work for modality tokens."""
        x = self._gather_into_fusion(x, masks)
        fusion = x[:, -1] + self.drop_path(self.attn.forward_fusion(self.norm1(x), masks))
        return fusion + self.drop_path(self.mlp(self.norm2(fusion)))

    def _gather_into_fusion(self, x: Tensor, masks: AttentionMasks) -> Tensor:
        if self.modality_attn is None:
            return x
        fusion = self.modality_attn(x, masks)
        return torch.cat([x[:, :-1], fusion[:, None]], dim=1)
