"""The plugin works from *stock* mm configs through ``custom_imports`` alone."""
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

MODALITY_SPECS = [dict(name='rgb', channels=3), dict(name='sar', channels=1),
                  dict(name='dsm', channels=1)]
TINY_BACKBONE = dict(type='FusionViT', modality_specs=MODALITY_SPECS, img_size=64, embed_dims=32,
                     depth=4, num_heads=2, out_indices=(0, 1, 2, 3))
TINY_NECK = dict(type='FusionPyramidNeck', in_channels=32, out_channels=(32, 32, 32, 32))


def test_import_is_quiet():
    """``import incomplete_fusion`` prints nothing (no warnings, no banners)."""
    result = subprocess.run([sys.executable, '-W', 'error::DeprecationWarning:incomplete_fusion',
                             '-c', 'import incomplete_fusion'], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == '' and result.stderr == ''


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_registries_of_every_scope_find_our_components(scope):
    import importlib

    import incomplete_fusion  # noqa: F401
    registry = importlib.import_module(f'{scope}.registry')
    for name in ('FusionViT', 'FusionPyramidNeck'):
        assert registry.MODELS.get(name) is not None, f'{scope} cannot find {name}'
    assert registry.TRANSFORMS.get('LoadMultimodalImages') is not None
    assert registry.HOOKS.get('ModalityDropoutHook') is not None


def _stock_config_with_plugin(base: str) -> Config:
    return Config.fromstring(
        f"_base_ = ['{base}']\n"
        "custom_imports = dict(imports=['incomplete_fusion'], allow_failed_imports=False)\n",
        file_format='.py')


@pytest.mark.parametrize('scope, base, head', [
    ('mmdet', 'mmdet::mask2former/mask2former_r50_8xb2-lsj-50e_coco.py', 'panoptic_head'),
    ('mmseg', 'mmseg::mask2former/mask2former_r50_8xb2-90k_cityscapes-512x1024.py', 'decode_head'),
])
def test_stock_mask2former_config_with_fusion_vit(scope, base, head):
    import importlib

    from mmengine.utils import import_modules_from_strings
    importlib.import_module(f'{scope}.utils').register_all_modules()
    cfg = _stock_config_with_plugin(base)
    import_modules_from_strings(**cfg.custom_imports)
    cfg.model.backbone = TINY_BACKBONE
    cfg.model.neck = TINY_NECK
    cfg.model[head].in_channels = [32, 32, 32, 32]
    model = importlib.import_module(f'{scope}.registry').MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'FusionViT'
    feats = model.extract_feat(torch.randn(1, 5, 64, 64))
    assert [f.shape[-1] for f in feats] == [16, 8, 4, 2]
