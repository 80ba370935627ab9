"""mmengine loops that apply the run's top-level ``modalities`` and ``data_root``.

A loop is built by the Runner with a reference to it, before the loop's dataloader
exists (``IterBasedTrainLoop`` starts its dataloader workers in its constructor), and
every OpenMMLab entry point builds the loops the config names: the stock
``tools/train.py``/``tools/test.py`` of mmdet, mmseg and mmpretrain (mmseg's test tool
ignores ``runner_type``, not ``test_cfg``), ``Runner.from_cfg`` and this package's
tools. So the loop is the one place that reads the final config (``runner.cfg``,
after ``--cfg-options``/``merge_from_dict``) and binds it to what the run built:
the model, the hooks and the loop's own dataset, before any sample is read.
"""
import copy
import os.path as osp
from typing import Dict, Optional, Sequence

from mmengine.dist import is_main_process
from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop, TestLoop, ValLoop

from ..evaluation.subset_table import SubsetTable, subset_label
from ..modalities import ModalitySet, nonempty_subsets
from ..binding import bind, modality_set_of
from .data_root import rebase_data_root, stale_data_root


def bind_run(runner, modality_set: Optional[ModalitySet] = None) -> ModalitySet:
    """Bind the run's modalities (default: from ``runner.cfg``) to its model and hooks."""
    modality_set = modality_set or modality_set_of(runner.cfg)
    bind(modality_set, runner.model, runner.hooks)
    return modality_set


def build_bound_dataloader(runner, dataloader, modality_set: ModalitySet):
    """Build a dataloader dict with the run's ``data_root`` and bind ``modality_set`` to it."""
    if isinstance(dataloader, dict):
        dataloader = rebase_data_root(dataloader, stale_data_root(runner.cfg))
        diff_rank_seed = runner._randomness_cfg.get('diff_rank_seed', False)
        dataloader = runner.build_dataloader(dataloader, seed=runner.seed,
                                             diff_rank_seed=diff_rank_seed)
    bind(modality_set, dataloader)
    return dataloader


class _BindsModalities:
    """Mixin: bind before the base loop builds (and, for training, starts) the dataloader."""

    def __init__(self, runner, dataloader, *args, **kwargs):
        self.run_set = bind_run(runner)  # the run's declared and active modalities
        if 'evaluator' in kwargs:
            kwargs['evaluator'] = rebase_data_root(kwargs['evaluator'], stale_data_root(runner.cfg))
        dataloader = build_bound_dataloader(runner, dataloader, self.run_set)
        runner.logger.info(f'[{type(self).__name__}] {self.run_set.describe()}')
        super().__init__(runner, dataloader, *args, **kwargs)


@LOOPS.register_module()
class ModalityIterBasedTrainLoop(_BindsModalities, IterBasedTrainLoop):
    """``IterBasedTrainLoop`` that applies the run's ``modalities``/``data_root``."""


@LOOPS.register_module()
class ModalityEpochBasedTrainLoop(_BindsModalities, EpochBasedTrainLoop):
    """``EpochBasedTrainLoop`` that applies the run's ``modalities``/``data_root``."""


@LOOPS.register_module()
class ModalityValLoop(_BindsModalities, ValLoop):
    """``ValLoop`` that applies the run's ``modalities``/``data_root``."""


@LOOPS.register_module()
class ModalityTestLoop(_BindsModalities, TestLoop):
    """``TestLoop`` that applies the run's ``modalities``/``data_root``."""


@LOOPS.register_module()
class SubsetTestLoop(ModalityTestLoop):
    """Test once per modality subset: the paper's per-subset tables from any test tool.

    The model and its checkpoint are loaded once; for each subset the test
    dataloader is rebuilt (fresh workers) and the subset bound to it and to the
    model, exactly what ``modalities=[...]`` would do for a single test run, so a
    row equals that run. Writes ``<stem>.{md,csv,png}`` to the work dir (rank 0).

    Args:
        subsets: subsets to evaluate; default every non-empty subset of the run's
            active modalities, by size then declared order.
        metric_keys: table columns; default the config's ``subset_metrics``, else
            every numeric metric.
        stem: file name stem of the written tables.
    """

    def __init__(self, runner, dataloader, evaluator, fp16: bool = False,
                 subsets: Optional[Sequence[Sequence[str]]] = None,
                 metric_keys: Optional[Sequence[str]] = None,
                 stem: str = 'subset_eval'):
        # rebuilt per subset, so that every subset gets fresh dataloader workers
        self._dataloader_cfg = copy.deepcopy(dataloader) if isinstance(dataloader, dict) else None
        super().__init__(runner, dataloader, evaluator=evaluator, fp16=fp16)
        if subsets is None:
            self.subsets = nonempty_subsets(self.run_set.active)
        else:
            self.subsets = [self.run_set.resolve(s) for s in subsets]
        if metric_keys is None:
            metric_keys = runner.cfg.get('subset_metrics', None)
        self.metric_keys = list(metric_keys) if metric_keys else None
        self.stem = stem
        self.table: Optional[SubsetTable] = None

    def run(self) -> Dict[str, float]:
        table = SubsetTable(self.run_set.active, metric_keys=self.metric_keys)
        flat: Dict[str, float] = {}
        for subset in self.subsets:
            subset_set = self.run_set.with_active(subset)
            bind_run(self.runner, subset_set)
            if self._dataloader_cfg is not None:
                self.dataloader = build_bound_dataloader(self.runner, self._dataloader_cfg,
                                                         subset_set)
            else:
                bind(subset_set, self.dataloader)
            label = subset_label(subset)
            self.runner.logger.info(f'[SubsetTestLoop] modalities {label}')
            metrics = super().run()
            table.add(subset, metrics)
            flat.update({f'{label}/{k}': v for k, v in metrics.items()})
        bind_run(self.runner, self.run_set)
        self.table = table
        if is_main_process():
            name = osp.splitext(osp.basename(self.runner.cfg.filename or 'config'))[0]
            paths = table.save(self.runner.work_dir, stem=self.stem, title=name)
            self.runner.logger.info('[SubsetTestLoop] per-subset results:\n'
                                    + table.to_markdown()
                                    + f'written to {paths["md"]}, {paths["csv"]}, {paths["png"]}')
        return flat
