"""Multimodal masked autoencoding (+ optional cross-modal contrast) around FusionViT."""
from typing import Dict, List, Optional, Sequence, Union

import torch
from mmpretrain.models.selfsup.base import BaseSelfSupervisor
from torch import Tensor

from incomplete_fusion.registry import MODELS


def as_batch(inputs: Union[Tensor, Sequence[Tensor]]) -> Tensor:
    """The one (B, C, H, W) tensor from a data preprocessor's output.

    mmpretrain's ``SelfSupDataPreprocessor`` returns a list of views; this
    algorithm uses a single view.
    """
    if isinstance(inputs, Tensor):
        return inputs
    inputs = list(inputs)
    if len(inputs) == 1 and inputs[0].dim() == 4:
        return inputs[0]
    if all(t.dim() == 3 for t in inputs):
        return torch.stack(inputs)
    raise ValueError('expected one batch tensor (B, C, H, W) or a list of (C, H, W) images, '
                     f'got {len(inputs)} tensors of shapes {[tuple(t.shape) for t in inputs]}')


@MODELS.register_module()
class MultiMAE(BaseSelfSupervisor):
    """MultiMAE-style pretraining of :class:`FusionViT` on incomplete multimodal data.

    Per step: the mask generator picks the visible tokens among the available
    ones; the backbone encodes only those; each modality's decoder reconstructs
    every patch from the fusion tokens; the loss counts the masked, available
    patches. With ``contrastive_head`` the modality and fusion vectors of a
    sample are also contrasted.

    Args:
        backbone: a ``FusionViT`` config (``patch_keep_ratio=1.0``: the masking
            replaces patch dropout).
        head: a ``MultiModalReconstructionHead`` config.
        contrastive_head: optional ``CrossModalContrastiveHead`` config.
        mask_generator: ``MultiModalMaskGenerator`` config.
        mask_seed: seed of a private generator for the masks; ``None`` uses
            torch's global RNG (seeded by mmengine's ``randomness``).
        data_preprocessor: default ``SelfSupDataPreprocessor`` without
            normalisation (the loading transform normalises; NaN passes through).
    """

    def __init__(self,
                 backbone: dict,
                 head: dict,
                 contrastive_head: Optional[dict] = None,
                 mask_generator: Optional[dict] = None,
                 mask_seed: Optional[int] = None,
                 data_preprocessor: Optional[dict] = None,
                 init_cfg: Optional[dict] = None):
        super().__init__(backbone=backbone, head=head,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.contrastive_head = (MODELS.build(contrastive_head)
                                 if isinstance(contrastive_head, dict) else contrastive_head)
        mask_generator = mask_generator or dict(type='MultiModalMaskGenerator')
        self.mask_generator = (MODELS.build(mask_generator)
                               if isinstance(mask_generator, dict) else mask_generator)
        self.mask_generator_rng = None
        if mask_seed is not None:
            self.mask_generator_rng = torch.Generator().manual_seed(int(mask_seed))

    @property
    def with_contrastive_head(self) -> bool:
        return self.contrastive_head is not None

    def extract_feat(self, inputs) -> tuple:
        """The backbone's fusion-token maps, as a downstream model sees them."""
        return self.backbone(as_batch(inputs))

    def loss(self, inputs, data_samples: Optional[List] = None,
             visible: Optional[Dict[str, Tensor]] = None, **kwargs) -> Dict[str, Tensor]:
        """Reconstruction losses ``loss_rec_<name>`` (+ ``loss_contrast``).

        ``visible`` overrides the drawn mask (tests, analysis)."""
        inputs = as_batch(inputs)
        available = self.backbone.availability(inputs)
        if visible is None:
            visible = self.mask_generator(available, generator=self.mask_generator_rng)
        out = self.backbone.forward_tokens(inputs, visible=visible)
        preds = self.head(out.fusion_tokens, out.grid_size)
        # a modality without an entry in `visible` is fully visible (as for the backbone)
        masked = {name: available[name] & ~visible[name].to(available[name].device)
                  if name in visible else torch.zeros_like(available[name])
                  for name in available}
        losses = self.head.loss(preds, inputs, masked)
        if self.with_contrastive_head:
            losses.update(self.contrastive_head.loss(out.modality_tokens, out.fusion_tokens,
                                                     out.available))
        return losses

    @torch.no_grad()
    def reconstruct(self, inputs, visible: Optional[Dict[str, Tensor]] = None
                    ) -> Dict[str, Tensor]:
        """Every modality decoded from the fusion tokens of the given inputs.

        Returns ``{name: (B, C, H, W)}`` in the loading transform's normalised
        units; categorical modalities as class probabilities (B, K, H, W).
        ``visible=None`` encodes every available token (no masking).
        """
        inputs = as_batch(inputs)
        out = self.backbone.forward_tokens(inputs, visible=visible)
        preds = self.head(out.fusion_tokens, out.grid_size)
        return self.head.to_images(preds, out.grid_size)

    def forward(self, inputs, data_samples=None, mode: str = 'tensor'):
        """``tensor``: backbone maps; ``loss``: losses; ``predict``: reconstructions."""
        if mode == 'predict':
            return self.reconstruct(inputs)
        return super().forward(inputs, data_samples, mode=mode)
