"""Incomplete multimodal remote-sensing fusion as an OpenMMLab plugin.

Importing the package applies the compatibility shims of the pinned stack and
registers every component (see :mod:`incomplete_fusion.registry`), so
``custom_imports = dict(imports=['incomplete_fusion'])`` is all a stock mmdet,
mmseg or mmpretrain config needs.
"""
from . import compat  # noqa: F401  (applies the shims first)
from . import apis, datasets, engine, evaluation, models, utils  # noqa: F401
from .modalities import ModalitySpec, UnknownModalityError, parse_modalities
from .version import __version__

__all__ = ['ModalitySpec', 'UnknownModalityError', 'parse_modalities', '__version__']
