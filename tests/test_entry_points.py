"""``modalities=`` takes effect under every OpenMMLab entry point, not only this package's tools.

The STOCK ``tools/train.py`` and ``tools/test.py`` that ship inside the installed mmseg
and mmdet (what ``mim train/test`` runs) are run in subprocesses on tiny configs with
``--cfg-options modalities=[...]``. The files of the inactive modalities are garbage,
so opening one would fail the run; a probe hook (tests/entry_point_probe.py) records
what the backbone receives. The metric of a stock run must equal the matching row of
the per-subset evaluation of the same checkpoint; ``Runner.from_cfg`` after
``merge_from_dict`` must behave the same; a config without the binding loops must fail
with an error that says what to add.
"""
import glob
import importlib
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from entry_point_probe import read_records
from incomplete_fusion.binding import ModalitiesNotBoundError
from incomplete_fusion.evaluation import evaluate_subsets
from incomplete_fusion.testing.tiny import REPO, fresh_run, make_tiny_config

TESTS = osp.dirname(osp.abspath(__file__))
KEYS = {'mmseg': 'mIoU', 'mmdet': 'coco/segm_mAP_50'}
CONFIGS = {'mmseg': 'mask2former_dfc2023_semantic', 'mmdet': 'mask2former_dfc2023'}


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """The stock tools run with OMP_NUM_THREADS=1; the in-process evaluations compared
    with them run with one thread too: the same kernels, so the same metrics (another
    thread count may round differently and flip a near-tie pixel)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stock_tool(package: str, tool: str) -> str:
    path = osp.join(osp.dirname(importlib.import_module(package).__file__), '.mim', 'tools',
                    tool + '.py')
    assert osp.isfile(path), f'{package} ships no {tool}.py at {path}'
    return path


def run_stock(package: str, tool: str, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([TESTS, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.run([sys.executable, stock_tool(package, tool), *args], env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout[-4000:], proc.stderr[-4000:])
    return proc


def corrupt_copy(src: str, dst: str, garbage: tuple) -> str:
    """A copy of the dataset whose files of the ``garbage`` modalities cannot be read."""
    shutil.copytree(src, dst)
    files = [p for m in garbage for p in glob.glob(osp.join(dst, '*', m, '*.tif'))]
    assert files
    for path in files:
        with open(path, 'wb') as f:
            f.write(b'not a GeoTIFF')
    return dst


@pytest.fixture(scope='module', params=['mmseg', 'mmdet'])
def trained(request, tmp_path_factory, dfc2023_root):
    """A tiny config trained 2 iterations by the package's STOCK train.py on SAR + DSM."""
    package = request.param
    tmp = tmp_path_factory.mktemp(package)
    probe_file = str(tmp / 'train_probe.jsonl')
    path = make_tiny_config(CONFIGS[package], dfc2023_root, str(tmp), max_iters=2,
                            extra_hooks=[dict(type='EntryPointProbe', out_file=probe_file)])
    cfg = Config.fromfile(path)
    cfg.custom_imports['imports'] = list(cfg.custom_imports['imports']) + ['entry_point_probe']
    # a forked, persistent worker: the active set must reach it before it starts
    cfg.train_dataloader.update(num_workers=1, persistent_workers=True)
    cfg.dump(path)
    data = corrupt_copy(dfc2023_root, str(tmp / 'data_no_rgb'), ('rgb', ))
    work_dir = str(tmp / 'work')
    run_stock(package, 'train', path, '--work-dir', work_dir, '--cfg-options',
              'modalities=[sar,dsm]', f'data_root={data}')
    return dict(package=package, config=path, tmp=tmp, clean=dfc2023_root,
                checkpoint=osp.join(work_dir, 'iter_2.pth'),
                train_records=read_records(probe_file))


def test_stock_train_never_shows_the_inactive_modality_to_the_backbone(trained):
    train = [r for r in trained['train_records'] if r['stage'] == 'train']
    assert len(train) == 2 and osp.isfile(trained['checkpoint'])
    for record in train:
        assert len(record['nan']) == 2
        for nan in record['nan']:
            assert 'rgb' in nan and set(nan) != {'rgb', 'sar', 'dsm'}  # dropout keeps >= 1


def test_stock_test_equals_the_per_subset_row(trained, tmp_path):
    package, key = trained['package'], KEYS[trained['package']]
    data = corrupt_copy(trained['clean'], str(tmp_path / 'sar_only'), ('rgb', 'dsm'))
    probe_file = str(tmp_path / 'test_probe.jsonl')
    run_stock(package, 'test', trained['config'], trained['checkpoint'], '--work-dir',
              str(tmp_path / 'test'), '--cfg-options', 'modalities=[sar]', f'data_root={data}',
              f'custom_hooks.1.out_file={probe_file}')
    records = read_records(probe_file)
    tests = [r for r in records if r['stage'] == 'test']
    assert tests and all(nan == ['dsm', 'rgb'] for r in tests for nan in r['nan'])
    (metrics, ) = [r for r in records if r['stage'] == 'metrics']
    assert metrics['active'] == ['sar']

    table = evaluate_subsets(trained['config'], trained['checkpoint'],
                             work_dir=str(tmp_path / 'subsets'), subsets=[['sar'], ['sar', 'dsm']],
                             cfg_options={'experiment_name': fresh_run()[0].split('=')[1]})
    rows = dict(table.rows)
    assert metrics['metrics'][key] == pytest.approx(rows[('sar', )][key], abs=1e-9)
    trained['sar_dsm_row'] = rows[('sar', 'dsm')][key]


def test_runner_from_cfg_after_merge_from_dict(trained, tmp_path):
    """A user script: ``cfg.merge_from_dict({'modalities': [...]})`` then ``Runner.from_cfg``."""
    cfg = Config.fromfile(trained['config'])
    data = corrupt_copy(trained['clean'], str(tmp_path / 'no_rgb'), ('rgb', ))
    cfg.merge_from_dict({'modalities': ['sar', 'dsm'], 'data_root': data,
                         'load_from': trained['checkpoint'], 'work_dir': str(tmp_path / 'w'),
                         'experiment_name': fresh_run()[0].split('=')[1]})
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'EntryPointProbe']
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    assert runner.model.data_preprocessor.modality_set.active == ('sar', 'dsm')
    if 'sar_dsm_row' in trained:
        assert metrics[KEYS[trained['package']]] == pytest.approx(trained['sar_dsm_row'],
                                                                  abs=1e-9)


@pytest.mark.parametrize('stage', ['train', 'test'])
def test_config_without_the_binding_loops_fails_with_what_to_add(trained, tmp_path, stage):
    cfg = Config.fromfile(trained['config'])
    cfg.custom_hooks = [h for h in cfg.custom_hooks if h['type'] != 'EntryPointProbe']
    cfg.train_cfg.type = 'IterBasedTrainLoop'
    cfg.val_cfg = dict(type='ValLoop')
    cfg.test_cfg = dict(type='TestLoop')
    cfg.merge_from_dict({'modalities': ['sar'], 'work_dir': str(tmp_path / 'w'),
                         'experiment_name': fresh_run()[0].split('=')[1]})
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = trained['clean']  # nothing rebases it without the loops
    for key in ('val_evaluator', 'test_evaluator'):
        if 'ann_file' in cfg[key]:
            cfg[key].ann_file = osp.join(trained['clean'], 'annotations',
                                         osp.basename(cfg[key].ann_file))
    if stage == 'test':
        cfg.load_from = trained['checkpoint']
    runner = Runner.from_cfg(cfg)
    with pytest.raises(ModalitiesNotBoundError, match='ModalityTestLoop') as error:
        runner.train() if stage == 'train' else runner.test()
    assert 'ModalityIterBasedTrainLoop' in str(error.value)
