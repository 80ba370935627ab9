"""A run's config: a config root + a preset (a partial config file) + ``key=value``
overrides, composed as ``tools/train.py`` composes them, and written to
``<work_dir>/<config>_<preset>.py`` so that it re-runs with the tools as is.
docs/results.md, "Robustness study".
"""
import argparse
import os
import os.path as osp
from typing import Optional, Sequence

from mmengine.config import Config, DictAction

# the checkout whose tools/ and configs/ the studies run
REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_options(options: Sequence[str]) -> dict:
    """``key=value`` strings, parsed exactly as ``--cfg-options`` parses them."""
    parser = argparse.ArgumentParser()
    parser.add_argument('--options', nargs='+', action=DictAction, default={})
    return parser.parse_args(['--options', *options]).options if options else {}


def compose_config(config: str, preset: Optional[str] = None,
                   options: Sequence[str] = ()) -> Config:
    """``config`` with ``preset`` (a partial config file), then ``options``, merged on top.

    Loaded like ``tools/train.py`` loads a config (``load_config``); the run's loops
    apply the active modalities and data_root to every component.
    """
    from incomplete_fusion.utils import load_config
    overrides = Config(Config.fromfile(preset).to_dict() if preset else {})
    overrides.merge_from_dict(parse_options(options))
    return load_config(config, overrides.to_dict())


def common_options(data_root: str, seed: int, iters: Optional[int]) -> list:
    """``--cfg-options`` shared by demo and study runs: data, seed, optional budget."""
    options = [f'data_root={data_root}', f'randomness.seed={seed}']
    if iters is not None:
        options += [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
                    f'default_hooks.checkpoint.interval={iters}']
    return options


def write_config(cfg: Config, work_dir: str, preset: Optional[str] = None) -> str:
    """Dump ``cfg`` as ``<work_dir>/<config stem>[_<preset stem>].py``; return the path."""
    os.makedirs(work_dir, exist_ok=True)
    stems = [osp.splitext(osp.basename(p))[0] for p in (cfg.filename, preset) if p]
    path = osp.join(work_dir, '_'.join(stems) + '.py')
    cfg.dump(path)
    return path


def describe(cfg: Config) -> str:
    """Model size and budget of a composed config, e.g. ``FusionViT depth 12, 256x256,
    400 iterations, batch 8``."""
    backbone = cfg.model.backbone
    inner = backbone.get('backbone') or {}  # a wrapper (FillInBackbone): its segmenter
    get = lambda key: backbone.get(key, inner.get(key))  # noqa: E731 - overrides first
    size = get('img_size')
    size = 'x'.join(map(str, (size, size) if isinstance(size, int) else size or ()))
    loop = cfg.train_cfg
    budget = (f'{loop.max_iters} iterations' if 'max_iters' in loop
              else f'{loop.max_epochs} epochs')
    kind = inner.get('type') or backbone.type
    return (f'{kind} depth {get("depth")}, {size}, {budget}, '
            f'batch {cfg.train_dataloader.batch_size}')
