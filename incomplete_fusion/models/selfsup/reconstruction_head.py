"""Per-modality shallow decoders that reconstruct every modality from fusion tokens."""
from typing import Dict, Mapping, Optional, Sequence, Tuple

import torch
from einops import rearrange
from mmengine.model import BaseModule, ModuleDict
from mmpretrain.models.backbones.vision_transformer import TransformerEncoderLayer
from torch import Tensor, nn

from incomplete_fusion.modalities import ModalitySpec, channel_slices
from incomplete_fusion.registry import MODELS
from ..layers.patch_embed import sincos_2d_position_embedding
from incomplete_fusion.binding import DeclaredModalities
from .losses import RECONSTRUCTION_LOSSES, masked_reconstruction_loss

HEIGHT_NAMES = ('dsm', 'dem', 'height', 'ndsm', 'elevation')


def default_loss_type(spec: ModalitySpec) -> str:
    """The paper's choice: cross-entropy for categorical maps, L1 for height, L2 otherwise."""
    if spec.is_categorical:
        return 'ce'
    if spec.name.lower() in HEIGHT_NAMES:
        return 'l1'
    return 'l2'


def patchify(images: Tensor, patch_size: int) -> Tensor:
    """(B, C, H, W) -> (B, L, p*p*C), patches in row-major order, pixel-major inside."""
    return rearrange(images, 'b c (h p) (w q) -> b (h w) (p q c)', p=patch_size, q=patch_size)


def unpatchify(patches: Tensor, patch_size: int, grid_size: Tuple[int, int],
               channels: int) -> Tensor:
    """Inverse of :func:`patchify`: (B, L, p*p*C) -> (B, C, H, W)."""
    return rearrange(patches, 'b (h w) (p q c) -> b c (h p) (w q)', h=grid_size[0],
                     w=grid_size[1], p=patch_size, q=patch_size, c=channels)


class ModalityDecoder(BaseModule):
    """Linear D -> decoder dims, learned task embedding and fixed 2-D sin-cos position
    embedding, a few transformer blocks, linear to the pixels of one patch."""

    def __init__(self, in_dims: int, out_dims: int, dims: int = 256, depth: int = 2,
                 num_heads: int = 8, mlp_ratio: float = 4.0, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.dims = dims
        self.embed = nn.Linear(in_dims, dims)
        self.task_embed = nn.Parameter(torch.zeros(1, 1, dims))
        self.blocks = nn.ModuleList(
            TransformerEncoderLayer(embed_dims=dims, num_heads=num_heads,
                                    feedforward_channels=int(dims * mlp_ratio))
            for _ in range(depth))
        self.norm = nn.LayerNorm(dims)
        self.pred = nn.Linear(dims, out_dims)

    def init_weights(self):
        """MAE decoder init: xavier-uniform linears, zero biases (the blocks' own init
        runs first), small random task embedding."""
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        nn.init.trunc_normal_(self.task_embed, std=0.02)

    def forward(self, tokens: Tensor, grid_size: Tuple[int, int]) -> Tensor:
        x = self.embed(tokens)
        pos = sincos_2d_position_embedding(tuple(grid_size), self.dims, device=x.device,
                                           dtype=x.dtype)
        x = x + self.task_embed + pos
        for block in self.blocks:
            x = block(x)
        return self.pred(self.norm(x))


@MODELS.register_module()
class MultiModalReconstructionHead(DeclaredModalities, BaseModule):
    """One :class:`ModalityDecoder` per modality, fed with the fusion tokens.

    Args:
        modality_specs: the declared modality specs (config ``modality_specs``).
        patch_size: backbone patch size.
        in_dims: fusion-token dimension of the backbone.
        decoder_dims / decoder_depth / decoder_heads / mlp_ratio: decoder shape
            (paper: 256, 2, 8, 4).
        losses: per-modality ``dict(type='l2'|'l1'|'ce', weight=float)``; missing
            entries default to :func:`default_loss_type` with weight 1.
        reconstruct: names to decode; default all declared modalities.
    """

    def __init__(self, modality_specs: Sequence[Mapping], patch_size: int = 16,
                 in_dims: int = 192, decoder_dims: int = 256, decoder_depth: int = 2,
                 decoder_heads: int = 8, mlp_ratio: float = 4.0,
                 losses: Optional[Mapping[str, Mapping]] = None,
                 reconstruct: Optional[Sequence[str]] = None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.specs = {s.name: s for s in self.declare(modality_specs)}
        self.slices = channel_slices(list(self.specs.values()))
        self.patch_size = patch_size
        names = list(self.specs) if reconstruct is None else list(reconstruct)
        unknown = [n for n in names if n not in self.specs]
        losses = dict(losses or {})
        unknown += [n for n in losses if n not in self.specs]
        if unknown:
            raise ValueError(f'unknown modality name(s) {unknown}; declared: {list(self.specs)}')
        self.loss_cfg = {}
        for name in names:
            cfg = dict(losses.get(name, {}))
            loss_type = cfg.pop('type', default_loss_type(self.specs[name]))
            weight = float(cfg.pop('weight', 1.0))
            if cfg:
                raise ValueError(f'unexpected loss options for {name!r}: {sorted(cfg)}')
            if loss_type not in RECONSTRUCTION_LOSSES:
                raise ValueError(f'{name!r}: loss type must be one of {RECONSTRUCTION_LOSSES}')
            if (loss_type == 'ce') != self.specs[name].is_categorical:
                raise ValueError(f'{name!r}: cross-entropy is for categorical modalities only '
                                 f'and they need it, got {loss_type!r}')
            self.loss_cfg[name] = (loss_type, weight)
        self.decoders = ModuleDict({
            name: ModalityDecoder(in_dims, self.out_channels(name), decoder_dims, decoder_depth,
                                  decoder_heads, mlp_ratio)
            for name in names
        })

    def out_channels(self, name: str) -> int:
        spec = self.specs[name]
        per_pixel = spec.num_classes if spec.is_categorical else spec.channels
        return self.patch_size**2 * per_pixel

    @property
    def names(self):
        return list(self.decoders.keys())

    def forward(self, fusion_tokens: Tensor, grid_size: Tuple[int, int]) -> Dict[str, Tensor]:
        """Patch predictions per modality: (B, L, p*p*C), or (B, L, p*p, K) logits."""
        preds = {}
        for name, decoder in self.decoders.items():
            out = decoder(fusion_tokens, grid_size)
            spec = self.specs[name]
            if spec.is_categorical:
                out = out.reshape(*out.shape[:2], self.patch_size**2, spec.num_classes)
            preds[name] = out
        return preds

    def targets(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Patchified targets per modality, NaN where pixels have no data."""
        targets = {}
        for name in self.names:
            patches = patchify(inputs[:, self.slices[name]], self.patch_size)
            targets[name] = patches  # categorical: (B, L, p*p) class indices
        return targets

    def loss(self, preds: Mapping[str, Tensor], inputs: Tensor,
             masked: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """Weighted loss per modality on the ``masked`` patches (masked AND available).

        Keys are ``loss_rec_<name>`` so that mmengine logs them and sums them.
        """
        targets = self.targets(inputs)
        losses = {}
        for name in self.names:
            loss_type, weight = self.loss_cfg[name]
            loss = masked_reconstruction_loss(preds[name], targets[name], masked[name], loss_type)
            losses[f'loss_rec_{name}'] = loss * weight
        return losses

    def to_images(self, preds: Mapping[str, Tensor], grid_size: Tuple[int, int]
                  ) -> Dict[str, Tensor]:
        """Patch predictions -> images (B, C, H, W); categorical: class probabilities
        (B, K, H, W)."""
        images = {}
        for name, pred in preds.items():
            spec = self.specs[name]
            if spec.is_categorical:
                pred = pred.softmax(dim=-1).flatten(2)
                images[name] = unpatchify(pred, self.patch_size, grid_size, spec.num_classes)
            else:
                images[name] = unpatchify(pred, self.patch_size, grid_size, spec.channels)
        return images
