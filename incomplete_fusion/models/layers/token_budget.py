"""Keep a budget of each sample's present tokens, split between modalities.

The one sampler behind PatchDropout and MultiMAE masking. Per sample of an
``(B, M, L)`` availability mask: a budget of ``round(fraction * present)`` tokens
(:func:`budget_of`), shares from a symmetric Dirichlet(``alpha``) draw over the
present modalities (:func:`dirichlet_shares`), counts that follow the shares as
far as each modality's present tokens allow and sum exactly to the budget
(:func:`allocate_counts`), then ``count`` present tokens per modality at random.
Repeatable with a CPU ``torch.Generator``; otherwise torch's global RNG.
See docs/advanced_guides/backbone.md#missing-data.
"""
from typing import Optional

import numpy as np
import torch
from torch import Tensor

__all__ = ['STRATEGIES', 'budget_of', 'dirichlet_shares', 'allocate_counts', 'keep_token_budget']

STRATEGIES = ('independent', 'consistent')


def budget_of(num_present: Tensor, fraction: float) -> Tensor:
    """``round(fraction * n)`` (half up), at least 1 when ``n > 0``, at most ``n``."""
    n = num_present.to(torch.float64)
    budget = torch.floor(fraction * n + 0.5)
    return torch.minimum(torch.maximum(budget, (n > 0).to(n.dtype)), n).long()


def dirichlet_shares(present: Tensor, alpha: Optional[float],
                     generator: Optional[torch.Generator] = None) -> Tensor:
    """``(B, M)`` float64 shares summing to one over each row's ``present`` modalities
    (all zero for a row without any)."""
    weights = present.to(torch.float64)
    seed = int(torch.randint(0, 2**62, (1, ), generator=generator))  # drawn with or without alpha
    if alpha is not None:
        gamma = np.random.default_rng(seed).gamma(alpha, size=tuple(present.shape))
        raw = torch.from_numpy(gamma).to(present.device) * weights
        # a tiny alpha can underflow a whole row to zero: fall back to equal shares
        weights = torch.where(raw.sum(1, keepdim=True) > 0, raw, weights)
    total = weights.sum(1, keepdim=True)
    return weights / total.clamp_min(1e-300)


def allocate_counts(budget: Tensor, shares: Tensor, capacity: Tensor) -> Tensor:
    """Split ``budget`` ``(B,)`` tokens between modalities as close to ``shares``
    ``(B, M)`` as ``capacity`` ``(B, M)`` allows; each row sums exactly to its budget.

    Largest-remainder rounding (ties go to the earlier-declared modality); the
    overflow of a full modality is re-split among the others in proportion to
    their shares (or to their room when all their shares are zero).
    """
    capacity = capacity.long()
    budget = budget.long().reshape(-1)
    if (budget > capacity.sum(1)).any():
        raise ValueError(f'budget {budget.tolist()} exceeds the available tokens '
                         f'{capacity.sum(1).tolist()}')
    shares = shares.to(torch.float64)
    counts = torch.zeros_like(capacity)
    # every round either places the whole remainder or fills at least one modality
    for _ in range(capacity.shape[1] + 1):
        remaining = budget - counts.sum(1)
        room = capacity - counts
        open_ = room > 0
        weights = shares * open_
        no_share = weights.sum(1, keepdim=True) <= 0
        weights = torch.where(no_share, room.to(torch.float64), weights)
        ideal = weights / weights.sum(1, keepdim=True).clamp_min(1e-300) * remaining[:, None]
        add = ideal.floor()
        leftover = remaining - add.sum(1).long()
        fractional = torch.where(open_, ideal - add, torch.full_like(ideal, -1.0))
        order = torch.sort(fractional, dim=1, descending=True, stable=True).indices
        rank = torch.empty_like(order).scatter_(1, order, torch.arange(
            order.shape[1], device=order.device).expand_as(order))
        add = add.long() + (rank < leftover[:, None]).long()
        counts += torch.minimum(add, room)
    return counts


def keep_token_budget(available: Tensor, fraction: float, alpha: Optional[float] = 1.0,
                      strategy: str = 'independent',
                      generator: Optional[torch.Generator] = None) -> Tensor:
    """``(B, M, L)`` bool available -> ``(B, M, L)`` bool kept, a subset holding
    :func:`budget_of` tokens per sample (see the module docstring)."""
    if strategy not in STRATEGIES:
        raise ValueError(f'strategy must be one of {STRATEGIES}, got {strategy!r}')
    batch, num_mod, length = available.shape
    capacity = available.sum(-1)  # (B, M)
    budget = budget_of(capacity.sum(-1), fraction)
    counts = allocate_counts(budget, dirichlet_shares(capacity > 0, alpha, generator), capacity)
    source = available.device if generator is None else generator.device
    if strategy == 'consistent':
        scores = torch.rand(batch, 1, length, generator=generator, device=source)
        scores = scores.expand(-1, num_mod, -1)
    else:
        scores = torch.rand(batch, num_mod, length, generator=generator, device=source)
    scores = scores.to(available.device).masked_fill(~available, 2.0)  # absent rank last
    rank = scores.argsort(dim=-1).argsort(dim=-1)
    return available & (rank < counts[..., None])
