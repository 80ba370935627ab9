"""Seed the main process's random generators from (seed, iteration, rank) every iteration.

A resumed run restarts its generators from the run's seed, not from where the killed
run left them, so everything drawn in the main process after a resume (PatchDropout,
Mask2Former's point sampling, dropout) differed from an uninterrupted run. Saving the
states with the checkpoint would not cover DDP (mmengine saves on rank 0 only).
Making the draws of iteration ``i`` depend only on ``(seed, i, rank)`` makes a resumed
run draw exactly what the uninterrupted one drew, on any number of ranks.

Data loading in dataloader workers is already exact on resume (mmengine replays the
sampler and the workers' generators are seeded per worker). With ``num_workers=0``
the transforms run in the main process and draw between iterations; they are seeded
here too (``after_train_iter`` seeds the draws of the next batch), but mmengine
replays the skipped batches back to back on resume, so the FIRST batch after a resume
can still differ there: use ``num_workers >= 1`` for bit-exact resume.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from ...registry import HOOKS

_STREAM_TAG = 0x69746572  # 'iter': never coincides with another consumer's streams


def iteration_seed(seed: int, iteration: int, rank: int, stream: int = 0) -> int:
    """A 32-bit seed that depends only on its arguments."""
    state = np.random.SeedSequence([_STREAM_TAG, int(seed) & 0xFFFFFFFF, int(iteration),
                                    int(rank), int(stream)])
    return int(state.generate_state(1)[0])


def seed_everything(value: int) -> None:
    torch.manual_seed(value)  # all devices
    np.random.seed(value)
    random.seed(value)


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Reseed torch, NumPy and ``random`` before each training iteration.

    Args:
        seed: base seed; ``None`` takes the runner's (``randomness.seed``, which
            mmengine synchronises across ranks and stores in checkpoints).
    """

    priority = 'VERY_HIGH'  # before anything draws in before_train_iter

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed

    def _seed(self, runner) -> int:
        seed = self.seed if self.seed is not None else getattr(runner, 'seed', None)
        return 0 if seed is None else int(seed)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed_everything(iteration_seed(self._seed(runner), runner.iter, get_rank(), 0))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        # the next batch is loaded now when there are no workers
        seed_everything(iteration_seed(self._seed(runner), runner.iter, get_rank(), 1))
