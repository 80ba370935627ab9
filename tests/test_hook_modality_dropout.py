"""ModalityDropoutHook: subset statistics per mode, determinism, in-place NaN."""
from collections import Counter
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from incomplete_fusion.engine.hooks import (ModalityDropoutHook, draw_subset,
                                            subset_probabilities)
from incomplete_fusion.binding import ModalitiesNotBoundError
from incomplete_fusion.modalities import ModalitySet, nonempty_subsets

SPECS = [dict(name='rgb', channels=3), dict(name='sar', channels=1), dict(name='dsm', channels=1)]
NAMES = ('rgb', 'sar', 'dsm')



def bound_hook(active=None, **kwargs) -> ModalityDropoutHook:
    """The hook with the run's modalities bound, as the loops do."""
    hook = ModalityDropoutHook(**kwargs)
    hook.bind_modalities(ModalitySet.from_config(SPECS, active))
    return hook


def test_unbound_hook_fails_before_training_with_what_to_add():
    with pytest.raises(ModalitiesNotBoundError, match='ModalityIterBasedTrainLoop'):
        ModalityDropoutHook().before_train(SimpleNamespace(iter=0, seed=0))

def draws(mode, keep_all_prob=0.0, seed=0, n_iters=500, batch=8, rank=0, names=NAMES):
    return Counter(draw_subset(names, mode, keep_all_prob, seed, it, rank, i)
                   for it in range(n_iters) for i in range(batch))


def chi2_pvalue(counts, probs):
    subsets = list(probs)
    observed = np.array([counts.get(s, 0) for s in subsets], float)
    expected = np.array([probs[s] for s in subsets]) * observed.sum()
    assert set(counts) <= set(subsets), 'drew a subset with probability 0'
    return chisquare(observed, expected).pvalue


@pytest.mark.parametrize('mode,keep_all_prob', [('uniform_subset', 0.0), ('uniform_size', 0.0),
                                                ('uniform_subset', 0.5)])
def test_subset_frequencies_match_mode(mode, keep_all_prob):
    counts = draws(mode, keep_all_prob)
    probs = subset_probabilities(NAMES, mode, keep_all_prob)
    assert sum(probs.values()) == pytest.approx(1.0)
    assert chi2_pvalue(counts, probs) > 1e-3
    assert set(counts) == set(nonempty_subsets(NAMES))  # every subset occurs, never the empty one


def test_modes_are_distinguishable():
    """The statistical check has power: uniform_size draws do NOT fit uniform_subset."""
    counts = draws('uniform_size')
    assert chi2_pvalue(counts, subset_probabilities(NAMES, 'uniform_subset')) < 1e-6
    # uniform_size keeps all three with probability 1/3, uniform_subset with 1/7
    total = sum(counts.values())
    assert counts[NAMES] / total == pytest.approx(1 / 3, abs=0.03)
    assert draws('uniform_subset')[NAMES] / total == pytest.approx(1 / 7, abs=0.03)


def test_four_modalities_give_fifteen_subsets():
    names = ('s1', 's2', 'dem', 'dw')
    counts = draws('uniform_subset', names=names, n_iters=300)
    assert len(counts) == 15
    assert chi2_pvalue(counts, subset_probabilities(names, 'uniform_subset')) > 1e-3


def test_draws_depend_only_on_seed_iteration_rank_index():
    a = [draw_subset(NAMES, 'uniform_subset', 0.0, 7, it, r, i)
         for it in range(20) for r in range(2) for i in range(4)]
    b = [draw_subset(NAMES, 'uniform_subset', 0.0, 7, it, r, i)
         for it in range(20) for r in range(2) for i in range(4)]
    assert a == b
    # each of the four ints changes the stream
    base = [draw_subset(NAMES, 'uniform_subset', 0.0, 7, it, 0, 0) for it in range(40)]
    for changed in ([draw_subset(NAMES, 'uniform_subset', 0.0, 8, it, 0, 0) for it in range(40)],
                    [draw_subset(NAMES, 'uniform_subset', 0.0, 7, it, 1, 0) for it in range(40)],
                    [draw_subset(NAMES, 'uniform_subset', 0.0, 7, it, 0, 1) for it in range(40)],
                    [draw_subset(NAMES, 'uniform_subset', 0.0, 7, it + 1, 0, 0)
                     for it in range(40)]):
        assert changed != base


def _batch(n=4, h=8, w=8):
    return dict(inputs=[torch.randn(5, h, w) for _ in range(n)], data_samples=[None] * n)


def test_hook_nans_dropped_modalities_in_place():
    hook = bound_hook(seed=3)
    runner = SimpleNamespace(iter=5, seed=None)
    batch = _batch()
    originals = [t.clone() for t in batch['inputs']]
    hook.before_train_iter(runner, 0, batch)
    slices = dict(rgb=slice(0, 3), sar=slice(3, 4), dsm=slice(4, 5))
    assert len(hook.last_subsets) == 4
    for sample, original, kept in zip(batch['inputs'], originals, hook.last_subsets):
        assert kept  # never empty
        for name, sl in slices.items():
            if name in kept:
                assert torch.equal(sample[sl], original[sl])
            else:
                assert torch.isnan(sample[sl]).all()
    assert hook.last_subsets == [draw_subset(NAMES, 'uniform_subset', 0.0, 3, 5, 0, i)
                                 for i in range(4)]


def test_hook_draws_only_from_active_modalities_and_nans_inactive():
    hook = bound_hook(['sar', 'dsm'], seed=0)
    counts = Counter()
    for it in range(60):
        batch = _batch()
        hook.before_train_iter(SimpleNamespace(iter=it, seed=None), it, batch)
        for sample, kept in zip(batch['inputs'], hook.last_subsets):
            assert torch.isnan(sample[0:3]).all()  # rgb inactive: always missing
            counts[kept] += 1
    assert set(counts) == {('sar', ), ('dsm', ), ('sar', 'dsm')}


def test_hook_seed_defaults_to_runner_seed():
    a, b = bound_hook(), bound_hook()
    a.before_train_iter(SimpleNamespace(iter=0, seed=11), 0, _batch(16))
    b.before_train_iter(SimpleNamespace(iter=0, seed=11), 0, _batch(16))
    assert a.last_subsets == b.last_subsets
    b.before_train_iter(SimpleNamespace(iter=0, seed=12), 0, _batch(16))
    assert a.last_subsets != b.last_subsets


def test_hook_rejects_bad_arguments_and_integer_images():
    with pytest.raises(ValueError, match='mode'):
        ModalityDropoutHook(mode='bernoulli')
    with pytest.raises(ValueError, match='keep_all_prob'):
        ModalityDropoutHook(keep_all_prob=1.5)
    with pytest.raises(ValueError, match='declared'):
        bound_hook(['lidar'])
    hook = bound_hook()
    with pytest.raises(TypeError, match='floating'):
        hook.before_train_iter(SimpleNamespace(iter=0, seed=0), 0,
                               dict(inputs=[torch.zeros(5, 4, 4, dtype=torch.uint8)]))


def test_hook_does_nothing_outside_training():
    """Validation/test hooks are not implemented: the stock no-op Hook methods apply."""
    from mmengine.hooks import Hook
    for name in ('before_val_iter', 'before_test_iter'):
        assert getattr(ModalityDropoutHook, name) is getattr(Hook, name)
