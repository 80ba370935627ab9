"""Backbones."""
from .fusion_vit import FusionViT, FusionViTOutput

__all__ = ['FusionViT', 'FusionViTOutput']
