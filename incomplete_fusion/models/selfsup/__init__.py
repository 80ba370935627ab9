"""Self-supervised pretraining: multimodal masking, reconstruction and contrastive heads."""
from incomplete_fusion.utils.config import register_modality_consumer

from .contrastive_head import CrossAttentionPool, CrossModalContrastiveHead
from .losses import dino_cross_entropy, info_nce, masked_reconstruction_loss
from .masking import MultiModalMaskGenerator, allocate_counts
from .multimae import MultiMAE
from .reconstruction_head import (ModalityDecoder, MultiModalReconstructionHead, patchify,
                                  unpatchify)

# the heads take the declared specs like FusionViT: a changed `modality_specs`
# (e.g. via --cfg-options) reaches them too
register_modality_consumer('MultiModalReconstructionHead', None, 'modalities')
register_modality_consumer('CrossModalContrastiveHead', None, 'modalities')

__all__ = [
    'CrossAttentionPool', 'CrossModalContrastiveHead', 'MultiModalMaskGenerator', 'MultiMAE',
    'ModalityDecoder', 'MultiModalReconstructionHead', 'allocate_counts', 'dino_cross_entropy',
    'info_nce', 'masked_reconstruction_loss', 'patchify', 'unpatchify'
]
