"""MultiMAE masking and PatchDropout (one token-budget sampler): exact visible counts,
Dirichlet shares, consistent locations, absences."""
import numpy as np
import pytest
import torch

from incomplete_fusion.models.layers import PatchDropout, allocate_counts, budget_of
from incomplete_fusion.models.selfsup.masking import MultiModalMaskGenerator

NAMES = ('rgb', 'sar', 'dsm')


def full(batch, length):
    return {n: torch.ones(batch, length, dtype=torch.bool) for n in NAMES}


def counts_of(visible):
    return torch.stack([visible[n].sum(1) for n in NAMES], 1)


def test_visible_count_is_exact_and_subset_of_available():
    gen = MultiModalMaskGenerator(visible_fraction=0.5)
    g = torch.Generator().manual_seed(0)
    available = full(64, 16)
    # ragged availability: sar lacks a stripe, dsm missing for every third sample,
    # one sample has only 3 rgb tokens
    available['sar'][:, :5] = False
    available['dsm'][::3] = False
    available['rgb'][7] = False
    available['rgb'][7, :3] = True
    available['sar'][7] = False
    available['dsm'][7] = False
    visible = gen(available, generator=g)
    present = counts_of(available).sum(1)
    expected = torch.tensor([gen.num_visible(int(p)) for p in present])
    assert torch.equal(counts_of(visible).sum(1), expected)
    assert int(expected[7]) == 2  # round(0.5 * 3) with half up
    for n in NAMES:
        assert not (visible[n] & ~available[n]).any(), 'a visible token that is not available'
    assert not visible['dsm'][::3].any()


def test_num_visible_rounding_and_minimum():
    gen = MultiModalMaskGenerator(visible_fraction=0.25)
    assert [gen.num_visible(n) for n in (0, 1, 2, 4, 6, 10)] == [0, 1, 1, 1, 2, 3]


@pytest.mark.parametrize('alpha', [1.0, 0.2, 10.0])
def test_dirichlet_shares_match_theory(alpha):
    """With capacity never binding, the per-modality share of the visible budget is a
    Dirichlet(alpha) draw up to rounding: mean 1/M, variance (M-1)/(M^2 (M alpha + 1))."""
    gen = MultiModalMaskGenerator(visible_fraction=0.1, dirichlet_alpha=alpha)
    visible = gen(full(4000, 256), generator=torch.Generator().manual_seed(1))
    counts = counts_of(visible).double()
    assert torch.all(counts.sum(1) == 77)
    shares = counts / counts.sum(1, keepdim=True)
    m = len(NAMES)
    expected_var = (m - 1) / (m**2 * (m * alpha + 1))
    assert torch.allclose(shares.mean(0), torch.full((m, ), 1 / m, dtype=torch.double), atol=0.02)
    np.testing.assert_allclose(shares.var(0).numpy(), expected_var, rtol=0.1)


def test_equal_shares_without_dirichlet():
    gen = MultiModalMaskGenerator(visible_fraction=0.5, dirichlet_alpha=None)
    visible = gen(full(10, 16), generator=torch.Generator().manual_seed(0))
    assert torch.all(counts_of(visible) == 8)


def test_consistent_strategy_shares_locations():
    available = full(500, 16)
    g = torch.Generator().manual_seed(2)
    # equal shares: identical visible locations in every modality
    same = MultiModalMaskGenerator(0.5, dirichlet_alpha=None, strategy='consistent')(available, g)
    assert torch.equal(same['rgb'], same['sar']) and torch.equal(same['rgb'], same['dsm'])
    # Dirichlet shares: one location priority, so the visible sets are nested
    nested = MultiModalMaskGenerator(0.5, strategy='consistent')(available, g)
    for a in NAMES:
        for b in NAMES:
            smaller = nested[a].sum(1) <= nested[b].sum(1)
            assert not (nested[a] & ~nested[b])[smaller].any()
    # the independent strategy does not share locations
    indep = MultiModalMaskGenerator(0.5, dirichlet_alpha=None)(available, g)
    assert not torch.equal(indep['rgb'], indep['sar'])
    # every location is equally likely to be visible (no positional bias)
    freq = same['rgb'].double().mean(0)
    assert torch.allclose(freq, torch.full_like(freq, 0.5), atol=0.1)


def test_seeded_generator_repeats_and_differs():
    gen = MultiModalMaskGenerator()
    a = gen(full(8, 16), torch.Generator().manual_seed(5))
    b = gen(full(8, 16), torch.Generator().manual_seed(5))
    c = gen(full(8, 16), torch.Generator().manual_seed(6))
    assert all(torch.equal(a[n], b[n]) for n in NAMES)
    assert not all(torch.equal(a[n], c[n]) for n in NAMES)


def allocate(budget, shares, capacity):
    return allocate_counts(torch.tensor([budget]), torch.tensor([shares], dtype=torch.float64),
                           torch.tensor([capacity]))[0].tolist()


def test_allocate_counts_respects_capacity_and_sum():
    counts = allocate(10, [0.9, 0.05, 0.05], [3, 8, 8])
    assert counts[0] == 3 and sum(counts) == 10 and counts[1] <= 8
    # largest remainder, ties to the earlier modality
    assert allocate(5, [0.5, 0.5], [8, 8]) == [3, 2]
    # the whole share on a modality without tokens: the budget goes where there is room
    assert allocate(4, [0.0, 1.0], [4, 0]) == [4, 0]
    # rows are independent
    rows = allocate_counts(torch.tensor([3, 0]), torch.tensor([[1.0, 0.0], [0.5, 0.5]]),
                           torch.tensor([[1, 5], [0, 0]]))
    assert rows.tolist() == [[1, 2], [0, 0]]
    with pytest.raises(ValueError):
        allocate(20, [0.5, 0.5], [4, 4])


def test_patch_dropout_draws_with_the_same_sampler():
    """PatchDropout keeps exactly the masking budget (round half up) per sample."""
    torch.manual_seed(0)
    available = torch.rand(64, 3, 50) > 0.2
    available[:8, 1] = False
    for alpha in (1.0, 0.01):
        kept = PatchDropout(keep_ratio=0.9, alpha=alpha).train()(available)
        assert not (kept & ~available).any()
        assert torch.equal(kept.sum((1, 2)), budget_of(available.sum((1, 2)), 0.9))
    torch.manual_seed(3)
    a = PatchDropout(0.5).train()(available)
    torch.manual_seed(3)
    assert torch.equal(a, PatchDropout(0.5).train()(available))  # global RNG: seeded runs repeat


def test_bad_arguments():
    with pytest.raises(ValueError):
        MultiModalMaskGenerator(visible_fraction=0.0)
    with pytest.raises(ValueError):
        MultiModalMaskGenerator(strategy='random')
    with pytest.raises(ValueError):
        MultiModalMaskGenerator(dirichlet_alpha=-1)
