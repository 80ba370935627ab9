"""What every token backbone of this package shares about its input.

FusionViT and the PerceiverIO baseline take the same tensor (``(B, C, H, W)``,
the declared modalities' channels concatenated, NaN = missing) and derive the
same per-patch availability from it. Keeping that in one mixin means one NaN
rule, one set of input checks and one wording of their errors.
"""
from typing import Dict, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor

from incomplete_fusion.binding import DeclaredModalities
from incomplete_fusion.modalities import channel_slices, total_channels

from ..layers.patch_embed import patch_availability, valid_pixels

Size2 = Union[int, Tuple[int, int]]


def pair(value: Size2) -> Tuple[int, int]:
    """``256`` -> ``(256, 256)``; a pair stays a pair of ints."""
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def checked_out_indices(out_indices: Sequence[int], depth: int) -> Tuple[int, ...]:
    """Sorted, non-negative layer indices; negative ones count from the end."""
    if not out_indices or any(not -depth <= i < depth for i in out_indices):
        raise ValueError(f'out_indices {tuple(out_indices)} out of range for depth {depth}')
    return tuple(sorted({i % depth for i in out_indices}))


class PatchTokenInputs(DeclaredModalities):
    """Declared modalities, input checks and the NaN availability rule of a token backbone."""

    def declare_inputs(self, modality_specs: Sequence[Union[Mapping, object]], img_size: Size2,
                       patch_size: int, min_valid_fraction: float) -> None:
        """Set ``specs``, ``names``, ``slices``, ``in_channels``, ``patch_size``,
        ``img_size``, ``grid_size`` and ``min_valid_fraction``, checking each."""
        self.specs = self.declare(modality_specs)
        self.names = tuple(s.name for s in self.specs)
        self.slices = channel_slices(self.specs)
        self.in_channels = total_channels(self.specs)
        self.patch_size = int(patch_size)
        self.img_size = pair(img_size)
        if any(s % self.patch_size for s in self.img_size):
            raise ValueError(f'img_size {self.img_size} not divisible by patch_size {patch_size}')
        self.grid_size = (self.img_size[0] // self.patch_size, self.img_size[1] // self.patch_size)
        if not 0.0 < min_valid_fraction <= 1.0:
            raise ValueError(f'min_valid_fraction must be in (0, 1], got {min_valid_fraction}')
        self.min_valid_fraction = min_valid_fraction

    def _check_inputs(self, inputs: Tensor) -> Tuple[int, int]:
        """The patch grid of ``inputs``; a clear error for a wrong shape."""
        if inputs.dim() != 4 or inputs.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects (B, {self.in_channels}, H, W) with '
                             f'the channels of {list(self.names)} concatenated, got '
                             f'{tuple(inputs.shape)}')
        h, w = inputs.shape[-2:]
        if h % self.patch_size or w % self.patch_size:
            raise ValueError(f'input size {(h, w)} not divisible by patch_size {self.patch_size}')
        return h // self.patch_size, w // self.patch_size

    def _valid_pixels(self, inputs: Tensor) -> Dict[str, Tensor]:
        return {s.name: valid_pixels(inputs[:, self.slices[s.name]], s) for s in self.specs}

    def _available(self, valid: Mapping[str, Tensor],
                   visible: Optional[Mapping[str, Tensor]] = None) -> Dict[str, Tensor]:
        """Per modality ``(B, L)`` bool from valid pixels, ANDed with ``visible``."""
        unknown = set(visible or {}) - set(self.names)
        if unknown:
            raise ValueError(f'visible has unknown modalities {sorted(unknown)}; '
                             f'declared: {list(self.names)}')
        available = {}
        for name in self.names:
            avail = patch_availability(valid[name], self.patch_size, self.min_valid_fraction)
            if visible is not None and name in visible:
                avail = avail & visible[name].to(device=avail.device, dtype=torch.bool)
            available[name] = avail
        return available

    def availability(self, inputs: Tensor) -> Dict[str, Tensor]:
        """Per modality ``(B, L)`` bool: enough finite pixels in the patch (NaN rule)."""
        self._check_inputs(inputs)
        return self._available(self._valid_pixels(inputs))
