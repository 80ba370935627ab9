"""The fusion tokens a FusionViT starts from, before its first layer.

``'learned'`` (FusionViT's default): one learned token per location plus the
position embedding; the per-location modality attention gives them a local path to
the input. ``'modality_mean'``: the same plus the mean of the *present* modality
patch embeddings at the location, a local path at initialisation for variants
without modality attention (MultiViT, ``w/o modality attention``), no new
parameters. Absent tokens never enter the mean; a location without any present
token keeps the learned token.
See docs/results.md#why-the-baselines-collapsed-and-the-recipe.
"""
from typing import Tuple

import torch.nn.functional as F
from torch import Tensor

__all__ = ['FUSION_INITS', 'resize_token_grid', 'initial_fusion_tokens']

FUSION_INITS = ('learned', 'modality_mean')


def resize_token_grid(grid: Tensor, size: Tuple[int, int]) -> Tensor:
    """``(1, h, w, D)`` -> ``(1, *size, D)`` by bicubic interpolation."""
    if tuple(grid.shape[1:3]) == tuple(size):
        return grid
    resized = F.interpolate(grid.permute(0, 3, 1, 2).float(), size=size, mode='bicubic',
                            align_corners=False)
    return resized.permute(0, 2, 3, 1).to(grid.dtype)


def initial_fusion_tokens(learned: Tensor, pos: Tensor, embeds: Tensor, available: Tensor,
                          mode: str = 'learned') -> Tensor:
    """Fusion tokens ``(B, L, D)`` entering the first layer.

    Args:
        learned: ``(1, h, w, D)`` learned grid, already at the input's grid size.
        pos: ``(L, D)`` position embedding.
        embeds: ``(B, M, L, D)`` patch embeddings of the computed modalities
            (without position embedding).
        available: ``(B, M, L)`` bool, which of them are present.
        mode: one of :data:`FUSION_INITS`.
    """
    if mode not in FUSION_INITS:
        raise ValueError(f'fusion_init must be one of {FUSION_INITS}, got {mode!r}')
    b = embeds.shape[0]
    fusion = (learned.flatten(1, 2) + pos).expand(b, -1, -1)
    if mode == 'modality_mean':
        weight = available.to(embeds.dtype)[..., None]  # (B, M, L, 1)
        fusion = fusion + (embeds * weight).sum(1) / weight.sum(1).clamp_min(1.0)
    return fusion
