"""Fusion-token initialisation: ``fusion_init='modality_mean'`` gives fusion tokens a local
path at initialisation; the class default stays the paper's ``'learned'``; the shipped
configs follow the robustness study's decision."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from incomplete_fusion.models.backbones import FusionViT
from incomplete_fusion.models.layers.fusion_init import initial_fusion_tokens

SPECS3 = [dict(name='rgb', channels=3), dict(name='sar', channels=1), dict(name='dsm', channels=1)]
P = 4
CONFIGS = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), 'configs', 'fusionvit')


def multivit(fusion_init, seed=0, **kwargs):
    """MultiViT at initialisation (plain attention, no modality attention)."""
    torch.manual_seed(seed)
    cfg = dict(img_size=32, patch_size=P, embed_dims=32, depth=3, num_heads=2, mlp_ratio=2.0,
               out_indices=(2, ), masked_attention=False, modality_attention=False,
               fusion_init=fusion_init)
    cfg.update(kwargs)
    model = FusionViT(SPECS3, **cfg)
    model.init_weights()
    return model.double().eval()


def inputs(b=2, size=32, seed=0):
    return torch.randn(b, 5, size, size, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


@torch.no_grad()
def locality_ratio(model, x):
    """Change of the last fusion map at a bumped DSM patch / far from it."""
    bumped = x.clone()
    bumped[:, 4, 0:P, 0:P] += 3.0  # DSM patch (0, 0)
    change = (model(bumped)[-1] - model(x)[-1]).norm(dim=1)  # (B, 8, 8)
    return float(change[:, 0, 0].mean() / change[:, 4:, 4:].mean())


def test_modality_mean_gives_fusion_tokens_a_local_path_at_init():
    x = inputs()
    local = locality_ratio(multivit('modality_mean'), x)
    learned = locality_ratio(multivit('learned'), x)
    assert learned < 2.0, learned  # the collapse's cause: no local path at init
    assert local > 10.0 and local > 5 * learned, (local, learned)


def test_default_is_learned_and_ignores_the_input():
    assert FusionViT(SPECS3, img_size=16, patch_size=P, embed_dims=16, depth=1,
                     num_heads=2, out_indices=(0, )).fusion_init == 'learned'
    learned, pos = torch.randn(1, 2, 2, 8), torch.randn(4, 8)
    available = torch.ones(3, 2, 4, dtype=torch.bool)
    a = initial_fusion_tokens(learned, pos, torch.randn(3, 2, 4, 8), available)
    b = initial_fusion_tokens(learned, pos, torch.randn(3, 2, 4, 8), available)
    torch.testing.assert_close(a, (learned.flatten(1, 2) + pos).expand(3, -1, -1))
    torch.testing.assert_close(a, b)


def test_modality_mean_averages_present_tokens_only():
    learned, pos = torch.zeros(1, 1, 2, 4), torch.zeros(2, 4)
    embeds = torch.tensor([[[[1.0] * 4, [2.0] * 4], [[3.0] * 4, [100.0] * 4]]])  # (1, 2, 2, 4)
    available = torch.tensor([[[True, False], [True, False]]])  # location 1: nothing present
    out = initial_fusion_tokens(learned, pos, embeds, available, 'modality_mean')
    torch.testing.assert_close(out, torch.tensor([[[2.0] * 4, [0.0] * 4]]))


def test_modality_mean_absent_token_values_do_not_matter():
    model = multivit('modality_mean')
    x = inputs(b=1)
    x[:, 4, 0:P, 0:3] = float('nan')  # 3/4 of DSM patch (0, 0) missing: the token is absent
    y = x.clone()
    y[:, 4, 0:P, 3] += 50.0  # its remaining valid pixels change
    with torch.no_grad():
        torch.testing.assert_close(model(x)[-1], model(y)[-1])


def test_fusion_init_rejects_unknown_names():
    with pytest.raises(ValueError, match='fusion_init'):
        multivit('mean')


FUSIONVIT_CONFIGS = sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIGS, '*.py'))
    if not osp.basename(p).startswith('perceiverio'))


@pytest.mark.parametrize('name', FUSIONVIT_CONFIGS)
def test_shipped_configs_follow_the_decision(name):
    """The study's decision (docs/results.md#decision-fusion_init): every shipped
    FusionViT config starts the fusion tokens with 'modality_mean', except the one that
    keeps the paper's 'learned' for comparison."""
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    backbone = cfg.model.backbone
    if backbone.type == 'FillInBackbone':
        backbone = backbone.backbone
    expected = 'learned' if name.endswith('_paper-init.py') else 'modality_mean'
    assert backbone.type == 'FusionViT' and backbone.fusion_init == expected


def test_paper_init_differs_from_the_default_in_one_key():
    default = Config.fromfile(osp.join(CONFIGS, 'mask2former_dfc2023_semantic.py')).to_dict()
    paper = Config.fromfile(osp.join(CONFIGS, 'mask2former_dfc2023_semantic_paper-init.py'))
    paper = paper.to_dict()
    assert paper['model']['backbone'].pop('fusion_init') == 'learned'
    assert default['model']['backbone'].pop('fusion_init') == 'modality_mean'
    assert paper == default
