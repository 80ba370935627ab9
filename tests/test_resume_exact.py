"""Resume is exact: a run killed and resumed ends with the weights of an uninterrupted run."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch

from incomplete_fusion.testing.tiny import REPO, fresh_run, load_tool, make_tiny_config

train_tool = load_tool('train')
# PatchDropout and point sampling draw in the main process; checkpoints at 2 and 4
COMMON = ['default_hooks.checkpoint.interval=2']
WORKERS = {0: ['train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False'],
           1: ['train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=True']}


def _checkpoint(path):
    return torch.load(path, map_location='cpu', weights_only=False)


def assert_same_training_state(path_a, path_b):
    """Weights and optimizer state of two checkpoints are equal bit for bit."""
    a, b = _checkpoint(path_a), _checkpoint(path_b)
    assert a['state_dict'].keys() == b['state_dict'].keys()
    differing = [k for k in a['state_dict'] if not torch.equal(a['state_dict'][k],
                                                               b['state_dict'][k])]
    assert not differing, f'{len(differing)} tensors differ, e.g. {differing[:5]}'
    opt_a, opt_b = a['optimizer']['state'], b['optimizer']['state']
    assert opt_a.keys() == opt_b.keys()
    for key in opt_a:
        for name, value in opt_a[key].items():
            if torch.is_tensor(value):
                assert torch.equal(value, opt_b[key][name]), (key, name)
    assert a['meta']['iter'] == b['meta']['iter']


@pytest.mark.parametrize('num_workers,seed', [(1, 0), (0, 1)])
def test_resumed_training_equals_uninterrupted(tmp_path, dfc2023_root, num_workers, seed):
    """In-process: resume from the uninterrupted run's iteration-2 checkpoint.

    ``num_workers=0`` with seed 1: the transforms (RandomFlip) draw in the main process
    and the first batch after the resume flipped otherwise before the seed hook wrapped
    the dataloader iterator.
    """
    config = make_tiny_config('mask2former_dfc2023_semantic', dfc2023_root, str(tmp_path),
                              max_iters=4, seed=seed)
    options = COMMON + WORKERS[num_workers]
    straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
    train_tool.main([config, '--work-dir', straight, '--cfg-options', *options, *fresh_run()])
    # as if killed after its iteration-2 checkpoint: a new runner resumes from it
    train_tool.main([config, '--work-dir', resumed, '--resume', osp.join(straight, 'iter_2.pth'),
                     '--cfg-options', *options, *fresh_run()])
    assert_same_training_state(osp.join(straight, 'iter_4.pth'), osp.join(resumed, 'iter_4.pth'))
    # and the check can fail: two iterations fewer give other weights
    a, early = (_checkpoint(osp.join(straight, f'iter_{i}.pth'))['state_dict'] for i in (4, 2))
    assert any(not torch.equal(a[k], early[k]) for k in a)


def _train(config, work_dir, *extra):
    """``tools/train.py`` in its own process (group), one intra-op thread, logs to a file."""
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    os.makedirs(work_dir, exist_ok=True)
    log = open(osp.join(work_dir, 'stdout.log'), 'wb')
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), config, '--work-dir', work_dir,
           *extra, '--cfg-options', *COMMON, *WORKERS[1]]
    return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _finish(proc, work_dir, timeout=240):
    try:
        rc = proc.wait(timeout=timeout)
    finally:
        _reap(proc)
    with open(osp.join(work_dir, 'stdout.log'), errors='replace') as f:
        assert rc == 0, f'{work_dir}: exit {rc}\n' + f.read()[-3000:]


def _reap(proc):
    """End what is left of a process group this test started (e.g. a dataloader worker)."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _checkpoint_complete(work_dir, name, timeout, proc=None):
    """Wait until mmengine has written ``name`` and then ``last_checkpoint`` naming it."""
    marker = osp.join(work_dir, 'last_checkpoint')
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and (proc is None or proc.poll() is None):
        if osp.exists(marker):
            with open(marker) as f:
                if f.read().strip().endswith(name):
                    return True
        time.sleep(0.01)
    return False


def test_training_killed_with_sigkill_resumes_exactly(tmp_path, dfc2023_root):
    """A real ``kill -9`` after the iteration-2 checkpoint, then ``--resume``: the
    iteration-4 weights equal an uninterrupted run's bit for bit (CPU, one worker)."""
    config = make_tiny_config('mask2former_dfc2023_semantic', dfc2023_root, str(tmp_path),
                              max_iters=4)
    straight_dir, killed_dir = str(tmp_path / 'straight'), str(tmp_path / 'killed')
    straight = _train(config, straight_dir)  # runs alongside the killed one
    victim = _train(config, killed_dir)
    try:
        complete = _checkpoint_complete(killed_dir, 'iter_2.pth', 240, victim)
        alive = victim.poll() is None
        if complete and alive:
            os.kill(victim.pid, signal.SIGKILL)  # may be inside iteration 3 already: the point
            assert victim.wait(timeout=30) == -signal.SIGKILL
    finally:
        _reap(victim)
    with open(osp.join(killed_dir, 'stdout.log'), errors='replace') as f:
        log = f.read()
    assert complete and alive, 'no iteration-2 checkpoint to kill after:\n' + log[-3000:]
    assert not osp.exists(osp.join(killed_dir, 'iter_4.pth')), 'killed too late'

    resumed = _train(config, killed_dir, '--resume')  # latest checkpoint of the work dir
    _finish(resumed, killed_dir)
    _finish(straight, straight_dir)
    with open(osp.join(killed_dir, 'stdout.log'), errors='replace') as f:
        assert 'resumed' in f.read().lower()  # mmengine: "resumed epoch: 0, iter: 2"
    assert_same_training_state(osp.join(straight_dir, 'iter_4.pth'),
                               osp.join(killed_dir, 'iter_4.pth'))
