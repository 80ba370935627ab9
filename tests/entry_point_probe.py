"""A hook for tests that run the STOCK OpenMMLab tools in a subprocess.

Imported through the config's ``custom_imports`` (with ``tests/`` on PYTHONPATH), it
appends JSON lines to ``out_file``: per train/test iteration, the modalities that are
all-NaN in each sample the BACKBONE receives; per test epoch, the metrics and the
active set bound to the model.
"""
import json

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class EntryPointProbe(Hook):
    priority = 'LOWEST'

    def __init__(self, out_file: str):
        self.out_file = out_file
        self._nan_sets = None

    def _model(self, runner):
        return runner.model.module if is_model_wrapper(runner.model) else runner.model

    def _write(self, record: dict) -> None:
        with open(self.out_file, 'a') as f:
            f.write(json.dumps(record) + '\n')

    def before_run(self, runner):
        self._model(runner).backbone.register_forward_pre_hook(self._capture)

    def _capture(self, module, args):
        slices = module.slices
        self._nan_sets = [sorted(n for n, s in slices.items() if torch.isnan(x[s]).all())
                          for x in args[0]]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._write(dict(stage='train', nan=self._nan_sets))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._write(dict(stage='test', nan=self._nan_sets))

    def after_test_epoch(self, runner, metrics=None):
        active = self._model(runner).data_preprocessor.modality_set.active
        self._write(dict(stage='metrics', active=list(active),
                         metrics={k: float(v) for k, v in (metrics or {}).items()}))


def read_records(path: str) -> list:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
