"""Segmentors."""
from .encoder_decoder import FusionEncoderDecoder
from .self_distillation import SelfDistillEncoderDecoder, SelfDistillMask2Former

__all__ = ['FusionEncoderDecoder', 'SelfDistillEncoderDecoder', 'SelfDistillMask2Former']
