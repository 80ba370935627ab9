"""Necks."""
from .pyramid_neck import FusionPyramidNeck

__all__ = ['FusionPyramidNeck']
