"""Building a model from a config for inference, bound to the run's modalities.

The config is loaded as the stock tools load it (``Config.fromfile`` + the
``--cfg-options``; nothing is rewritten) and the model built by mmdet's
``init_detector``, mmseg's ``init_model`` or, for pretraining configs, the
registry; then the run's :class:`~incomplete_fusion.modalities.ModalitySet`
(the config's top-level ``modality_specs``/``modalities``, or the caller's
override) is bound to it with :func:`incomplete_fusion.binding.bind`.
"""
import copy
import os
from typing import Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config

from ..binding import bind, iter_consumers, modality_set_of
from ..modalities import ModalitySet
from ..utils.config import load_config

__all__ = ['init_model', 'init_pretrain_model', 'model_task', 'default_tile_size',
           'bind_model', 'model_modality_set']


def _config(config: Union[str, os.PathLike, Config], cfg_options: Optional[dict]) -> Config:
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        return cfg
    return load_config(os.fspath(config), cfg_options)


def bind_model(model: torch.nn.Module, cfg: Config,
               modality_set: Optional[ModalitySet] = None,
               active: Optional[Sequence[str]] = None) -> ModalitySet:
    """Bind ``modality_set`` (default: the config's) to ``model``, restricted to the
    ``active`` names if given; returns the bound set."""
    mset = modality_set_of(cfg) if modality_set is None else modality_set
    if active is not None:
        mset = mset.with_active(active)
    bind(mset, model)
    return mset


def model_modality_set(model: torch.nn.Module) -> ModalitySet:
    """The set bound to ``model``'s consumers, else the one of ``model.cfg``."""
    for consumer in iter_consumers(model):
        if consumer.is_bound:
            return consumer.modality_set
    return modality_set_of(model.cfg)


def init_model(config: Union[str, os.PathLike, Config],
               checkpoint: Optional[str] = None,
               device: str = 'cpu',
               cfg_options: Optional[dict] = None,
               modality_set: Optional[ModalitySet] = None,
               active: Optional[Sequence[str]] = None) -> torch.nn.Module:
    """Build an mmseg segmentor or mmdet detector from a config and load a checkpoint.

    The config is ``Config.fromfile`` + ``cfg_options`` (as ``tools/test.py``); the
    config's ``default_scope`` picks mmdet's ``init_detector`` or mmseg's
    ``init_model``. The run's modalities (``modality_set``, default the config's
    top-level ``modality_specs`` and ``modalities``; ``active`` overrides the active
    names) are bound to the model. Returned in eval mode on ``device``, with the
    config as ``model.cfg``.
    """
    cfg = _config(config, cfg_options)
    scope = cfg.get('default_scope', None)
    if scope == 'mmdet':
        from mmdet.apis import init_detector
        model = init_detector(cfg, checkpoint, device=device)
    elif scope == 'mmseg':
        from mmseg.apis import init_model as init_segmentor
        model = init_segmentor(cfg, checkpoint, device=device)
    else:
        raise ValueError(f"config default_scope must be 'mmdet' or 'mmseg', got {scope!r}")
    if checkpoint is None:
        # no checkpoint meta: take the class names from the config's dataset class
        # (mmdet would otherwise fall back to the 80 COCO classes)
        meta = _dataset_metainfo(cfg)
        if meta:
            model.dataset_meta = meta
    bind_model(model, cfg, modality_set, active)
    model.cfg = cfg
    return model.eval()


def init_pretrain_model(config: Union[str, os.PathLike, Config],
                        checkpoint: Optional[str] = None, device: str = 'cpu',
                        cfg_options: Optional[dict] = None,
                        modality_set: Optional[ModalitySet] = None,
                        active: Optional[Sequence[str]] = None) -> torch.nn.Module:
    """Build the pretraining model (e.g. MultiMAE) of ``config``, load ``checkpoint``,
    bind the run's modalities (as :func:`init_model`); eval mode, config as ``model.cfg``."""
    from mmengine.registry import DefaultScope
    from mmengine.runner import load_checkpoint

    from ..registry import MODELS

    cfg = _config(config, cfg_options)
    with DefaultScope.overwrite_default_scope(cfg.get('default_scope', 'mmpretrain')):
        model = MODELS.build(cfg.model)
    if checkpoint is not None:
        load_checkpoint(model, checkpoint, map_location='cpu')
    else:
        model.init_weights()
    bind_model(model, cfg, modality_set, active)
    model.cfg = cfg
    return model.to(device).eval()


def _dataset_metainfo(cfg: Config) -> Optional[dict]:
    from mmengine.registry import DATASETS
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    try:
        dataset_cls = DATASETS.get(dataset.get('type'))
    except Exception:  # noqa: BLE001 - a best-effort label lookup
        return None
    meta = getattr(dataset_cls, 'METAINFO', None)
    return dict(meta) if meta else None


def model_task(model: torch.nn.Module) -> str:
    """``'semantic'`` for an mmseg segmentor, ``'instance'`` for an mmdet detector."""
    try:
        from mmseg.models.segmentors import BaseSegmentor
        if isinstance(model, BaseSegmentor):
            return 'semantic'
    except ImportError:  # pragma: no cover - mmseg is a dependency
        pass
    try:
        from mmdet.models.detectors import BaseDetector
        if isinstance(model, BaseDetector):
            return 'instance'
    except ImportError:  # pragma: no cover
        pass
    raise TypeError(f'{type(model).__name__} is neither an mmseg segmentor nor an mmdet detector')


def default_tile_size(cfg: Optional[Config]) -> int:
    """The backbone's training ``img_size`` (the size the model has seen), else 256."""
    size = None
    if cfg is not None:
        size = cfg.get('model', {}).get('backbone', {}).get('img_size', None)
    if size is None:
        return 256
    return int(size if np.isscalar(size) else size[0])
