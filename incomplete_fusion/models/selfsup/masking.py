"""MultiMAE-style token masking across modalities.

A fixed fraction of each sample's *present* modality tokens stays visible, split
between modalities by a symmetric Dirichlet(alpha) draw
(:mod:`~incomplete_fusion.models.layers.token_budget`). Absent tokens are never
visible and do not count towards the budget. ``independent``: each modality draws
its visible locations on its own; ``consistent``: one priority over locations per
sample, shared by all modalities (nested visible sets, identical with equal
shares and availability).
See docs/advanced_guides/pretraining.md#what-one-pretraining-step-does-multimae-incomplete_fusionmodelsselfsup.
"""
from typing import Dict, Mapping, Optional

import torch
from torch import Tensor

from incomplete_fusion.registry import MODELS
from ..layers.token_budget import STRATEGIES, budget_of, keep_token_budget


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
        return int(budget_of(torch.tensor(num_present), self.visible_fraction))

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
        avail = torch.stack([available[n].detach().bool() for n in names], dim=1)
        visible = keep_token_budget(avail, self.visible_fraction, self.dirichlet_alpha,
                                    self.strategy, generator)
        return {n: visible[:, i] for i, n in enumerate(names)}

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(visible_fraction={self.visible_fraction}, '
                f'dirichlet_alpha={self.dirichlet_alpha}, strategy={self.strategy!r})')
