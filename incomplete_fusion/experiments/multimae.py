"""The studies' MultiMAE pretraining step: ``configs/fusionvit/multimae_dfc2023.py`` +
a preset, on the study's data, one per training seed. The fill-in variant uses its
checkpoint as the generator, the low-label study as the backbone's initialisation.
"""
import os.path as osp
from typing import Optional, Sequence

from .compose import REPO, compose_config
from .runs import Run

MULTIMAE_CONFIG = osp.join(REPO, 'configs', 'fusionvit', 'multimae_dfc2023.py')
MULTIMAE_PRESET = osp.join(REPO, 'configs', 'demo', 'cpu_preset_multimae.py')


def multimae_run(out: str, data_root: str, seed: int, epochs: int, preset: Optional[str],
                 options: Sequence[str] = ()) -> Run:
    """The pretraining of ``epochs`` epochs into ``out``; its checkpoint is
    ``out/train/epoch_<epochs>.pth``."""
    overrides = [f'data_root={data_root}', f'randomness.seed={seed}',
                 f'train_cfg.max_epochs={epochs}', f'default_hooks.checkpoint.interval={epochs}',
                 *options]
    cfg = compose_config(MULTIMAE_CONFIG, preset or None, overrides)
    return Run('pretrain', 'multimae', seed, out, cfg, preset,
               osp.join(out, 'train', f'epoch_{epochs}.pth'))
