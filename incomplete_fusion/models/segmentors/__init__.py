"""Segmentors."""
from .encoder_decoder import FusionEncoderDecoder

__all__ = ['FusionEncoderDecoder']
