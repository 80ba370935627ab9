"""Keep a budget of each sample's present tokens, split between modalities by a
Dirichlet share: the one sampler behind PatchDropout (training-time token
dropping) and MultiMAE masking (the visible tokens of masked pretraining).

For each sample of an ``(B, M, L)`` availability mask:

1. **Budget** - ``round(fraction * present)`` tokens, all modalities together
   (half up, at least one when any is present): :func:`budget_of`.
2. **Shares** - a symmetric Dirichlet(``alpha``) draw over the sample's present
   modalities (``alpha=None``: equal shares): :func:`dirichlet_shares`.
3. **Counts** - the budget split as close to the shares as the capacity (present
   tokens per modality) allows, summing exactly to the budget; a modality that
   cannot take its share is filled and the excess goes to the others in
   proportion to their shares: :func:`allocate_counts`.
4. **Tokens** - each modality keeps ``count`` of its present tokens at random;
   ``strategy='consistent'`` ranks locations by one priority shared by all
   modalities (nested visible sets, identical with equal shares and counts).

Randomness: a CPU ``torch.Generator`` when given (repeatable masks), else
torch's global RNG (seeded by mmengine's ``randomness``). The Dirichlet draw is
NumPy's Gamma sampler seeded from that torch RNG (torch's Gamma sampler takes
no generator); it needs no device synchronisation.
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
