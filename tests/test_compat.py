"""The compatibility shims are what make resume work on torch >= 2.6, and they
allow nothing more than mmengine's checkpoints need."""
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import incomplete_fusion  # noqa: F401  (applies the shims)
from incomplete_fusion import compat


def _checkpoint_with_python_objects(path):
    # What mmengine's runner writes: tensors *and* pickled objects (message hub
    # state with numpy scalars, config text, ...).
    history = HistoryBuffer()
    history.update(0.25)
    torch.save({'state_dict': {'w': torch.ones(2)},
                'meta': {'best_score': np.float64(0.5), 'shapes': np.zeros(3),
                         'counts': np.arange(3, dtype=np.int32)},
                'message_hub': {'log_scalars': {'train/loss': history}}}, path)


class NotAllowListed:
    """Stands for any object a checkpoint could smuggle in (pickle runs its reduce)."""

    def __reduce__(self):
        return (print, ('a pickle ran code',))


class OtherAttribute:
    """A pickle asking for another attribute than HistoryBuffer's statistics methods."""

    def __reduce__(self):
        return (getattr, (HistoryBuffer, 'update'))


def test_stock_loader_refuses_runner_checkpoints(tmp_path):
    """Guard: without the shim, torch's default loader fails on such a file."""
    path = tmp_path / 'ckpt.pth'
    _checkpoint_with_python_objects(path)
    with pytest.raises(Exception, match='weights_only|Unpickl'):
        torch.load(path, map_location='cpu')


def test_shim_loads_runner_checkpoints(tmp_path, monkeypatch):
    path = tmp_path / 'ckpt.pth'
    _checkpoint_with_python_objects(path)
    # as in a fresh process (resume): no HistoryBuffer built yet, so its default
    # statistics methods are not registered when the checkpoint names them
    monkeypatch.setattr(HistoryBuffer, '_statistics_methods', {})
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['best_score'] == 0.5
    assert ckpt['meta']['counts'].dtype == np.int32
    assert ckpt['message_hub']['log_scalars']['train/loss'].current() == 0.25
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_shim_is_registered_for_local_paths():
    assert CheckpointLoader._get_checkpoint_loader('/any/local.pth') is \
        compat.load_local_checkpoint


def test_other_objects_are_refused_everywhere(tmp_path, capsys):
    """The allow-list is scoped and exact: torch.load outside mmengine keeps torch's
    default, and even mmengine's loader refuses what is not on the list."""
    runner_ckpt, other = tmp_path / 'runner.pth', tmp_path / 'other.pth'
    _checkpoint_with_python_objects(runner_ckpt)
    torch.save({'w': torch.ones(1), 'payload': NotAllowListed()}, other)
    _load_checkpoint(str(runner_ckpt), map_location='cpu')  # leaves nothing allowed behind
    for load in (lambda: torch.load(other),
                 lambda: _load_checkpoint(str(other), map_location='cpu')):
        with pytest.raises(pickle.UnpicklingError, match='Unsupported global'):
            load()
    with pytest.raises(pickle.UnpicklingError):  # numpy is allowed inside mmengine only
        torch.load(runner_ckpt)
    assert HistoryBuffer not in torch.serialization.get_safe_globals()
    assert 'a pickle ran code' not in capsys.readouterr().out
    # getattr is allowed inside mmengine's load for HistoryBuffer's statistics only
    torch.save({'x': OtherAttribute()}, other)
    with pytest.raises(pickle.UnpicklingError, match="only the statistics"):
        _load_checkpoint(str(other), map_location='cpu')


def test_runner_resume_round_trip(tmp_path):
    """A checkpoint saved by a real mmengine Runner (message hub, numpy best score from
    a validation metric, scheduler) resumes in a new Runner."""
    from mmengine.evaluator import BaseMetric, Evaluator
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='tensor'):
            out = self.linear(inputs)
            return {'loss': out.pow(2).mean()} if mode == 'loss' else out

    class Score(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results.append(len(data_samples))

        def compute_metrics(self, results):
            return {'score': np.float64(np.mean(results)), 'half': np.float32(0.5)}

    data = [dict(inputs=torch.randn(2)) for _ in range(4)]
    loader = dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                  batch_size=2, collate_fn=dict(type='default_collate'))

    def runner(work_dir, max_iters, resume):
        return Runner(
            model=Tiny(), work_dir=str(work_dir), train_dataloader=loader,
            val_dataloader=loader, val_evaluator=Evaluator([Score()]), val_cfg=dict(),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=False),
            train_cfg=dict(by_epoch=False, max_iters=max_iters, val_interval=2),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False,
                                               save_best='score', rule='greater')),
            resume=resume, default_scope='mmengine', experiment_name=f'r{max_iters}')

    runner(tmp_path, 2, False).train()
    resumed = runner(tmp_path, 4, True)
    resumed.train()
    assert resumed.iter == 4
