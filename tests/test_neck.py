"""FusionPyramidNeck: strides 4/8/16/32 from the tapped stride-16 maps."""
import pytest
import torch

from incomplete_fusion.models.necks import FusionPyramidNeck
from incomplete_fusion.registry import MODELS


@pytest.mark.parametrize('size', [256, 512])
def test_strides_and_channels_from_four_taps(size):
    neck = MODELS.build(dict(type='FusionPyramidNeck', in_channels=32, out_channels=(8, 16, 24, 40)))
    neck.init_weights()
    g = size // 16
    maps = [torch.randn(2, 32, g, g, requires_grad=True) for _ in range(4)]
    outs = neck(maps)
    assert [tuple(o.shape) for o in outs] == [(2, 8, size // 4, size // 4), (2, 16, size // 8, size // 8),
                                              (2, 24, size // 16, size // 16), (2, 40, size // 32, size // 32)]
    # level i is built from tap i only
    grads = torch.autograd.grad(outs[0].sum(), maps, allow_unused=True)
    assert grads[0] is not None and all(g is None for g in grads[1:])


def test_single_input_simple_fpn_and_int_channels():
    neck = FusionPyramidNeck(in_channels=16, out_channels=8, num_inputs=1)
    outs = neck([torch.randn(1, 16, 4, 6)])
    assert [tuple(o.shape[1:]) for o in outs] == [(8, 16, 24), (8, 8, 12), (8, 4, 6), (8, 2, 3)]
    with pytest.raises(ValueError):
        neck([torch.randn(1, 16, 4, 4)] * 4)
    with pytest.raises(ValueError):
        FusionPyramidNeck(in_channels=16, out_channels=(8, 8))


def test_backbone_and_neck_end_to_end():
    backbone = MODELS.build(dict(type='FusionViT', modality_specs=[dict(name='rgb', channels=3),
                                                                dict(name='sar', channels=1)],
                                 embed_dims=32, depth=4, num_heads=2, out_indices=(0, 1, 2, 3)))
    neck = MODELS.build(dict(type='FusionPyramidNeck', in_channels=32, out_channels=16))
    x = torch.randn(1, 4, 256, 256)
    x[:, 3:] = float('nan')  # SAR missing
    outs = neck(backbone(x))
    assert [o.shape[-1] for o in outs] == [64, 32, 16, 8]
    assert all(torch.isfinite(o).all() for o in outs)
