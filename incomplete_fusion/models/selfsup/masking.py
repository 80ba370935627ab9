"""MultiMAE-style token masking across modalities.

A fixed fraction of all *present* modality tokens of a sample stays visible; how
that visible budget is split between modalities is drawn from a symmetric
Dirichlet(alpha), so the encoder sees every mixture from "almost only SAR" to
"almost only RGB" (MultiMAE).  Absent tokens (NaN patches, missing modalities)
are never visible and do not count towards the budget, so samples that already
lack a sensor are masked consistently with the rest.

Strategies:

* ``independent`` - each modality draws its visible locations on its own.
* ``consistent`` - one random priority over locations per sample, shared by all
  modalities; every modality keeps its highest-priority available locations.
  Visible sets are therefore nested across modalities, and *identical* when the
  modalities have equal counts and availability (``dirichlet_alpha=None`` gives
  equal shares: FusionX-Net's consistent masking).
"""
import math
from typing import Dict, Mapping, Optional

import numpy as np
import torch
from torch import Tensor

from incomplete_fusion.registry import MODELS

STRATEGIES = ('independent', 'consistent')


def allocate_counts(budget: int, shares: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Split ``budget`` tokens between modalities as close to ``shares`` as the
    ``capacity`` (available tokens per modality) allows; the sum is exact.

    Largest-remainder rounding; a modality that cannot take its share is filled
    up and the overflow is re-split among the others in proportion to their shares.
    """
    capacity = np.asarray(capacity, dtype=np.int64)
    if budget > int(capacity.sum()):
        raise ValueError(f'budget {budget} exceeds the {int(capacity.sum())} available tokens')
    counts = np.zeros_like(capacity)
    remaining = int(budget)
    while remaining > 0:
        room = capacity - counts
        open_ = room > 0
        weights = np.where(open_, np.asarray(shares, dtype=np.float64), 0.0)
        if weights.sum() <= 0:  # all open shares are zero: fall back to the room left
            weights = room.astype(np.float64)
        ideal = weights / weights.sum() * remaining
        add = np.floor(ideal).astype(np.int64)
        leftover = remaining - int(add.sum())
        if leftover > 0:
            fractional = np.where(open_, ideal - add, -1.0)
            # stable order: ties go to the earlier-declared modality
            for idx in np.argsort(-fractional, kind='stable')[:leftover]:
                add[idx] += 1
        add = np.minimum(add, room)
        counts += add
        remaining -= int(add.sum())
    return counts


@MODELS.register_module()
class MultiModalMaskGenerator:
    """Draw which modality tokens the encoder sees during masked pretraining.

    Args:
        visible_fraction: fraction of a sample's present tokens (all modalities
            together) that stay visible. The count is exact:
            :meth:`num_visible`.
        dirichlet_alpha: concentration of the symmetric Dirichlet the
            per-modality shares of the visible budget are drawn from; ``None``
            gives equal shares.
        strategy: ``'independent'`` or ``'consistent'`` (see module docstring).
    """

    def __init__(self,
                 visible_fraction: float = 0.5,
                 dirichlet_alpha: Optional[float] = 1.0,
                 strategy: str = 'independent'):
        if not 0.0 < visible_fraction <= 1.0:
            raise ValueError(f'visible_fraction must be in (0, 1], got {visible_fraction}')
        if dirichlet_alpha is not None and dirichlet_alpha <= 0:
            raise ValueError(f'dirichlet_alpha must be > 0 or None, got {dirichlet_alpha}')
        if strategy not in STRATEGIES:
            raise ValueError(f'strategy must be one of {STRATEGIES}, got {strategy!r}')
        self.visible_fraction = float(visible_fraction)
        self.dirichlet_alpha = dirichlet_alpha
        self.strategy = strategy

    def num_visible(self, num_present: int) -> int:
        """Visible tokens for a sample with ``num_present`` present tokens:
        ``round(visible_fraction * num_present)``, at least one if any is present."""
        if num_present <= 0:
            return 0
        return int(min(num_present, max(1, math.floor(self.visible_fraction * num_present + 0.5))))

    def _draw_shares(self, present: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """(B, M) shares summing to one over each sample's present modalities."""
        if self.dirichlet_alpha is None:
            raw = present.astype(np.float64)
        else:  # Dirichlet via normalised Gamma draws restricted to present modalities
            raw = rng.gamma(self.dirichlet_alpha, size=present.shape) * present
            degenerate = raw.sum(axis=1) <= 0  # tiny alpha can underflow to all zeros
            raw[degenerate] = present[degenerate]
        total = raw.sum(axis=1, keepdims=True)
        return np.divide(raw, total, out=np.zeros_like(raw), where=total > 0)

    def __call__(self,
                 available: Mapping[str, Tensor],
                 generator: Optional[torch.Generator] = None) -> Dict[str, Tensor]:
        """Return ``visible[name]``: BoolTensor(B, L), a subset of ``available``.

        Randomness comes from ``generator`` (a CPU ``torch.Generator``) or, if
        None, from torch's global RNG, so mmengine's seeding makes runs repeatable.
        """
        names = list(available)
        if not names:
            raise ValueError('no modalities given')
        device = available[names[0]].device
        avail = torch.stack([available[n].detach().to('cpu', torch.bool) for n in names], dim=1)
        batch, num_mod, length = avail.shape
        capacity = avail.sum(dim=2).numpy().astype(np.int64)  # (B, M)

        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        rng = np.random.default_rng(seed)
        shares = self._draw_shares(capacity > 0, rng)
        counts = np.stack([
            allocate_counts(self.num_visible(int(capacity[b].sum())), shares[b], capacity[b])
            for b in range(batch)
        ])  # (B, M)

        if self.strategy == 'consistent':
            scores = torch.rand(batch, 1, length, generator=generator).expand(-1, num_mod, -1)
        else:
            scores = torch.rand(batch, num_mod, length, generator=generator)
        scores = scores.masked_fill(~avail, 2.0)  # unavailable tokens rank last
        rank = scores.argsort(dim=2).argsort(dim=2)
        visible = (rank < torch.from_numpy(counts)[..., None]) & avail
        return {n: visible[:, i].to(device) for i, n in enumerate(names)}

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(visible_fraction={self.visible_fraction}, '
                f'dirichlet_alpha={self.dirichlet_alpha}, strategy={self.strategy!r})')
