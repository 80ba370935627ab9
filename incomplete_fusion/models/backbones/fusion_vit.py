"""FusionViT: a ViT over per-modality tokens plus one fusion token per location.

Per layer, the fusion token at each location first gathers from the present
modality tokens there (modality attention), then all tokens run a self-attention
in which a modality token sees only its own modality and fusion tokens see
everything (masked attention), then an MLP. Dense outputs are the fusion tokens
of the tapped layers as stride-``patch_size`` maps.

Missing data: a modality's patch token exists when enough of its pixels are
finite (NaN = missing). Absent tokens are never keys, so they influence nothing;
a modality absent for the whole batch is not computed at all, so inference with
fewer modalities costs less.
"""
from dataclasses import dataclass
from typing import Dict, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from mmengine.model.weight_init import trunc_normal_
from torch import Tensor, nn

from incomplete_fusion.registry import MODELS

from ..layers.attention import MASKED_ATTENTION_IMPLS, AttentionMasks
from ..layers.fusion_init import FUSION_INITS, initial_fusion_tokens, resize_token_grid
from ..layers.fusion_layer import FusionLayer
from ..layers.patch_embed import ModalityPatchEmbed, PatchDropout, sincos_2d_position_embedding
from .patch_inputs import PatchTokenInputs, Size2, checked_out_indices

__all__ = ['FusionViT', 'FusionViTOutput']

@dataclass
class FusionViTOutput:
    """Final tokens of :meth:`FusionViT.forward_tokens`.

    Attributes:
        modality_tokens: per declared modality ``(B, L, D)``, final-normed, zero
            where the token is absent (and all zero for a modality absent from
            the whole batch, which was not computed).
        fusion_tokens: ``(B, L, D)`` final-normed fusion tokens.
        available: per declared modality ``(B, L)`` bool: NaN rule AND
            ``visible`` AND PatchDropout.
        grid_size: ``(h, w)`` patch grid; ``L = h * w``, row-major.
    """

    modality_tokens: Dict[str, Tensor]
    fusion_tokens: Tensor
    available: Dict[str, Tensor]
    grid_size: Tuple[int, int]


class _Encoded(NamedTuple):
    tokens: Tensor  # (B, K, L, D), computed modality blocks then fusion
    token_available: Tensor  # (B, K, L) bool
    available: Dict[str, Tensor]  # per declared modality, (B, L) bool
    computed: List[str]  # names of the computed modality blocks, in order
    grid: Tuple[int, int]
    taps: List[Tensor]  # normed fusion maps (B, D, h, w) of the out_indices layers


@MODELS.register_module()
class FusionViT(PatchTokenInputs, BaseModule):
    """Incomplete-multimodal ViT with fusion tokens (Chen, Zhao & Bruzzone, 2024).

    Needs no active set (absence is read from NaN); when a run binds its
    modalities, the declaration is checked against ``modality_specs`` so a config
    whose model and top-level declaration disagree fails before training.

    Args:
        modality_specs: declared modality specs (dicts or ``ModalitySpec``), in the
            channel order of the input tensor.
        img_size: training image size; sets the learned fusion-token grid (other
            sizes divisible by ``patch_size`` work, the grid is interpolated).
        patch_size: patch size = output stride.
        embed_dims, depth, num_heads, mlp_ratio: ViT sizes (default ViT-T).
        out_indices: layers whose fusion tokens :meth:`forward` returns.
        min_valid_fraction: a patch token exists when at least this fraction of
            its pixels are valid.
        masked_attention: modality tokens see only their own modality (off:
            plain attention over all tokens).
        modality_attention: per-location modality attention in every layer.
            Both switches off is the MultiViT baseline.
        fusion_init: ``'learned'`` or ``'modality_mean'`` (also add the mean of
            the present modality embeddings at each location: a local path at
            init for variants without modality attention; see ``fusion_init.py``).
        attention_impl: the masked attention's computation: ``'block_sparse'``
            (fastest on CPU), ``'dense'`` (oracle), ``'flex'`` (FlexAttention) or
            ``'auto'`` (on CUDA the faster of block_sparse and flex, measured).
        patch_keep_ratio: PatchDropout keep ratio in training (1.0 = off).
        dirichlet_alpha: PatchDropout's per-modality share concentration.
        categorical_embed_dims: per-pixel embedding width of categorical inputs.
        drop_path_rate: stochastic depth, linearly increasing over layers.
        final_norm: LayerNorm on every output (taps and final tokens).
        qkv_bias: bias in the attention projections.
        init_cfg: mmengine init config, e.g. ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``; ``None`` = ViT init.
    """

    def __init__(self,
                 modality_specs: Sequence[Union[Mapping, object]],
                 img_size: Size2 = 256,
                 patch_size: int = 16,
                 embed_dims: int = 192,
                 depth: int = 12,
                 num_heads: int = 3,
                 mlp_ratio: float = 4.0,
                 out_indices: Sequence[int] = (2, 5, 8, 11),
                 min_valid_fraction: float = 0.5,
                 masked_attention: bool = True,
                 modality_attention: bool = True,
                 fusion_init: str = 'learned',
                 attention_impl: str = 'block_sparse',
                 patch_keep_ratio: float = 1.0,
                 dirichlet_alpha: float = 1.0,
                 categorical_embed_dims: int = 64,
                 drop_path_rate: float = 0.0,
                 final_norm: bool = True,
                 qkv_bias: bool = True,
                 init_cfg: Optional[Union[dict, List[dict]]] = None):
        super().__init__(init_cfg=init_cfg)
        self.declare_inputs(modality_specs, img_size, patch_size, min_valid_fraction)
        self.embed_dims, self.depth = embed_dims, depth
        if attention_impl not in MASKED_ATTENTION_IMPLS:
            raise ValueError(f'attention_impl must be one of {MASKED_ATTENTION_IMPLS}, '
                             f'got {attention_impl!r}')
        if fusion_init not in FUSION_INITS:
            raise ValueError(f'fusion_init must be one of {FUSION_INITS}, got {fusion_init!r}')
        self.masked_attention, self.fusion_init = masked_attention, fusion_init
        self.modality_attention = modality_attention
        self.attention_impl = attention_impl if masked_attention else 'plain'
        self.out_indices = checked_out_indices(out_indices, depth)

        self.patch_embeds = nn.ModuleDict({
            s.name: ModalityPatchEmbed(s, embed_dims, self.patch_size, categorical_embed_dims)
            for s in self.specs
        })
        # one learned token per location, stored as a grid so that loading at
        # another image size knows what to interpolate
        self.fusion_tokens = nn.Parameter(torch.zeros(1, *self.grid_size, embed_dims))
        self.patch_dropout = PatchDropout(patch_keep_ratio, dirichlet_alpha)
        rates = torch.linspace(0, drop_path_rate, depth).tolist()
        self.layers = nn.ModuleList([
            FusionLayer(embed_dims, num_heads, mlp_ratio, self.attention_impl,
                        modality_attention, rates[i], qkv_bias) for i in range(depth)
        ])
        self.norm = nn.LayerNorm(embed_dims) if final_norm else nn.Identity()

    # ------------------------------------------------------------------ init
    def init_weights(self) -> None:
        """ViT init (trunc-normal linears, MAE-style patch convs), then ``init_cfg``.

        The ViT init always runs first, so that weights a pretrained checkpoint
        lacks (e.g. the patch embedding of a new modality) are still sensibly
        initialised; mmengine then applies ``init_cfg`` (``Pretrained`` last).
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        for embed in self.patch_embeds.values():
            nn.init.xavier_uniform_(embed.proj.weight.view(embed.proj.weight.shape[0], -1))
            nn.init.zeros_(embed.proj.bias)
            if embed.class_embed is not None:
                nn.init.normal_(embed.class_embed.weight, std=0.02)
        trunc_normal_(self.fusion_tokens, std=0.02)
        super().init_weights()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Interpolate a fusion-token grid learned at another image size."""
        key = prefix + 'fusion_tokens'
        if key in state_dict and state_dict[key].shape != self.fusion_tokens.shape:
            old = state_dict[key]
            if old.dim() != 4 or old.shape[-1] != self.embed_dims:
                raise ValueError(f'cannot load {key} of shape {tuple(old.shape)} into '
                                 f'{tuple(self.fusion_tokens.shape)}')
            state_dict[key] = resize_token_grid(old, self.grid_size).to(old.dtype)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    # ---------------------------------------------------------------- forward
    def _encode(self, inputs: Tensor, visible: Optional[Dict[str, Tensor]], num_layers: int,
                fusion_only_last: bool = False) -> '_Encoded':
        """Run the first ``num_layers`` layers (the last one for fusion tokens
        only if ``fusion_only_last``, whose returned ``tokens`` are then stale)."""
        grid = self._check_inputs(inputs)
        b = inputs.shape[0]
        valid = self._valid_pixels(inputs)
        available = self._available(valid, visible)
        if self.patch_dropout.training and self.patch_dropout.keep_ratio < 1.0:
            kept = self.patch_dropout(torch.stack([available[n] for n in self.names], 1))
            available = {n: kept[:, i] for i, n in enumerate(self.names)}

        # modalities absent from the whole batch are not computed at all
        computed = [n for n in self.names if bool(available[n].any())]
        dtype = self.fusion_tokens.dtype
        pos = sincos_2d_position_embedding(grid, self.embed_dims, device=inputs.device,
                                           dtype=dtype)
        embeds = [self.patch_embeds[n](inputs[:, self.slices[n]].to(dtype), valid[n])
                  for n in computed]
        embeds = torch.stack(embeds, 1) if embeds else pos.new_zeros(b, 0, *pos.shape)
        all_present = available[self.names[0]].new_ones(b, grid[0] * grid[1])
        token_available = torch.stack([available[n] for n in computed] + [all_present], 1)
        fusion = initial_fusion_tokens(resize_token_grid(self.fusion_tokens, grid), pos, embeds,
                                       token_available[:, :-1], self.fusion_init)
        x = torch.cat([embeds + pos, fusion[:, None]], 1)
        masks = AttentionMasks.from_available(token_available)

        taps = []
        for i, layer in enumerate(self.layers[:num_layers]):
            if fusion_only_last and i == num_layers - 1:
                fusion = layer.forward_fusion(x, masks)  # nothing reads its modality tokens
            else:
                x = layer(x, masks)
                fusion = x[:, -1]
            if i in self.out_indices:
                taps.append(self.norm(fusion).transpose(1, 2).reshape(b, -1, *grid))
        return _Encoded(x, token_available, available, computed, grid, taps)

    def forward(self, inputs: Tensor) -> Tuple[Tensor, ...]:
        """Fusion-token maps ``(B, D, H/p, W/p)`` after each layer in ``out_indices``."""
        encoded = self._encode(inputs, None, max(self.out_indices) + 1, fusion_only_last=True)
        return tuple(encoded.taps)

    def forward_tokens(self, inputs: Tensor,
                       visible: Optional[Dict[str, Tensor]] = None) -> FusionViTOutput:
        """Final tokens of every modality and of fusion, plus the availability.

        Args:
            inputs: ``(B, C, H, W)`` image, NaN = missing.
            visible: optional per-modality ``(B, L)`` bool masks ANDed into the
                availability (e.g. the visible tokens of masked pretraining).
        """
        encoded = self._encode(inputs, visible, self.depth)
        x = self.norm(encoded.tokens)
        x = x * encoded.token_available[..., None].to(x.dtype)  # absent tokens read as zero
        computed = {n: x[:, i] for i, n in enumerate(encoded.computed)}
        modality_tokens = {
            n: computed[n] if n in computed else x.new_zeros(x.shape[0], x.shape[2], x.shape[3])
            for n in self.names
        }
        return FusionViTOutput(modality_tokens, x[:, -1], encoded.available, encoded.grid)
