"""From one NaN-marked image to per-modality patch tokens and their availability.

* :func:`valid_pixels` / :func:`patch_availability`: a pixel is valid when all
  its channels are finite (and, for a categorical modality, a class index in
  range); a patch token exists when at least ``min_valid_fraction`` of its
  pixels are valid. This one rule covers nodata, missing files, clouds masked as
  nodata, evaluation subsets and training-time modality dropout.
* :class:`ModalityPatchEmbed`: ``Conv2d(C -> D, kernel = stride = patch)`` on the
  zero-filled pixels; a categorical modality is embedded per pixel first
  (``nn.Embedding(num_classes, 64)``) and invalid pixels embed to zero.
* :func:`sincos_2d_position_embedding`: fixed 2-D sin-cos table for any grid.
* :class:`PatchDropout`: training-time token dropping with a Dirichlet share per
  modality.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from incomplete_fusion.modalities import ModalitySpec

from .token_budget import keep_token_budget

__all__ = [
    'valid_pixels', 'patch_availability', 'ModalityPatchEmbed', 'sincos_2d_position_embedding',
    'PatchDropout'
]


def valid_pixels(pixels: Tensor, spec: ModalitySpec) -> Tensor:
    """``(B, C, H, W)`` -> ``(B, 1, H, W)`` bool: every channel of the pixel has data."""
    ok = torch.isfinite(pixels)
    if spec.is_categorical:
        ok = ok & (pixels > -0.5) & (pixels < spec.num_classes - 0.5)
    return ok.all(dim=1, keepdim=True)


def patch_availability(valid: Tensor, patch_size: int, min_valid_fraction: float) -> Tensor:
    """``(B, 1, H, W)`` valid pixels -> ``(B, L)`` bool tokens, row-major grid."""
    fraction = F.avg_pool2d(valid.float(), patch_size, patch_size)
    # small tolerance: a fraction like 0.5 must not fail the test by rounding
    return (fraction >= min_valid_fraction - 1e-6).flatten(1)


def sincos_2d_position_embedding(grid_size: Tuple[int, int], embed_dims: int,
                                 temperature: float = 10000.0,
                                 device: Optional[torch.device] = None,
                                 dtype: torch.dtype = torch.float32) -> Tensor:
    """Fixed 2-D sin-cos table ``(h * w, D)`` in row-major token order.

    Same formula as MAE / mmpretrain's ``build_2d_sincos_position_embedding``
    (a quarter of the channels each for sin/cos of x and y), written here because
    that helper orders tokens column-major, which is wrong for the non-square
    grids that any input size divisible by the patch size can produce.
    """
    if embed_dims % 4:
        raise ValueError(f'sin-cos position embedding needs embed_dims % 4 == 0, got {embed_dims}')
    h, w = grid_size
    quarter = embed_dims // 4
    omega = 1.0 / temperature**(torch.arange(quarter, device=device, dtype=torch.float64) / quarter)
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=torch.float64),
                            torch.arange(w, device=device, dtype=torch.float64), indexing='ij')
    out_x = xs.reshape(-1, 1) * omega
    out_y = ys.reshape(-1, 1) * omega
    table = torch.cat([out_x.sin(), out_x.cos(), out_y.sin(), out_y.cos()], dim=1)
    return table.to(dtype)


class ModalityPatchEmbed(nn.Module):
    """Patch embedding of one modality; absent pixels contribute nothing.

    Args:
        spec: the modality.
        embed_dims: token width ``D``.
        patch_size: kernel and stride of the patch convolution.
        categorical_embed_dims: per-pixel embedding width of a categorical modality.
    """

    def __init__(self, spec: ModalitySpec, embed_dims: int, patch_size: int,
                 categorical_embed_dims: int = 64):
        super().__init__()
        self.spec = spec
        self.patch_size = patch_size
        if spec.is_categorical:
            self.class_embed = nn.Embedding(spec.num_classes, categorical_embed_dims)
            in_channels = categorical_embed_dims
        else:
            self.class_embed = None
            in_channels = spec.channels
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size)

    def forward(self, pixels: Tensor, valid: Tensor) -> Tensor:
        """``(B, C, H, W)`` pixels (NaN allowed where not valid) -> ``(B, L, D)``."""
        if self.class_embed is None:
            tokens = self.proj(torch.where(valid, pixels, pixels.new_zeros(())))
        else:
            # conv(embed(class)) as one conv over the one-hot map with the folded
            # weight: identical result and gradients, num_classes input channels
            # instead of 64 per pixel.
            index = torch.where(valid, pixels, pixels.new_zeros(())).round().long()[:, 0]
            one_hot = F.one_hot(index, self.spec.num_classes).permute(0, 3, 1, 2)
            one_hot = one_hot.to(self.proj.weight.dtype) * valid
            weight = torch.einsum('dcpq,nc->dnpq', self.proj.weight, self.class_embed.weight)
            tokens = F.conv2d(one_hot, weight, self.proj.bias, stride=self.patch_size)
        return tokens.flatten(2).transpose(1, 2)


class PatchDropout(nn.Module):
    """Keep ``keep_ratio`` of each sample's present tokens, training only.

    The kept tokens are shared among the sample's present modalities by a share
    drawn from a symmetric Dirichlet(``alpha``); a modality cannot keep more
    tokens than it has, and the excess goes to the others. Dropped tokens are
    treated exactly like absent ones. The same sampler as MultiMAE's masking
    (:func:`~.token_budget.keep_token_budget`), with torch's global RNG.

    Args:
        keep_ratio: fraction of present tokens kept (1.0 = off).
        alpha: Dirichlet concentration.
    """

    def __init__(self, keep_ratio: float = 1.0, alpha: float = 1.0):
        super().__init__()
        if not 0.0 < keep_ratio <= 1.0:
            raise ValueError(f'keep_ratio must be in (0, 1], got {keep_ratio}')
        if alpha <= 0:
            raise ValueError(f'dirichlet alpha must be > 0, got {alpha}')
        self.keep_ratio, self.alpha = keep_ratio, alpha

    def forward(self, available: Tensor) -> Tensor:
        """``(B, M, L)`` bool available -> ``(B, M, L)`` bool kept (a subset)."""
        if not self.training or self.keep_ratio >= 1.0:
            return available
        return keep_token_budget(available, self.keep_ratio, self.alpha)
