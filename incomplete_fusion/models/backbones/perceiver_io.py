"""PerceiverIO-style baseline: a latent array reads every present token, dense queries read it.

Per-modality patch tokens (+ fixed 2-D sin-cos position, + a learned modality
embedding) get a local 3-D-convolution residual over the modality-stacked token
maps (:class:`~..layers.local_conv3d.LocalConv3d`). ``num_latents`` learned latents
cross-attend once to all present tokens, then run ``depth`` self-attention blocks.
After each block in ``out_indices`` a dense decoder (one query per patch location:
position + a learned query + the mean of the location's present local tokens)
cross-attends to the latents and gives a ``(B, D, H/p, W/p)`` map, the same
interface as FusionViT.

Missing data: the same NaN rule as FusionViT (:func:`patch_availability`). Absent
tokens are zeroed before the local convolution and are never keys of the latent
cross-attention; a learned null key keeps that softmax finite when a sample has no
token at all. A modality absent from the whole batch is not embedded.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn.bricks.drop import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn
from torch.nn import functional as F

from incomplete_fusion.binding import DeclaredModalities
from incomplete_fusion.modalities import channel_slices, total_channels
from incomplete_fusion.registry import MODELS

from ..layers.local_conv3d import LocalConv3d
from ..layers.mlp import Mlp
from ..layers.patch_embed import (ModalityPatchEmbed, PatchDropout, patch_availability,
                                  sincos_2d_position_embedding, valid_pixels)

__all__ = ['PerceiverIO']

Size2 = Union[int, Tuple[int, int]]


class AttentionBlock(nn.Module):
    """Pre-norm attention + MLP: cross-attention to ``context``, self-attention without.

    Args:
        embed_dims, num_heads, mlp_ratio: usual transformer sizes.
        drop_path: stochastic depth of both residual branches.
        qkv_bias: bias of the q and kv projections.
        cross: norm the context separately (cross-attention block).
    """

    def __init__(self, embed_dims: int, num_heads: int, mlp_ratio: float = 4.0,
                 drop_path: float = 0.0, qkv_bias: bool = True, cross: bool = False):
        super().__init__()
        if embed_dims % num_heads:
            raise ValueError(f'embed_dims {embed_dims} not divisible by num_heads {num_heads}')
        self.num_heads = num_heads
        self.norm_q = nn.LayerNorm(embed_dims)
        self.norm_kv = nn.LayerNorm(embed_dims) if cross else None
        self.q = nn.Linear(embed_dims, embed_dims, bias=qkv_bias)
        self.kv = nn.Linear(embed_dims, 2 * embed_dims, bias=qkv_bias)
        self.proj = nn.Linear(embed_dims, embed_dims)
        self.norm2 = nn.LayerNorm(embed_dims)
        self.mlp = Mlp(embed_dims, int(embed_dims * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: Tensor, context: Optional[Tensor] = None,
                key_mask: Optional[Tensor] = None) -> Tensor:
        """``x`` ``(B, N, D)``; ``context`` ``(B, S, D)``; ``key_mask`` ``(B, S)`` True = key."""
        b, n, d = x.shape
        h = self.num_heads
        y = self.norm_q(x)
        c = y if context is None else self.norm_kv(context)
        q = self.q(y).view(b, n, h, d // h).transpose(1, 2)
        k, v = self.kv(c).view(b, c.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
        mask = None if key_mask is None else key_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + self.drop_path(self.proj(out.transpose(1, 2).reshape(b, n, d)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


@MODELS.register_module()
class PerceiverIO(DeclaredModalities, BaseModule):
    """PerceiverIO-style incomplete-multimodal baseline with a local 3-D-conv module.

    Takes the same input (``(B, C, H, W)``, declared channel order, NaN = missing)
    and gives the same output as :class:`FusionViT`, so it drops into the same
    Mask2Former configs; ``img_size``, ``depth``, ``out_indices`` and
    ``drop_path_rate`` mean what the CPU preset expects.

    Args:
        modality_specs: declared modality specs, in the input's channel order.
        img_size: training image size (only checked; any size divisible by
            ``patch_size`` works, nothing is learned per location).
        patch_size: patch size = output stride.
        embed_dims, num_heads, mlp_ratio: transformer sizes (default ViT-T-like).
        num_latents: size of the latent array.
        depth: number of latent self-attention blocks.
        out_indices: latent blocks after which a dense map is decoded.
        min_valid_fraction: a patch token exists when at least this fraction of
            its pixels are valid.
        local_dilations: spatial dilations of the 3-D convolutions (empty: no
            local module).
        query_local_features: add each location's mean present local token to its
            decoder query (a local path around the latent bottleneck); off = pure
            position queries.
        patch_keep_ratio, dirichlet_alpha: PatchDropout in training (as FusionViT).
        categorical_embed_dims: per-pixel embedding width of categorical inputs.
        drop_path_rate: stochastic depth, linearly increasing over latent blocks.
        qkv_bias: bias in the attention projections.
        init_cfg: mmengine init config (``Pretrained`` with ``prefix='backbone.'``).
    """

    def __init__(self,
                 modality_specs: Sequence[Union[Mapping, object]],
                 img_size: Size2 = 256,
                 patch_size: int = 16,
                 embed_dims: int = 192,
                 num_heads: int = 3,
                 mlp_ratio: float = 4.0,
                 num_latents: int = 128,
                 depth: int = 12,
                 out_indices: Sequence[int] = (2, 5, 8, 11),
                 min_valid_fraction: float = 0.5,
                 local_dilations: Sequence[int] = (1, 2),
                 query_local_features: bool = True,
                 patch_keep_ratio: float = 1.0,
                 dirichlet_alpha: float = 1.0,
                 categorical_embed_dims: int = 64,
                 drop_path_rate: float = 0.0,
                 qkv_bias: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.specs = self.declare(modality_specs)
        self.names = tuple(s.name for s in self.specs)
        self.slices = channel_slices(self.specs)
        self.in_channels = total_channels(self.specs)
        self.patch_size = int(patch_size)
        size = (img_size, img_size) if isinstance(img_size, int) else tuple(img_size)
        if any(int(s) % self.patch_size for s in size):
            raise ValueError(f'img_size {size} not divisible by patch_size {patch_size}')
        if not 0.0 < min_valid_fraction <= 1.0:
            raise ValueError(f'min_valid_fraction must be in (0, 1], got {min_valid_fraction}')
        if any(not -depth <= i < depth for i in out_indices) or not out_indices:
            raise ValueError(f'out_indices {tuple(out_indices)} out of range for depth {depth}')
        self.embed_dims, self.depth = embed_dims, depth
        self.min_valid_fraction = min_valid_fraction
        self.out_indices = tuple(sorted({i % depth for i in out_indices}))
        self.query_local_features = query_local_features

        self.patch_embeds = nn.ModuleDict({
            s.name: ModalityPatchEmbed(s, embed_dims, self.patch_size, categorical_embed_dims)
            for s in self.specs
        })
        self.modality_embed = nn.Parameter(torch.zeros(len(self.specs), embed_dims))
        self.local = LocalConv3d(embed_dims, dilations=local_dilations) if local_dilations else None
        self.patch_dropout = PatchDropout(patch_keep_ratio, dirichlet_alpha)
        self.null_key = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.latents = nn.Parameter(torch.zeros(1, num_latents, embed_dims))
        self.encoder = AttentionBlock(embed_dims, num_heads, mlp_ratio, 0.0, qkv_bias, cross=True)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.blocks = nn.ModuleList([
            AttentionBlock(embed_dims, num_heads, mlp_ratio, rates[i], qkv_bias)
            for i in range(depth)
        ])
        self.output_query = nn.Parameter(torch.zeros(1, 1, embed_dims))
        self.decoders = nn.ModuleList([
            AttentionBlock(embed_dims, num_heads, mlp_ratio, 0.0, qkv_bias, cross=True)
            for _ in self.out_indices
        ])
        self.norms = nn.ModuleList([nn.LayerNorm(embed_dims) for _ in self.out_indices])

    def init_weights(self) -> None:
        """ViT-like init (trunc-normal linears and learned tokens), then ``init_cfg``."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for embed in self.patch_embeds.values():
            nn.init.xavier_uniform_(embed.proj.weight.view(embed.proj.weight.shape[0], -1))
            nn.init.zeros_(embed.proj.bias)
            if embed.class_embed is not None:
                nn.init.normal_(embed.class_embed.weight, std=0.02)
        for param in (self.modality_embed, self.null_key, self.latents, self.output_query):
            trunc_normal_(param, std=0.02)
        super().init_weights()

    # ----------------------------------------------------------- availability
    def _check_inputs(self, inputs: Tensor) -> Tuple[int, int]:
        if inputs.dim() != 4 or inputs.shape[1] != self.in_channels:
            raise ValueError(f'PerceiverIO expects (B, {self.in_channels}, H, W) with the '
                             f'channels of {list(self.names)} concatenated, got '
                             f'{tuple(inputs.shape)}')
        h, w = inputs.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f'input size {(h, w)} not divisible by patch_size {self.patch_size}')
        return h // self.patch_size, w // self.patch_size

    def availability(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Per modality ``(B, L)`` bool: enough finite pixels in the patch (NaN rule)."""
        self._check_inputs(inputs)
        return {
            s.name: patch_availability(valid_pixels(inputs[:, self.slices[s.name]], s),
                                       self.patch_size, self.min_valid_fraction)
            for s in self.specs
        }

    # ---------------------------------------------------------------- forward
    def _tokens(self, inputs: Tensor, visible: Optional[Dict[str, Tensor]]):
        """Local-enriched tokens ``(B, M, L, D)`` (zero where absent), availability, grid."""
        grid = self._check_inputs(inputs)
        unknown = set(visible or {}) - set(self.names)
        if unknown:
            raise ValueError(f'visible has unknown modalities {sorted(unknown)}; '
                             f'declared: {list(self.names)}')
        b, l = inputs.shape[0], grid[0] * grid[1]
        dtype = self.latents.dtype
        valid = {s.name: valid_pixels(inputs[:, self.slices[s.name]], s) for s in self.specs}
        available = []
        for name in self.names:
            avail = patch_availability(valid[name], self.patch_size, self.min_valid_fraction)
            if visible is not None and name in visible:
                avail = avail & visible[name].to(device=avail.device, dtype=torch.bool)
            available.append(avail)
        available = self.patch_dropout(torch.stack(available, 1))  # (B, M, L)
        pos = sincos_2d_position_embedding(grid, self.embed_dims, device=inputs.device,
                                           dtype=dtype)
        blocks = []
        for i, name in enumerate(self.names):
            if bool(available[:, i].any()):
                x = inputs[:, self.slices[name]].to(dtype)
                blocks.append(self.patch_embeds[name](x, valid[name]) + pos
                              + self.modality_embed[i])
            else:  # absent from the whole batch: not embedded
                blocks.append(inputs.new_zeros(b, l, self.embed_dims, dtype=dtype))
        tokens = torch.stack(blocks, 1).masked_fill(~available[..., None], 0.0)
        if self.local is not None:
            tokens = tokens + self.local(tokens, available, grid)
        return tokens, available, pos, grid

    def forward_maps(self, inputs: Tensor,
                     visible: Optional[Dict[str, Tensor]] = None) -> Tuple[Tensor, ...]:
        """Dense maps ``(B, D, H/p, W/p)`` after each block in ``out_indices``.

        Args:
            inputs: ``(B, C, H, W)`` image, NaN = missing.
            visible: optional per-modality ``(B, L)`` bool masks ANDed into the
                NaN-derived availability.
        """
        tokens, available, pos, grid = self._tokens(inputs, visible)
        b, m, l, d = tokens.shape
        context = torch.cat([self.null_key.expand(b, -1, -1), tokens.flatten(1, 2)], 1)
        key_mask = torch.cat([available.new_ones(b, 1), available.flatten(1)], 1)
        latents = self.encoder(self.latents.expand(b, -1, -1), context, key_mask)

        queries = self.output_query + pos
        if self.query_local_features:
            count = available.sum(1, keepdim=True).clamp(min=1).transpose(1, 2)  # (B, L, 1)
            queries = queries + tokens.sum(1) / count.to(tokens.dtype)
        else:
            queries = queries.expand(b, -1, -1)
        maps = []
        for i, block in enumerate(self.blocks[:max(self.out_indices) + 1]):
            latents = block(latents)
            if i in self.out_indices:
                k = len(maps)
                out = self.norms[k](self.decoders[k](queries, latents))
                maps.append(out.transpose(1, 2).reshape(b, d, *grid))
        return tuple(maps)

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Dense maps ``(B, D, H/p, W/p)``, one per ``out_indices`` (availability from NaN)."""
        return self.forward_maps(inputs)
