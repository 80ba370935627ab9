"""Backbones."""
from .fill_in import FillInBackbone
from .fusion_vit import FusionViT, FusionViTOutput
from .perceiver_io import PerceiverIO

__all__ = ['FillInBackbone', 'FusionViT', 'FusionViTOutput', 'PerceiverIO']
