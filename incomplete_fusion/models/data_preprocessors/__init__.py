"""Data preprocessors: batch padding with NaN (padding means missing)."""
from .multimodal import MultimodalDetDataPreprocessor, MultimodalSegDataPreprocessor

__all__ = ['MultimodalDetDataPreprocessor', 'MultimodalSegDataPreprocessor']
