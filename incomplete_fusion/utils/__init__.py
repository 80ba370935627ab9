"""Config helpers shared by the tools and the Python API."""
from .config import (MODALITY_CONSUMERS, apply_modalities, describe_modalities, find_components,
                     load_config, register_modality_consumer, sync_data_root)
from .dist import prepare_cpu_distributed
from .speedups import cache_config_formatting
from .synthetic_data import SYNTHETIC_ROOTS, ensure_synthetic_data, synthetic_layout

__all__ = ['MODALITY_CONSUMERS', 'SYNTHETIC_ROOTS', 'apply_modalities', 'cache_config_formatting',
           'describe_modalities',
           'ensure_synthetic_data', 'find_components', 'load_config', 'prepare_cpu_distributed',
           'register_modality_consumer', 'sync_data_root', 'synthetic_layout']
