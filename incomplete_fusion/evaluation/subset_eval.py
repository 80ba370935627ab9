"""Evaluate one trained model on every modality subset (the paper's Tables I-IV).

The model is built and its checkpoint loaded ONCE; for each subset only the
test dataloader (whose ``SelectModalities`` step NaNs the other modalities) and
the evaluator are rebuilt, exactly as ``tools/test.py --cfg-options
modalities=[...]`` would configure them, so a table row equals the result of
that command.
"""
import copy
import os.path as osp
from typing import Dict, Optional, Sequence, Union

from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.registry import LOOPS, RUNNERS
from mmengine.runner import Runner, TestLoop

from ..modalities import nonempty_subsets, resolve_active
from ..utils.config import apply_modalities, load_config
from ..utils.speedups import cache_config_formatting
from .subset_table import SubsetTable, subset_label


def build_runner(cfg: Config) -> Runner:
    """``Runner.from_cfg`` unless the config names its own runner type (as stock tools do)."""
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)


def _build_test_loop(runner: Runner, cfg: Config):
    loop_cfg = copy.deepcopy(cfg.get('test_cfg') or {})
    kwargs = dict(runner=runner, dataloader=cfg.test_dataloader, evaluator=cfg.test_evaluator)
    if 'type' in loop_cfg:
        return LOOPS.build(loop_cfg, default_args=kwargs)
    return TestLoop(**loop_cfg, **kwargs)


def evaluate_subsets(config: Union[str, Config],
                     checkpoint: str,
                     work_dir: Optional[str] = None,
                     subsets: Optional[Sequence[Sequence[str]]] = None,
                     cfg_options: Optional[Dict] = None,
                     metric_keys: Optional[Sequence[str]] = None,
                     launcher: str = 'none',
                     stem: str = 'subset_eval') -> SubsetTable:
    """Test ``checkpoint`` once per modality subset and write the tables.

    Args:
        config: config path or an already loaded :class:`Config`.
        checkpoint: model weights.
        work_dir: where logs and ``<stem>.{md,csv,png}`` go (default: the
            config's ``work_dir`` or ``./work_dirs/<config name>``).
        subsets: subsets to evaluate; default every non-empty subset of the
            active modalities (``2**M - 1`` rows, by size then declared order).
        cfg_options: overrides, as ``--cfg-options`` (ignored for a Config).
        metric_keys: metric columns; default the config's ``subset_metrics``,
            else every numeric metric.
        launcher: mmengine launcher (``'none'``, ``'pytorch'``, ...).

    Returns:
        The :class:`SubsetTable` (also written to the work dir by rank 0).
    """
    cache_config_formatting()
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        name = osp.splitext(osp.basename(cfg.filename or 'config'))[0]
    else:
        cfg = load_config(config, cfg_options)
        name = osp.splitext(osp.basename(config))[0]
    active = apply_modalities(cfg)
    specs = cfg.modality_specs
    if subsets is None:
        subsets = nonempty_subsets(active)
    else:
        subsets = [resolve_active(s, specs) for s in subsets]
    cfg.work_dir = work_dir or cfg.get('work_dir') or osp.join('./work_dirs', name)
    cfg.load_from = checkpoint
    cfg.resume = False
    cfg.launcher = launcher
    if metric_keys is None:
        metric_keys = cfg.get('subset_metrics', None)

    runner = build_runner(cfg)
    runner.call_hook('before_run')
    runner.load_or_resume()
    table = SubsetTable(tuple(active), metric_keys=list(metric_keys) if metric_keys else None)
    for subset in subsets:
        subset_cfg = copy.deepcopy(cfg)
        apply_modalities(subset_cfg, subset)
        runner.logger.info(f'[subset_eval] modalities {subset_label(subset)}')
        metrics = _build_test_loop(runner, subset_cfg).run()
        table.add(subset, metrics)
    runner.call_hook('after_run')
    if is_main_process():
        paths = table.save(cfg.work_dir, stem=stem, title=name)
        runner.logger.info('[subset_eval] per-subset results:\n' + table.to_markdown()
                           + f'written to {paths["md"]}, {paths["csv"]}, {paths["png"]}')
    return table
