"""Backbones."""
from .fusion_vit import FusionViT, FusionViTOutput
from .perceiver_io import PerceiverIO

__all__ = ['FusionViT', 'FusionViTOutput', 'PerceiverIO']
