"""What tools/demo.py, tools/robustness_study.py and tools/low_label_study.py share:
compose a config from a config file + a preset + overrides, and run the project's own
tools on it (in parallel threads too: ``tool_output``).

Each run's exact config is written to ``<work_dir>/<config>_<preset>.py`` (the name
shows up in logs and figure titles) so that it can be re-run with ``tools/train.py`` /
``tools/test.py`` as is. Data is generated explicitly, through the one entry point
``incomplete_fusion.testing.generate`` (as ``tools/make_synthetic_data.py`` does).
"""
import argparse
import csv
import json
import os
import os.path as osp
import subprocess
import sys
import threading
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

from mmengine.config import Config, DictAction

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


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


def make_dfc2023_data(data_root: str, num_train: int, num_val: int, tile_size: int,
                      seed: int, num_test: int = 0) -> None:
    """The generated DFC2023-style dataset of the demo and the studies (reused if present).

    A fifth of the RGB tiles get a cloud hole (nodata), so partial absence is
    part of the data, not only whole missing modalities. With ``num_test``, the
    generated validation tiles are ``num_val + num_test`` and the last ``num_test``
    of them form a test split (``annotations/buildings_only_test.json``, images in
    ``val/``): tiles of the same seed that no run selects anything on. The settings
    are kept in ``data.json``; a folder made with other settings is refused.
    """
    from incomplete_fusion.testing import generate
    settings = dict(layout='dfc2023', num_train=num_train, num_val=num_val,
                    num_test=num_test, size=tile_size, seed=seed, cloud_holes=0.2)
    marker = osp.join(data_root, 'data.json')
    if osp.isdir(data_root):
        if osp.exists(marker):
            with open(marker) as f:
                found = json.load(f)
            if found != settings:
                raise RuntimeError(f'{data_root} was generated with {found}, not {settings}; '
                                   f'use another work dir or remove it')
        elif num_test:
            raise RuntimeError(f'{data_root} has no test split; remove it to regenerate')
        print(f'reusing the generated dataset in {data_root}')
        return
    print(f'generating {num_train}+{num_val}+{num_test} synthetic DFC2023 tiles of '
          f'{tile_size} px in {data_root}', flush=True)
    partial = data_root.rstrip('/') + '.partial'
    generate('dfc2023', partial, overwrite=True, num_train=num_train,
             num_val=num_val + num_test, size=tile_size, seed=seed, cloud_holes=0.2)
    if num_test:
        _split_test(osp.join(partial, 'annotations'), num_val)
    with open(osp.join(partial, 'data.json'), 'w') as f:
        json.dump(settings, f)
    os.rename(partial, data_root.rstrip('/'))


def _split_test(annotations: str, num_val: int) -> None:
    """Move the images after the first ``num_val`` of the val COCO file to a test file."""
    path = osp.join(annotations, 'buildings_only_val.json')
    with open(path) as f:
        coco = json.load(f)
    for split, images in (('val', coco['images'][:num_val]), ('test', coco['images'][num_val:])):
        ids = {image['id'] for image in images}
        part = dict(coco, images=images,
                    annotations=[a for a in coco['annotations'] if a['image_id'] in ids])
        with open(osp.join(annotations, f'buildings_only_{split}.json'), 'w') as f:
            json.dump(part, f)


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


_OUTPUT = threading.local()  # where run_tool sends a tool's output, per thread


@contextmanager
def tool_output(log_file: str, env: Optional[Dict[str, str]] = None) -> Iterator[None]:
    """Inside: ``run_tool`` calls of this thread append the tool's output to ``log_file``
    and add ``env`` to its environment (runs in parallel must not interleave on the
    terminal, and share the CPU threads)."""
    _OUTPUT.log_file, _OUTPUT.env = log_file, env
    try:
        yield
    finally:
        _OUTPUT.log_file = _OUTPUT.env = None


def run_tool(script: str, *args: str) -> None:
    """Run one of tools/*.py in a fresh interpreter, as a user would."""
    command = [sys.executable, osp.join(REPO, 'tools', script), *args]
    log_file, env = getattr(_OUTPUT, 'log_file', None), getattr(_OUTPUT, 'env', None)
    if log_file is None:
        print(f'\n$ {" ".join(command)}', flush=True)
        subprocess.run(command, check=True, cwd=REPO)
        return
    with open(log_file, 'a') as log:
        log.write(f'\n$ {" ".join(command)}\n')
        log.flush()
        subprocess.run(command, check=True, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                       env=dict(os.environ, **(env or {})))


def train(config_path: str, work_dir: str) -> str:
    """``tools/train.py``; returns the last checkpoint."""
    run_tool('train.py', config_path, '--work-dir', work_dir)
    with open(osp.join(work_dir, 'last_checkpoint')) as f:
        return f.read().strip()


def evaluate_subsets(config_path: str, checkpoint: str, work_dir: str,
                     options: Sequence[str] = ()) -> str:
    """``tools/test.py --all-subsets`` (+ ``--cfg-options options``); returns the CSV of
    the per-subset table."""
    extra = ['--cfg-options', *options] if options else []
    run_tool('test.py', config_path, checkpoint, '--all-subsets', '--work-dir', work_dir,
             *extra)
    return osp.join(work_dir, 'subset_eval.csv')


def read_subset_csv(path: str, metric: str) -> Tuple[List[str], List[Tuple[tuple, float]]]:
    """Modality names and ``[(subset, value)]`` from a ``subset_eval.csv``.

    Its columns are ``subset``, one 0/1 column per modality, then the metrics.
    """
    with open(path) as f:
        rows = list(csv.DictReader(f))
    header = list(rows[0])
    if metric not in header:
        raise KeyError(f'{path} has no column {metric!r}; columns: {header}')
    names = [n for n in header[1:header.index(metric)]
             if all(row[n] in ('0', '1') for row in rows)]
    return names, [(tuple(n for n in names if row[n] == '1'), float(row[metric])) for row in rows]


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
