"""Pipeline transforms for N-channel, NaN-aware multimodal images."""
from ..normalization import NORM_PRESETS, normalize, resolve_norm, tile_zscore
from .annotations import LoadLabelRaster
from .geometric import MultimodalDetResize, MultimodalResize
from .loading import LoadMultimodalImages, SelectModalities

__all__ = [
    'LoadMultimodalImages', 'SelectModalities', 'LoadLabelRaster', 'MultimodalResize',
    'MultimodalDetResize', 'NORM_PRESETS', 'normalize', 'resolve_norm', 'tile_zscore'
]
