"""Helpers shared by the tools and the Python API."""
from .config import build_runner, load_config
from .dist import prepare_cpu_distributed
from .speedups import cache_config_formatting

__all__ = ['build_runner', 'cache_config_formatting', 'load_config', 'prepare_cpu_distributed']
