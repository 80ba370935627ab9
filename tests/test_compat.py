"""The compatibility shims are what make resume work on torch >= 2.6."""
import numpy as np
import pytest
import torch
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import incomplete_fusion  # noqa: F401  (applies the shims)
from incomplete_fusion import compat


def _checkpoint_with_python_objects(path):
    # What mmengine's runner writes: tensors *and* pickled objects (message hub
    # state with numpy scalars, config text, ...).
    torch.save({'state_dict': {'w': torch.ones(2)},
                'meta': {'best_score': np.float64(0.5), 'shapes': np.zeros(3)}}, path)


def test_stock_loader_refuses_runner_checkpoints(tmp_path):
    """Guard: without the shim, torch's default loader fails on such a file."""
    path = tmp_path / 'ckpt.pth'
    _checkpoint_with_python_objects(path)
    with pytest.raises(Exception, match='weights_only|Unpickl'):
        torch.load(path, map_location='cpu')


def test_shim_loads_runner_checkpoints(tmp_path):
    path = tmp_path / 'ckpt.pth'
    _checkpoint_with_python_objects(path)
    ckpt = _load_checkpoint(str(path), map_location='cpu')
    assert ckpt['meta']['best_score'] == 0.5
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


def test_shim_is_registered_for_local_paths():
    assert CheckpointLoader._get_checkpoint_loader('/any/local.pth') is \
        compat._load_trusted_local_checkpoint


def test_runner_resume_round_trip(tmp_path):
    """A checkpoint saved by a real mmengine Runner resumes in a new Runner."""
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(2, 1)

        def forward(self, inputs, mode='tensor'):
            out = self.linear(inputs)
            return {'loss': out.pow(2).mean()} if mode == 'loss' else out

    data = [dict(inputs=torch.randn(2)) for _ in range(4)]

    def runner(work_dir, max_iters, resume):
        return Runner(
            model=Tiny(), work_dir=str(work_dir),
            train_dataloader=dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                                  batch_size=2, collate_fn=dict(type='default_collate')),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
            train_cfg=dict(by_epoch=False, max_iters=max_iters),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2, by_epoch=False)),
            resume=resume, default_scope='mmengine', experiment_name=f'r{max_iters}')

    runner(tmp_path, 2, False).train()
    resumed = runner(tmp_path, 4, True)
    resumed.train()
    assert resumed.iter == 4
