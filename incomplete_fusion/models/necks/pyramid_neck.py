"""A ViTDet-style simple pyramid over the tapped stride-16 fusion maps.

The backbone is single-scale; Mask2Former wants strides 4, 8, 16, 32. As in
ViTDet's SimpleFPN (mmdet ``projects/ViTDet``), scales are made by two stride-2
transposed convs (x4), one (x2), identity and a 2x2 max-pool (/2), each followed
by a 1x1 lateral and a 3x3 output conv with norms. Unlike SimpleFPN, which
resamples only the last map, level ``i`` uses the ``i``-th tapped layer, so the
finer levels get the earlier, more local features (as BEiT/ViT segmentation
necks do).
"""
from typing import Sequence, Tuple, Union

from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from torch import Tensor, nn

from incomplete_fusion.registry import MODELS

from ..layers import norm  # noqa: F401  (registers 'LN2d')

__all__ = ['FusionPyramidNeck']


@MODELS.register_module()
class FusionPyramidNeck(BaseModule):
    """Four stride-``p`` maps -> strides ``p/4, p/2, p, 2p`` (4, 8, 16, 32 for p = 16).

    Args:
        in_channels: channels of every input map (the backbone's ``embed_dims``).
        out_channels: one int for all levels, or four ints (fine to coarse).
        norm_cfg: norm after the first deconv and in the 1x1/3x3 convs.
        num_inputs: 4, or 1 to build all levels from one map (plain SimpleFPN).
        init_cfg: mmengine init config.
    """

    def __init__(self, in_channels: int = 192,
                 out_channels: Union[int, Sequence[int]] = (96, 192, 384, 768),
                 norm_cfg: dict = dict(type='LN2d', eps=1e-6), num_inputs: int = 4,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(out_channels, int):
            out_channels = (out_channels, ) * 4
        if len(out_channels) != 4:
            raise ValueError(f'out_channels must be an int or 4 ints, got {out_channels}')
        if num_inputs not in (1, 4):
            raise ValueError(f'num_inputs must be 1 or 4, got {num_inputs}')
        if in_channels % 4:
            raise ValueError(f'in_channels must be divisible by 4, got {in_channels}')
        self.in_channels, self.out_channels, self.num_inputs = in_channels, tuple(out_channels), num_inputs
        c = in_channels
        self.rescale = nn.ModuleList([
            nn.Sequential(
                nn.ConvTranspose2d(c, c // 2, 2, 2), build_norm_layer(norm_cfg, c // 2)[1], nn.GELU(),
                nn.ConvTranspose2d(c // 2, c // 4, 2, 2)),
            nn.ConvTranspose2d(c, c // 2, 2, 2),
            nn.Identity(),
            nn.MaxPool2d(2, 2),
        ])
        level_channels = (c // 4, c // 2, c, c)
        self.lateral_convs = nn.ModuleList([
            ConvModule(level_channels[i], out_channels[i], 1, norm_cfg=norm_cfg, act_cfg=None)
            for i in range(4)
        ])
        self.output_convs = nn.ModuleList([
            ConvModule(out_channels[i], out_channels[i], 3, padding=1, norm_cfg=norm_cfg, act_cfg=None)
            for i in range(4)
        ])

    def forward(self, inputs: Sequence[Tensor]) -> Tuple[Tensor, ...]:
        if len(inputs) != self.num_inputs:
            raise ValueError(f'expected {self.num_inputs} input maps, got {len(inputs)}')
        maps = list(inputs) * 4 if self.num_inputs == 1 else list(inputs)
        return tuple(
            out(lateral(rescale(x)))
            for x, rescale, lateral, out in zip(maps, self.rescale, self.lateral_convs,
                                                self.output_convs))
