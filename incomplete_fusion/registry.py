"""Where this package registers its components.

Everything is registered in mmengine's *root* registries. mmdet, mmseg and
mmpretrain registries are children of these roots and look up unknown names in
their parents, so one registration serves configs of all three scopes
(``default_scope='mmdet'``, ``'mmseg'`` or ``'mmpretrain'``).
"""
from mmengine.registry import DATASETS, HOOKS, METRICS, MODELS, TRANSFORMS

__all__ = ['DATASETS', 'HOOKS', 'METRICS', 'MODELS', 'TRANSFORMS']
