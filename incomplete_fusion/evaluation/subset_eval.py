"""Evaluate one trained model on every modality subset (the paper's Tables I-IV).

A Python entry point to :class:`~incomplete_fusion.engine.SubsetTestLoop`: the
same loop that ``tools/test.py CONFIG CKPT --cfg-options test_cfg.type=SubsetTestLoop``
(stock or ours) runs, so a table row equals ``tools/test.py --cfg-options
modalities=[...]`` for that subset.
"""
import copy
import os.path as osp
from typing import Dict, Optional, Sequence, Union

from mmengine.config import Config

from ..utils.config import build_runner, load_config
from .subset_table import SubsetTable


def evaluate_subsets(config: Union[str, Config],
                     checkpoint: str,
                     work_dir: Optional[str] = None,
                     subsets: Optional[Sequence[Sequence[str]]] = None,
                     cfg_options: Optional[Dict] = None,
                     metric_keys: Optional[Sequence[str]] = None,
                     launcher: str = 'none',
                     stem: str = 'subset_eval') -> SubsetTable:
    """Test ``checkpoint`` once per modality subset and write ``<stem>.{md,csv,png}``.

    Args:
        config: config path or a loaded :class:`Config` (not modified).
        checkpoint: model weights.
        work_dir: logs and tables (default: the config's ``work_dir`` or
            ``./work_dirs/<config name>``).
        subsets: default every non-empty subset of the active modalities.
        cfg_options: overrides, as ``--cfg-options`` (also applied to a Config).
        metric_keys: table columns; default the config's ``subset_metrics``.
        launcher: mmengine launcher (``'none'``, ``'pytorch'``, ...).
    """
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    else:
        cfg = load_config(config, cfg_options)
    name = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
    loop = dict(type='SubsetTestLoop', stem=stem)
    if subsets is not None:
        loop['subsets'] = [list(s) for s in subsets]
    if metric_keys is not None:
        loop['metric_keys'] = list(metric_keys)
    cfg.test_cfg = loop
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('./work_dirs', name)
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.launcher = launcher
    runner = build_runner(cfg)
    runner.test()
    return runner.test_loop.table
