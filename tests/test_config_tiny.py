"""Tiny, fast versions of the shipped configs for end-to-end tests (64x64, depth 4, dims 32).

The shipped config is loaded, only sizes/iterations/workers are shrunk, and the
result is dumped as a standalone config file that the real tools then run.
"""
import importlib.util
import os.path as osp
import uuid
from typing import Optional

from mmengine.config import Config

from incomplete_fusion.engine.data_root import iter_dicts

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(REPO, 'configs', 'fusionvit')
SIZE = (64, 64)

TINY_BACKBONE = dict(img_size=SIZE, embed_dims=32, depth=4, num_heads=2, out_indices=(0, 1, 2, 3),
                     drop_path_rate=0.0)
TINY_NECK = dict(in_channels=32, out_channels=(16, 16, 32, 32))


def load_tool(name: str):
    """Import ``tools/<name>.py`` as a module (its ``main(argv)`` runs in-process)."""
    spec = importlib.util.spec_from_file_location(f'tool_{name}',
                                                  osp.join(REPO, 'tools', name + '.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fresh_run() -> list:
    """``--cfg-options`` items giving an in-process run its own mmengine instances.

    mmengine keys its logger, message hub and visualizer singletons by name; a
    second runner in the same process with the same names would write into the
    first run's log folder.
    """
    name = f'test_{uuid.uuid4().hex[:8]}'
    return [f'experiment_name={name}', f'visualizer.name={name}']


def pipeline_steps(cfg, type_name: str) -> list:
    """Every transform dict of ``type_name`` in the config's pipelines (train and test)."""
    keys = ('train_pipeline', 'test_pipeline', 'train_dataloader', 'val_dataloader',
            'test_dataloader')
    steps = []
    for node in iter_dicts([cfg.get(key) for key in keys]):
        if node.get('type') == type_name and all(node is not s for s in steps):
            steps.append(node)
    return steps


def tiny_head(num_queries: int) -> dict:
    attn = dict(embed_dims=32, num_heads=2)
    ffn = dict(embed_dims=32, feedforward_channels=64)
    return dict(
        in_channels=[16, 16, 32, 32],
        feat_channels=32,
        out_channels=32,
        num_queries=num_queries,
        pixel_decoder=dict(
            encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
            positional_encoding=dict(num_feats=16)),
        positional_encoding=dict(num_feats=16),
        transformer_decoder=dict(
            num_layers=1,
            layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)))


def make_tiny_config(name: str, data_root: str, out_dir: str, max_iters: int = 2,
                     extra_hooks: Optional[list] = None, seed: int = 0,
                     record_draws: bool = False) -> str:
    """Write ``<out_dir>/tiny_<name>.py`` and return its path.

    ``record_draws`` makes the ModalityDropoutHook log its draws per rank.
    """
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))
    is_det = 'panoptic_head' in cfg.model
    head_key = 'panoptic_head' if is_det else 'decode_head'
    head = tiny_head(10 if is_det else cfg.model[head_key].num_queries)
    cfg.merge_from_dict({'model.backbone': TINY_BACKBONE, 'model.neck': TINY_NECK,
                         f'model.{head_key}': head})
    if is_det:
        cfg.model.train_cfg.num_points = 256
        cfg.model.test_cfg.max_per_image = 10  # <= queries x classes
    else:
        cfg.model.decode_head.train_cfg.num_points = 256
        cfg.model.data_preprocessor.size = SIZE
    for resize in (pipeline_steps(cfg, 'MultimodalDetResize')
                   + pipeline_steps(cfg, 'MultimodalResize')):
        resize['scale'] = SIZE
    cfg.data_root = data_root  # the loops carry it into datasets and ann_file
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.default_hooks.checkpoint.update(interval=max_iters, save_best=None)
    cfg.default_hooks.logger.interval = 1
    cfg.randomness = dict(seed=seed)
    cfg.custom_hooks = list(cfg.get('custom_hooks', [])) + list(extra_hooks or [])
    for hook in cfg.custom_hooks:
        if hook.get('type') == 'ModalityDropoutHook':
            hook['record'] = record_draws
    path = osp.join(out_dir, f'tiny_{name}.py')
    cfg.dump(path)
    return path


def test_tiny_config_is_the_shipped_config_with_smaller_sizes(tmp_path, dfc2023_root):
    """The dumped tiny config keeps the modality variables, the loops and the new data_root."""
    path = make_tiny_config('mask2former_dfc2023', dfc2023_root, str(tmp_path))
    cfg = Config.fromfile(path)
    assert cfg.modalities == ['rgb', 'sar', 'dsm']
    assert cfg.model.backbone.type == 'FusionViT' and cfg.model.backbone.embed_dims == 32
    assert cfg.data_root == dfc2023_root
    assert (cfg.train_cfg.type, cfg.val_cfg.type, cfg.test_cfg.type) == (
        'ModalityIterBasedTrainLoop', 'ModalityValLoop', 'ModalityTestLoop')
    resizes = [step for key in ('train_dataloader', 'test_dataloader')
               for step in cfg[key].dataset.pipeline if step.type == 'MultimodalDetResize']
    assert len(resizes) == 2 and all(tuple(r.scale) == SIZE for r in resizes)
