"""Random modality combination for training (paper §III-C; docs/user_guides/4_train_test.md).

Before each training iteration the hook draws, per sample, which of the ACTIVE
modalities the sample keeps and overwrites the channels of all others with NaN,
in place. NaN is the package's single "missing" signal, so training exercises
exactly the path that real missing data takes at test time.

It runs on ``data_batch['inputs']`` before the model's data preprocessor: in
mmengine that is still the list of per-sample ``(C, H, W)`` tensors built by
``pseudo_collate``, which is the same for mmdet, mmseg and mmpretrain.

When the model asks for the full inputs (``model.wants_full_inputs``, modality
self-distillation), the hook first keeps a copy of the un-dropped samples under
``data_batch['teacher_inputs']``; the project's data preprocessors stack it
exactly like ``inputs`` and the model receives it as a keyword.
"""
import json
import os.path as osp
from math import comb
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from ...binding import ModalityConsumer
from ...modalities import nonempty_subsets
from ...models.data_preprocessors.multimodal import TEACHER_INPUTS
from ...registry import HOOKS

MODES = ('uniform_subset', 'uniform_size')
# Mixed into every seed so these draws never coincide with another consumer
# of the same (seed, iteration, rank, index) tuple.
_STREAM_TAG = 0x6D6F6461  # 'moda'


def draw_subset(names: Sequence[str], mode: str, keep_all_prob: float,
                seed: int, iteration: int, rank: int, index: int) -> Tuple[str, ...]:
    """Draw the kept modalities of one sample.

    Counter-based: the result depends only on the arguments, never on how many
    draws happened before, so a resumed or re-run training draws the same subsets.

    Args:
        names: active modality names, declared order.
        mode: ``'uniform_subset'`` draws uniformly over the ``2**M - 1``
            non-empty subsets (the paper); ``'uniform_size'`` draws the subset
            size uniformly in ``1..M``, then a subset of that size uniformly
            (the authors' released code).
        keep_all_prob: probability of keeping every active modality before the
            mode's draw applies.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    names = tuple(names)
    rng = np.random.default_rng(
        [_STREAM_TAG, int(seed) & 0xFFFFFFFF, int(iteration), int(rank), int(index)])
    if keep_all_prob > 0 and rng.random() < keep_all_prob:
        return names
    subsets = nonempty_subsets(names)
    if mode == 'uniform_subset':
        return subsets[int(rng.integers(len(subsets)))]
    size = int(rng.integers(1, len(names) + 1))
    first = sum(comb(len(names), k) for k in range(1, size))
    return subsets[first + int(rng.integers(comb(len(names), size)))]


def subset_probabilities(names: Sequence[str], mode: str,
                         keep_all_prob: float = 0.0) -> Dict[Tuple[str, ...], float]:
    """Exact probability of each non-empty subset under ``mode`` (for checks)."""
    names = tuple(names)
    subsets = nonempty_subsets(names)
    m = len(names)
    if mode == 'uniform_subset':
        probs = {s: 1.0 / len(subsets) for s in subsets}
    elif mode == 'uniform_size':
        probs = {s: 1.0 / (m * comb(m, len(s))) for s in subsets}
    else:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    probs = {s: (1 - keep_all_prob) * p for s, p in probs.items()}
    probs[names] += keep_all_prob
    return probs


@HOOKS.register_module()
class ModalityDropoutHook(ModalityConsumer, Hook):
    """Per-sample random modality dropout, seeded, training only.

    Draws only from the run's ACTIVE modalities (the top-level ``modalities``,
    bound by this package's loops); declared but inactive modalities are always NaN.

    Args:
        mode: ``'uniform_subset'`` (default) or ``'uniform_size'``, see
            :func:`draw_subset`.
        keep_all_prob: probability of keeping all active modalities.
        seed: base seed; ``None`` takes the runner's seed (``randomness.seed``,
            which mmengine synchronises across ranks).
        record: also append every draw as a JSON line to
            ``<work_dir>/modality_dropout_rank<r>.jsonl`` (audit/reproducibility).

    A model with a true ``wants_full_inputs`` attribute (e.g.
    ``SelfDistillEncoderDecoder``) also gets the un-dropped samples, as
    ``data_batch['teacher_inputs']`` (copies taken before any NaN is written).
    """

    priority = 'ABOVE_NORMAL'  # before other hooks look at the batch

    def __init__(self,
                 mode: str = 'uniform_subset',
                 keep_all_prob: float = 0.0,
                 seed: Optional[int] = None,
                 record: bool = False) -> None:
        if mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
        if not 0.0 <= keep_all_prob <= 1.0:
            raise ValueError(f'keep_all_prob must be in [0, 1], got {keep_all_prob}')
        self.mode = mode
        self.keep_all_prob = float(keep_all_prob)
        self.seed = seed
        self.record = record
        self.last_subsets: List[Tuple[str, ...]] = []
        self.counts: Dict[Tuple[str, ...], int] = {}

    def _seed(self, runner) -> int:
        if self.seed is not None:
            return int(self.seed)
        seed = getattr(runner, 'seed', None)
        return 0 if seed is None else int(seed)

    def drop(self, inputs, seed: int, iteration: int, rank: int) -> List[Tuple[str, ...]]:
        """NaN the dropped and inactive modalities of every sample, in place."""
        mset = self.modality_set
        subsets = []
        for index in range(len(inputs)):
            sample = inputs[index]
            if not torch.is_floating_point(sample):
                raise TypeError(
                    'ModalityDropoutHook needs floating-point inputs to write NaN; got '
                    f'{sample.dtype}. Load images as float32 (the modality loading '
                    'transform does).')
            kept = draw_subset(mset.active, self.mode, self.keep_all_prob,
                               seed, iteration, rank, index)
            mset.keep_only(sample, kept)
            subsets.append(kept)
        return subsets

    def before_train(self, runner) -> None:
        self.modality_set  # a config without the binding loops fails here, before iterating

    @staticmethod
    def wants_full_inputs(runner) -> bool:
        """Whether the runner's model asks for the un-dropped inputs too."""
        model = getattr(runner, 'model', None)
        if is_model_wrapper(model):
            model = model.module
        return bool(getattr(model, 'wants_full_inputs', False))

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if data_batch is None or 'inputs' not in data_batch:
            return
        if self.wants_full_inputs(runner):
            data_batch[TEACHER_INPUTS] = [sample.clone() for sample in data_batch['inputs']]
        rank = get_rank()
        subsets = self.drop(data_batch['inputs'], self._seed(runner), runner.iter, rank)
        self.last_subsets = subsets
        for s in subsets:
            self.counts[s] = self.counts.get(s, 0) + 1
        if self.record:
            path = osp.join(runner.work_dir, f'modality_dropout_rank{rank}.jsonl')
            with open(path, 'a') as f:
                f.write(json.dumps({'iter': runner.iter, 'subsets': [list(s) for s in subsets]})
                        + '\n')

    def after_train(self, runner) -> None:
        total = sum(self.counts.values())
        if total:
            freq = ', '.join(f"{'+'.join(s)}: {n / total:.3f}"
                             for s, n in sorted(self.counts.items(), key=lambda kv: -kv[1]))
            runner.logger.info(f'ModalityDropoutHook subset frequencies ({total} samples): {freq}')
