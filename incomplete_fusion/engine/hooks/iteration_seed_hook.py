"""Seed the main process's random generators from (seed, iteration, rank) every iteration.

Guaranteed: the draws of training iteration ``i`` (PatchDropout, point sampling,
dropout, main-process transforms) depend only on ``(randomness.seed, i, rank)``, so a
run resumed with ``--resume`` draws exactly what the uninterrupted run drew, on any
number of ranks, with nothing extra in the checkpoint. Iteration-based loops: the
``n``-th batch fetched (replayed or not) is loaded right after seeding with
``(seed, n, rank)`` (the hook wraps ``dataloader_iterator``); epoch-based loops are
seeded in ``before_train_epoch`` and ``after_train_iter``.
See docs/advanced_guides/checkpoints_resume.md#exact-resume.
"""
import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook

from ...registry import HOOKS

_STREAM_TAG = 0x69746572  # 'iter': never coincides with another consumer's streams
MODEL_STREAM, DATA_STREAM = 0, 1


def iteration_seed(seed: int, iteration: int, rank: int, stream: int = 0) -> int:
    """A 32-bit seed that depends only on its arguments."""
    state = np.random.SeedSequence([_STREAM_TAG, int(seed) & 0xFFFFFFFF, int(iteration),
                                    int(rank), int(stream)])
    return int(state.generate_state(1)[0])


def seed_everything(value: int) -> None:
    torch.manual_seed(value)  # all devices
    np.random.seed(value)
    random.seed(value)


class SeededBatches:
    """Iterator wrapper: seed with ``(seed, n, rank)`` before fetching the ``n``-th batch."""

    def __init__(self, iterator, seed: int, rank: int) -> None:
        self.iterator, self.seed, self.rank = iterator, seed, rank
        self.fetched = 0

    def __iter__(self):
        return self

    def __next__(self):
        seed_everything(iteration_seed(self.seed, self.fetched, self.rank, DATA_STREAM))
        self.fetched += 1
        return next(self.iterator)

    def __getattr__(self, name):  # the wrapped iterator's own attributes (_dataloader, ...)
        return getattr(self.__dict__['iterator'], name)


@HOOKS.register_module()
class IterationSeedHook(Hook):
    """Reseed torch, NumPy and ``random`` before each training iteration and batch load.

    Args:
        seed: base seed; ``None`` takes the runner's (``randomness.seed``, which
            mmengine synchronises across ranks and stores in checkpoints).
    """

    priority = 'VERY_HIGH'  # before anything draws in before_train_iter

    def __init__(self, seed: Optional[int] = None) -> None:
        self.seed = seed
        self._wrapped = False

    def _seed(self, runner) -> int:
        seed = self.seed if self.seed is not None else getattr(runner, 'seed', None)
        return 0 if seed is None else int(seed)

    def before_train(self, runner) -> None:
        loop = runner.train_loop
        iterator = getattr(loop, 'dataloader_iterator', None)
        self._wrapped = iterator is not None
        if self._wrapped and not isinstance(iterator, SeededBatches):
            # fetch n is batch n, whether trained on or replayed by a resume
            loop.dataloader_iterator = SeededBatches(iterator, self._seed(runner), get_rank())

    def before_train_epoch(self, runner) -> None:
        if not self._wrapped:  # epoch-based: the epoch's first batch is loaded next
            seed_everything(iteration_seed(self._seed(runner), runner.iter, get_rank(),
                                           DATA_STREAM))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        seed_everything(iteration_seed(self._seed(runner), runner.iter, get_rank(),
                                       MODEL_STREAM))

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self._wrapped:  # epoch-based: the next batch is loaded now (no workers)
            seed_everything(iteration_seed(self._seed(runner), runner.iter + 1, get_rank(),
                                           DATA_STREAM))
