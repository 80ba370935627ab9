"""Self-supervised pretraining: multimodal masking, reconstruction and contrastive heads."""
from .contrastive_head import CrossAttentionPool, CrossModalContrastiveHead
from .losses import dino_cross_entropy, info_nce, masked_reconstruction_loss
from .masking import MultiModalMaskGenerator
from .multimae import MultiMAE
from .reconstruction_head import (ModalityDecoder, MultiModalReconstructionHead, patchify,
                                  unpatchify)

__all__ = [
    'CrossAttentionPool', 'CrossModalContrastiveHead',
    'MultiModalMaskGenerator', 'MultiMAE', 'ModalityDecoder', 'MultiModalReconstructionHead',
    'dino_cross_entropy', 'info_nce', 'masked_reconstruction_loss', 'patchify', 'unpatchify'
]
