"""``--preset``: partial config files merged over a config, in order, before ``--cfg-options``."""
import os.path as osp

from mmengine.config import Config

from incomplete_fusion.utils import load_config
from incomplete_fusion.testing.tiny import load_tool

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG = osp.join(REPO, 'configs/fusionvit/mask2former_dfc2023_semantic.py')
PRESET = osp.join(REPO, 'configs/demo/cpu_preset.py')


def test_preset_is_merged_before_cfg_options(tmp_path):
    plain = load_config(CONFIG)
    cfg = load_config(CONFIG, {'train_cfg.max_iters': 7}, [PRESET])
    preset = Config.fromfile(PRESET)
    assert plain.model.backbone.depth == 12 and cfg.model.backbone.depth == preset.model.backbone.depth
    assert cfg.model.backbone.img_size == preset.crop_size
    assert cfg.model.backbone.embed_dims == plain.model.backbone.embed_dims  # kept from the config
    assert cfg.train_cfg.max_iters == 7  # cfg-options win over the preset
    second = tmp_path / 'second.py'
    second.write_text('model = dict(backbone=dict(depth=3))\n')
    assert load_config(CONFIG, None, [PRESET, str(second)]).model.backbone.depth == 3


def test_train_and_test_tools_take_presets():
    for tool in ('train', 'test'):
        module = load_tool(tool)
        extra = [] if tool == 'train' else ['model.pth']
        args = module.parse_args([CONFIG, *extra, '--preset', PRESET])
        assert args.preset == [PRESET]
        assert module.parse_args([CONFIG, *extra]).preset == []
