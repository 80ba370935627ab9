"""Tiny versions of the shipped models, for end-to-end tests and benchmarks.

Two kinds, both the shipped config with only sizes, iterations and workers shrunk:

* :func:`make_tiny_config`: a training-ready config file (64 px, depth 4, dims 32)
  that the real tools run;
* :func:`tiny_scene_config` + :data:`TINY_SEMANTIC` / :data:`TINY_INSTANCE`: a
  depth-2, dims-32 FusionViT-Mask2Former for scene inference on :data:`TILE` px tiles.

Configs are found in the checkout's ``configs/`` (:data:`CONFIG_DIR`).
See docs/user_guides/4_train_test.md.
"""
import importlib.util
import os.path as osp
import uuid
from typing import Mapping, Optional, Sequence

from mmengine.config import Config

from ..engine.data_root import iter_dicts
from ..utils.config import load_config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
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
    """A one-layer Mask2Former head for :data:`TINY_NECK`'s features."""
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
    """Write ``<out_dir>/tiny_<name>.py`` (``configs/fusionvit/<name>.py`` shrunk) and
    return its path. ``record_draws`` makes the ModalityDropoutHook log its draws per rank.
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


# --- the tiny scene-inference model -------------------------------------------------
SEMANTIC_CONFIG = osp.join(CONFIG_DIR, 'mask2former_dfc2023_semantic.py')
INSTANCE_CONFIG = osp.join(CONFIG_DIR, 'mask2former_dfc2023.py')
TILE, OVERLAP = 64, 16


def tiny_scene_overrides(dims: int = 32, tile: int = TILE) -> dict:
    """``--cfg-options`` of a depth-2 FusionViT (``dims`` wide, ``tile`` px input) with a
    one-layer Mask2Former head, as ``model.*`` keys (semantic: ``decode_head``)."""
    attn = dict(embed_dims=dims, num_heads=4)
    ffn = dict(embed_dims=dims, feedforward_channels=2 * dims)
    head = dict(
        in_channels=[dims] * 4,
        feat_channels=dims,
        out_channels=dims,
        pixel_decoder=dict(
            encoder=dict(num_layers=1, layer_cfg=dict(self_attn_cfg=attn, ffn_cfg=ffn)),
            positional_encoding=dict(num_feats=dims // 2)),
        positional_encoding=dict(num_feats=dims // 2),
        transformer_decoder=dict(
            num_layers=1, layer_cfg=dict(self_attn_cfg=attn, cross_attn_cfg=attn, ffn_cfg=ffn)))
    return {
        'model.backbone': dict(img_size=(tile, tile), embed_dims=dims, depth=2, num_heads=2,
                               out_indices=(1, ), drop_path_rate=0.0),
        'model.neck': dict(in_channels=dims, out_channels=dims, num_inputs=1),
        'model.decode_head': dict(head, train_cfg=dict(num_points=256)),
    }


TINY_SEMANTIC = tiny_scene_overrides()
TINY_INSTANCE = {
    'model.backbone': TINY_SEMANTIC['model.backbone'],
    'model.neck': TINY_SEMANTIC['model.neck'],
    'model.panoptic_head': dict(
        {k: v for k, v in TINY_SEMANTIC['model.decode_head'].items() if k != 'train_cfg'},
        num_queries=8),
    'model.test_cfg.max_per_image': 8,
}


def tiny_scene_config(config: str, overrides: Mapping = TINY_SEMANTIC,
                      scale: Sequence[int] = (TILE, TILE)) -> Config:
    """``config`` with the tiny model ``overrides``, its test pipeline resizing to ``scale``."""
    cfg = load_config(config, dict(overrides))
    for step in cfg.test_dataloader.dataset.pipeline:
        if step['type'].endswith('Resize'):
            step['scale'] = tuple(scale)
    return cfg


def tiny_config_file(path: str, base: str, overrides: Mapping) -> str:
    """Write a config file inheriting ``base`` with ``model.*`` ``overrides``; returns it."""
    lines = [f'_base_ = [{base!r}]', 'model = dict(']
    for key, value in overrides.items():
        parts = key.split('.')
        if parts[0] != 'model':
            raise ValueError(f'only model.* overrides can be written, got {key!r}')
        value_text = repr(value)
        for part in reversed(parts[2:]):
            value_text = f'dict({part}={value_text})'
        lines.append(f'    {parts[1]}={value_text},')
    lines.append(')')
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    return str(path)


__all__ = ['REPO', 'CONFIG_DIR', 'SIZE', 'TINY_BACKBONE', 'TINY_NECK', 'load_tool', 'fresh_run',
           'pipeline_steps', 'tiny_head', 'make_tiny_config', 'SEMANTIC_CONFIG',
           'INSTANCE_CONFIG', 'TILE', 'OVERLAP', 'tiny_scene_overrides', 'TINY_SEMANTIC',
           'TINY_INSTANCE', 'tiny_scene_config', 'tiny_config_file']
