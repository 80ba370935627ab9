"""Channel LayerNorm for ``(B, C, H, W)`` maps, registered as ``'LN2d'``."""
import torch.nn.functional as F
from torch import Tensor, nn

from incomplete_fusion.registry import MODELS

__all__ = ['LayerNorm2d']


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channel dimension of a ``(B, C, H, W)`` map (ViTDet's LN2d)."""

    def forward(self, x: Tensor) -> Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias,
                         self.eps)
        return x.permute(0, 3, 1, 2)


# mmpretrain registers an equivalent 'LN2d' in its own child registry; the root
# registry (searched by mmdet/mmseg scopes) has none, so provide it there.
if 'LN2d' not in MODELS.module_dict:
    MODELS.register_module('LN2d', module=LayerNorm2d)
