"""Two-process DDP training on CPU (torchrun + gloo) through tools/dist_train.sh."""
import glob
import json
import os
import os.path as osp
import socket
import subprocess
import sys

import torch

from incomplete_fusion.engine.hooks import draw_subset
from incomplete_fusion.testing.tiny import REPO, load_tool, make_tiny_config, fresh_run

NAME = 'mask2former_dfc2023'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def dist_train(config, work_dir):
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(free_port()), OMP_NUM_THREADS='1')
    env.pop('CUDA_VISIBLE_DEVICES', None)
    result = subprocess.run(
        ['bash', osp.join(REPO, 'tools', 'dist_train.sh'), config, '2', '--work-dir', work_dir],
        env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


def draws(work_dir, rank):
    with open(osp.join(work_dir, f'modality_dropout_rank{rank}.jsonl')) as f:
        return [json.loads(line) for line in f]


def test_two_process_gloo_training_is_reproducible_and_loads_single_process(tmp_path,
                                                                           dfc2023_root):
    config = make_tiny_config(NAME, dfc2023_root, str(tmp_path), max_iters=2, seed=5,
                              record_draws=True)
    first, second = str(tmp_path / 'run1'), str(tmp_path / 'run2')
    result = dist_train(config, first)
    assert 'active modalities: rgb, sar, dsm' in result.stdout + result.stderr
    dist_train(config, second)

    names = ('rgb', 'sar', 'dsm')
    per_rank = {}
    for rank in (0, 1):
        a, b = draws(first, rank), draws(second, rank)
        assert [r['iter'] for r in a] == [0, 1]
        assert a == b  # a rerun draws the same subsets on each rank
        # ... because they depend only on (seed, iteration, rank, sample index)
        expected = [[list(draw_subset(names, 'uniform_subset', 0.0, 5, it, rank, i))
                     for i in range(2)] for it in (0, 1)]
        assert [r['subsets'] for r in a] == expected
        per_rank[rank] = a
    assert per_rank[0] != per_rank[1]  # ranks draw independently
    # the run exercised DDP with unused parameters: some rank had a modality absent
    # from its whole batch (its patch embedding got no gradient that iteration)
    assert any(not any(n in kept for kept in r['subsets'])
               for rows in per_rank.values() for r in rows for n in names)

    # the checkpoint written by DDP (rank 0) loads and evaluates in one process
    ckpt = osp.join(first, 'iter_2.pth')
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert not any(k.startswith('module.') for k in state['state_dict'])
    load_tool('test').main([config, ckpt, '--work-dir', str(tmp_path / 'test'), '--cfg-options',
                    *fresh_run()])
    (metrics_file, ) = glob.glob(osp.join(tmp_path, 'test', '*', '*.json'))
    with open(metrics_file) as f:
        assert 'coco/segm_mAP_50' in json.load(f)
