"""Cross-modal contrastive head: each modality's vector against the fusion vector.

One learned return token per modality and one for fusion are pooled by a single
cross-attention layer: the modality-m token attends over m's own (visible)
tokens; the fusion token, for modality m, attends over the fusion tokens at m's
visible locations. The two vectors of the same sample are pulled together
(InfoNCE across the batch, paper eq. 5-6) or, in the negatives-free variant,
matched DINO-style.
"""
from typing import Dict, Mapping, Sequence

import torch
from mmengine.model import BaseModule
from torch import Tensor, nn

from incomplete_fusion.registry import MODELS
from incomplete_fusion.binding import DeclaredModalities
from .losses import dino_cross_entropy, info_nce

VARIANTS = ('infonce', 'dino')


class CrossAttentionPool(nn.Module):
    """A query token attends over a variable set of tokens (pre-norm, residual)."""

    def __init__(self, dims: int, num_heads: int):
        super().__init__()
        self.norm_q = nn.LayerNorm(dims)
        self.norm_kv = nn.LayerNorm(dims)
        self.attn = nn.MultiheadAttention(dims, num_heads, batch_first=True)
        self.norm_out = nn.LayerNorm(dims)

    def forward(self, query: Tensor, tokens: Tensor, keep: Tensor) -> Tensor:
        """query (B, D), tokens (B, L, D), keep BoolTensor(B, L) -> (B, D).

        Rows without any kept token would give NaN; they are pooled over all
        tokens instead and must be ignored by the caller.
        """
        empty = ~keep.any(dim=1, keepdim=True)
        pad = ~(keep | empty)
        q = self.norm_q(query)[:, None]
        kv = self.norm_kv(tokens)
        pooled, _ = self.attn(q, kv, kv, key_padding_mask=pad, need_weights=False)
        return self.norm_out(query + pooled[:, 0])


def projector(in_dims: int, hidden_dims: int, out_dims: int) -> nn.Module:
    return nn.Sequential(nn.Linear(in_dims, hidden_dims), nn.GELU(),
                         nn.Linear(hidden_dims, out_dims))


@MODELS.register_module()
class CrossModalContrastiveHead(DeclaredModalities, BaseModule):
    """Args:
        modality_specs: declared modality specs (config ``modality_specs``).
        in_dims: token dimension of the backbone.
        num_heads: heads of the cross-attention pooling layer.
        proj_dims / proj_hidden_dims: projection MLP applied to both vectors
            (DINO: the number of prototypes).
        variant: ``'infonce'`` (paper) or ``'dino'`` (negatives-free, research code).
        temperature: InfoNCE temperature; DINO student temperature.
        teacher_temperature / center_momentum: DINO only.
        loss_weight: multiplies the loss (research code: 0.3).
    """

    def __init__(self, modality_specs: Sequence[Mapping], in_dims: int = 192,
                 num_heads: int = 3, proj_dims: int = 128, proj_hidden_dims: int = 512,
                 variant: str = 'infonce', temperature: float = 0.1,
                 teacher_temperature: float = 0.04, center_momentum: float = 0.9,
                 loss_weight: float = 1.0, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if variant not in VARIANTS:
            raise ValueError(f'variant must be one of {VARIANTS}, got {variant!r}')
        self.names = [s.name for s in self.declare(modality_specs)]
        self.variant = variant
        self.temperature = temperature
        self.teacher_temperature = teacher_temperature
        self.center_momentum = center_momentum
        self.loss_weight = loss_weight
        self.modality_tokens = nn.ParameterDict(
            {n: nn.Parameter(torch.zeros(1, in_dims)) for n in self.names})
        self.fusion_token = nn.Parameter(torch.zeros(1, in_dims))
        self.pool = CrossAttentionPool(in_dims, num_heads)
        self.projector = projector(in_dims, proj_hidden_dims, proj_dims)
        if variant == 'dino':
            self.register_buffer('center', torch.zeros(1, proj_dims))

    def init_weights(self):
        super().init_weights()
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
        for token in [*self.modality_tokens.values(), self.fusion_token]:
            nn.init.trunc_normal_(token, std=0.02)

    def forward(self, modality_tokens: Mapping[str, Tensor], fusion_tokens: Tensor,
                available: Mapping[str, Tensor]) -> Dict[str, tuple]:
        """Per modality: (modality vector, fusion vector, valid samples)."""
        batch = fusion_tokens.shape[0]
        out = {}
        for name in self.names:
            if name not in modality_tokens:
                continue
            keep = available[name]
            z_mod = self.pool(self.modality_tokens[name].expand(batch, -1),
                              modality_tokens[name], keep)
            z_fus = self.pool(self.fusion_token.expand(batch, -1), fusion_tokens, keep)
            out[name] = (self.projector(z_mod), self.projector(z_fus), keep.any(dim=1))
        return out

    def loss(self, modality_tokens: Mapping[str, Tensor], fusion_tokens: Tensor,
             available: Mapping[str, Tensor]) -> Dict[str, Tensor]:
        """``loss_contrast``: mean over modalities present in at least two samples
        (InfoNCE) / one sample (DINO); samples lacking the modality are left out."""
        pairs = self(modality_tokens, fusion_tokens, available)
        terms, teacher_outputs = [], []
        for z_mod, z_fus, valid in pairs.values():
            min_count = 2 if self.variant == 'infonce' else 1
            if int(valid.sum()) < min_count:
                continue
            z_mod, z_fus = z_mod[valid], z_fus[valid]
            if self.variant == 'infonce':
                terms.append(info_nce(z_mod, z_fus, self.temperature))
            else:
                terms.append(0.5 * (
                    dino_cross_entropy(z_mod, z_fus, self.center, self.temperature,
                                       self.teacher_temperature) +
                    dino_cross_entropy(z_fus, z_mod, self.center, self.temperature,
                                       self.teacher_temperature)))
                teacher_outputs.append(torch.cat([z_mod, z_fus]).detach())
        if terms:
            loss = torch.stack(terms).mean()
        else:  # keep the graph connected so every parameter gets a (zero) gradient
            loss = sum(z.sum() + f.sum() for z, f, _ in pairs.values()) * 0.0
        if self.variant == 'dino' and self.training:
            # every rank updates (and all-reduces) every step, even with nothing to add
            self._update_center(torch.cat(teacher_outputs) if teacher_outputs else self.center)
        return dict(loss_contrast=loss * self.loss_weight)

    @torch.no_grad()
    def _update_center(self, outputs: Tensor):
        batch_center = outputs.mean(dim=0, keepdim=True)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(batch_center)
            batch_center /= torch.distributed.get_world_size()
        self.center.mul_(self.center_momentum).add_(batch_center * (1 - self.center_momentum))
