"""Helpers of the OpenEarthMap-SAR and EarthMiss end-to-end tests: a tiny version of a
shipped config, and the metrics a test run logged or tabulated."""
import csv
import glob
import os.path as osp
import re
from typing import Dict

from mmengine.config import Config

from incomplete_fusion.testing.tiny import (CONFIG_DIR, SIZE, TINY_BACKBONE, TINY_NECK,
                                            pipeline_steps, tiny_head)

PROTOCOL_METRICS = ['mIoU', 'mFscore', 'aAcc', 'kappa']


def tiny_landcover_config(name: str, data_root: str, out_dir: str, tile: int,
                          max_iters: int = 2) -> str:
    """``configs/fusionvit/<name>.py`` at 64 px (slide windows of 64, stride 32 over
    ``tile`` px tiles), model dims 32, ``max_iters`` iterations; returns the dumped path."""
    cfg = Config.fromfile(osp.join(CONFIG_DIR, name + '.py'))
    cfg.merge_from_dict({'model.backbone': TINY_BACKBONE, 'model.neck': TINY_NECK,
                         'model.decode_head': tiny_head(cfg.num_classes + 1),
                         'data_root': data_root})
    cfg.model.decode_head.train_cfg.num_points = 256
    cfg.model.data_preprocessor.size = SIZE
    cfg.model.test_cfg.update(crop_size=SIZE, stride=(32, 32))
    for step in pipeline_steps(cfg, 'RandomResize'):
        step['scale'] = (tile, tile)
    for step in pipeline_steps(cfg, 'RandomCrop'):
        step['crop_size'] = SIZE
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].update(batch_size=1, num_workers=0, persistent_workers=False)
    cfg.train_cfg.update(max_iters=max_iters, val_interval=max_iters)
    cfg.default_hooks.checkpoint.update(interval=max_iters, save_best=None)
    path = osp.join(out_dir, f'tiny_{name}.py')
    cfg.dump(path)
    return path


def logged_test_metrics(work_dir: str) -> Dict[str, float]:
    """The metrics of the last ``Iter(test)`` line of the run's log under ``work_dir``, and
    ``active_sar_only`` (1.0 when the run logged that SAR alone was active)."""
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    assert logs, f'no log under {work_dir}'
    with open(logs[-1]) as f:
        text = f.read()
    lines = [line for line in text.splitlines() if 'Iter(test)' in line]
    assert lines, f'no test metrics in {logs[-1]}'
    metrics = {k: float(v) for k, v in re.findall(r'(\w+): (-?[\d.]+|nan)', lines[-1])}
    metrics['active_sar_only'] = float('active modalities: sar (' in text)
    return metrics


def subset_rows(work_dir: str) -> Dict[str, Dict[str, float]]:
    """``subset_eval.csv`` of a SubsetTestLoop run: subset label → metric → value."""
    with open(osp.join(work_dir, 'subset_eval.csv')) as f:
        rows = list(csv.DictReader(f))
    return {row['subset']: {k: float(row[k]) for k in PROTOCOL_METRICS} for row in rows}
