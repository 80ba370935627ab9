"""PerceiverIO-style baseline: a latent array reads every present token, dense queries read it.

Per-modality patch tokens get a local 3-D-convolution residual over the
modality-stacked token maps; ``num_latents`` learned latents cross-attend once to all
present tokens and run ``depth`` self-attention blocks; after each block in
``out_indices`` one query per patch location reads the latents into a
``(B, D, H/p, W/p)`` map, the interface of FusionViT. Guaranteed, with FusionViT's
NaN rule: absent tokens never reach the output (zeroed before the convolution, never
keys; a learned null key keeps the softmax finite), and a modality absent from the
whole batch is not embedded. See docs/advanced_guides/backbone.md#perceiverio-style-baseline.
"""
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from mmcv.cnn.bricks.drop import DropPath
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn
from torch.nn import functional as F

from incomplete_fusion.registry import MODELS

from ..layers.local_conv3d import LocalConv3d
from ..layers.mlp import Mlp
from ..layers.patch_embed import ModalityPatchEmbed, PatchDropout, sincos_2d_position_embedding
from .patch_inputs import PatchTokenInputs, Size2, checked_out_indices

__all__ = ['PerceiverIO']


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
class PerceiverIO(PatchTokenInputs, BaseModule):
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
        self.declare_inputs(modality_specs, img_size, patch_size, min_valid_fraction)
        self.embed_dims, self.depth = embed_dims, depth
        self.out_indices = checked_out_indices(out_indices, depth)
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

    # ---------------------------------------------------------------- forward
    def _tokens(self, inputs: Tensor, visible: Optional[Dict[str, Tensor]]):
        """Local-enriched tokens ``(B, M, L, D)`` (zero where absent), availability, grid."""
        grid = self._check_inputs(inputs)
        b, l = inputs.shape[0], grid[0] * grid[1]
        dtype = self.latents.dtype
        valid = self._valid_pixels(inputs)
        available = self._available(valid, visible)
        available = self.patch_dropout(torch.stack([available[n] for n in self.names], 1))
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
