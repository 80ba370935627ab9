"""Per-location modality attention: how fusion tokens gather from modalities.

At every patch location ``i`` the fusion token attends over the present
modality tokens at ``i`` and over itself (pre-norm, residual, then an MLP).
Only the fusion token is updated, so the unimodal streams stay unimodal; absent
modality tokens are never keys. All ``B * L`` locations are computed at once as
length-``K`` sequences with one query (broadcast products, no loop).
See docs/advanced_guides/backbone.md#what-a-layer-does.
"""
from mmcv.cnn.bricks.drop import DropPath
from torch import Tensor, nn

from .attention import AttentionMasks
from .mlp import Mlp

__all__ = ['ModalityAttention']


class ModalityAttention(nn.Module):
    """Fusion token ``i`` <- softmax over {modality tokens at ``i``, itself}.

    Args:
        embed_dims: token width ``D``.
        num_heads: number of heads.
        mlp_ratio: hidden width of the MLP over ``D``.
        drop_path: stochastic depth rate of both residual branches.
        qkv_bias: bias of the q and kv projections.
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0, qkv_bias: bool = True):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.scale = (embed_dims // num_heads)**-0.5
        self.norm1 = nn.LayerNorm(embed_dims)
        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, 2 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, masks: AttentionMasks) -> Tensor:
        """Return the updated fusion tokens.

        Args:
            x: ``(B, K, L, D)`` tokens, fusion block last.
            masks: token availability (``masks.available``, ``(B, K, L)``);
                absent tokens are not keys.

        Returns:
            ``(B, L, D)`` new fusion tokens.
        """
        b, kb, l, d = x.shape
        h = self.num_heads
        y = self.norm1(x)
        q = self.q(y[:, -1]).view(b, 1, l, h, d // h)
        key, value = self.kv(y).view(b, kb, l, 2, h, d // h).unbind(3)
        # (B, K, L, H): broadcast products beat SDPA here, whose per-problem
        # overhead dominates B*L*H problems of one query and K keys, most of
        # all in the backward
        scores = (q * key).sum(-1) * self.scale
        scores = scores.masked_fill(~masks.available[..., None], float('-inf'))
        weights = scores.softmax(dim=1)  # over the K tokens of one location
        gathered = (weights[..., None] * value).sum(1).reshape(b, l, d)
        fusion = x[:, -1] + self.drop_path(self.proj(gathered))
        return fusion + self.drop_path(self.mlp(self.norm2(fusion)))
