"""Building blocks of FusionViT: patch embedding, attention rules, layers."""
from .attention import (ATTENTION_IMPLS, AttentionMasks, MaskedSelfAttention,
                        block_sparse_masked_attention, dense_masked_attention, plain_attention)
from .fusion_layer import FusionLayer
from .local_conv3d import LocalConv3d
from .mlp import Mlp
from .modality_attention import ModalityAttention
from .norm import LayerNorm2d
from .patch_embed import (ModalityPatchEmbed, PatchDropout, patch_availability,
                          sincos_2d_position_embedding, valid_pixels)
from .token_budget import allocate_counts, budget_of, dirichlet_shares, keep_token_budget

__all__ = [
    'ATTENTION_IMPLS', 'AttentionMasks', 'MaskedSelfAttention', 'block_sparse_masked_attention',
    'dense_masked_attention', 'plain_attention', 'FusionLayer', 'Mlp', 'ModalityAttention',
    'LayerNorm2d', 'ModalityPatchEmbed', 'PatchDropout', 'patch_availability',
    'sincos_2d_position_embedding', 'valid_pixels', 'allocate_counts', 'budget_of',
    'dirichlet_shares', 'keep_token_budget', 'LocalConv3d'
]
