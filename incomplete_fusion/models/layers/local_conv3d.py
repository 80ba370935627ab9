"""Local 3-D convolution over the stacked per-modality token maps.

The PerceiverIO baseline's local module: the per-modality token maps are stacked
into a volume ``(B, C, M, h, w)`` with the modalities as the depth axis, and a
3x3x3 convolution at several spatial dilations mixes each token with its spatial
neighbours in every modality (scale variation, small objects that a latent
bottleneck would blur). Absent tokens are set to zero before the convolution and
their outputs are zeroed after it, so the result depends on *which* tokens are
absent but never on the values there.
"""
from typing import Sequence, Tuple

from torch import Tensor, nn

__all__ = ['LocalConv3d']


class LocalConv3d(nn.Module):
    """Pre-norm ``Linear -> sum of dilated Conv3d -> GELU -> Linear`` (no residual).

    No batch statistics (LayerNorm only), so a sample's output does not depend on
    its batch mates.

    Args:
        embed_dims: token width ``D``.
        hidden_dims: channels of the 3-D convolution (default ``D // 2``).
        dilations: spatial dilations of the parallel 3x3x3 convolutions, summed.
    """

    def __init__(self, embed_dims: int, hidden_dims: int = 0,
                 dilations: Sequence[int] = (1, 2)):
        super().__init__()
        hidden_dims = hidden_dims or max(embed_dims // 2, 1)
        if not dilations or any(int(d) < 1 for d in dilations):
            raise ValueError(f'dilations must be positive ints, got {tuple(dilations)}')
        self.norm = nn.LayerNorm(embed_dims)
        self.reduce = nn.Linear(embed_dims, hidden_dims)
        self.convs = nn.ModuleList([
            nn.Conv3d(hidden_dims, hidden_dims, 3, padding=(1, int(d), int(d)),
                      dilation=(1, int(d), int(d))) for d in dilations
        ])
        self.act = nn.GELU()
        self.expand = nn.Linear(hidden_dims, embed_dims)

    def forward(self, tokens: Tensor, available: Tensor, grid: Tuple[int, int]) -> Tensor:
        """``(B, M, L, D)`` tokens, ``(B, M, L)`` bool -> ``(B, M, L, D)``, zero where absent."""
        b, m, l, _ = tokens.shape
        h, w = grid
        if h * w != l:
            raise ValueError(f'grid {grid} does not match {l} tokens per modality')
        mask = available[..., None]
        y = self.reduce(self.norm(tokens))
        y = y.masked_fill(~mask, 0.0)  # absent: a constant, whatever the values were
        volume = y.view(b, m, h, w, -1).permute(0, 4, 1, 2, 3)  # (B, C, M, h, w)
        out = sum(conv(volume) for conv in self.convs)
        out = self.act(out).permute(0, 2, 3, 4, 1).reshape(b, m, l, -1)
        return self.expand(out).masked_fill(~mask, 0.0)
