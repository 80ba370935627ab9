"""Loading a config and building its runner the way the stock OpenMMLab tools do.

Nothing here rewrites a config: the run's top-level ``modalities``,
``modality_specs`` and ``data_root`` reach the components through the loops of
:mod:`incomplete_fusion.engine.loops`, under every entry point.
"""
from typing import Optional, Sequence

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner


def load_config(path: str, cfg_options: Optional[dict] = None,
                presets: Sequence[str] = ()) -> Config:
    """``Config.fromfile`` + ``--cfg-options``, as the stock tools do.

    ``presets``: partial config files (e.g. ``configs/demo/cpu_preset.py``) merged on
    top in order, before ``cfg_options``.
    """
    cfg = Config.fromfile(path)
    for preset in presets:
        cfg.merge_from_dict(Config.fromfile(preset).to_dict())
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def build_runner(cfg: Config) -> Runner:
    """``Runner.from_cfg`` unless the config names its own runner type (as mmdet's tools do)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
