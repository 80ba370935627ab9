"""Datasets, transforms, GeoTIFF reading and normalisation (synthetic data: ``..testing``)."""
from . import transforms  # noqa: F401
from .dfc2023 import DFC2023BuildingSegDataset, DFC2023InstanceDataset
from .earthmiss import EarthMissDataset  # noqa: F401
from .geo_io import ChannelCountError, ModalityReadError, RasterGrid, read_modality
from .isprs import ISPRSPotsdamMultimodal, ISPRSVaihingenMultimodal  # noqa: F401
from .label_subset import LabelledSubset  # noqa: F401
from .modality_paths import DataNotFoundError, MissingModalityWarning, ModalityFolders
from .normalization import NORM_PRESETS, normalize, resolve_norm
from .oemsar import OEMSARDataset  # noqa: F401
from .quadruplet import QuadrupletLULCDataset

__all__ = [
    'DFC2023InstanceDataset', 'DFC2023BuildingSegDataset', 'QuadrupletLULCDataset',
    'ChannelCountError', 'ModalityReadError', 'RasterGrid', 'read_modality',
    'DataNotFoundError', 'MissingModalityWarning', 'ModalityFolders', 'NORM_PRESETS', 'normalize',
    'resolve_norm'
]
