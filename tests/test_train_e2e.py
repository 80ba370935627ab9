"""End to end through the real tools: train -> resume -> test (modality subset) -> per-subset.

Each shipped main config (tiny sizes, see test_config_tiny.py) trains 2 iterations
with tools/train.py, resumes to 3, is tested with tools/test.py on a modality
subset while the RGB / S2 files are garbage (so reading them would fail), and is
evaluated per subset. One trained checkpoint per config is shared (module fixture).
"""
import glob
import json
import math
import os.path as osp
import shutil

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper

from incomplete_fusion.modalities import channel_slices, nonempty_subsets
from incomplete_fusion.registry import HOOKS
from incomplete_fusion.testing.tiny import REPO, load_tool, make_tiny_config, fresh_run

train_tool, test_tool, subsets_tool = (load_tool(n) for n in ('train', 'test', 'eval_subsets'))


@HOOKS.register_module(force=True)
class BackboneInputProbe(Hook):
    """Records, per iteration, which modalities are all-NaN in what the BACKBONE receives."""

    priority = 'LOWEST'
    records = []  # (stage, [per-sample set of all-NaN modalities], [dropout subsets or None])
    metrics = []

    def __init__(self, modality_specs):
        self.slices = channel_slices(modality_specs)
        self._last = None

    def before_run(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        model.backbone.register_forward_pre_hook(self._capture)

    def _capture(self, module, args):
        inputs = args[0]
        self._last = [{n for n, s in self.slices.items() if torch.isnan(x[s]).all()}
                      for x in inputs]

    def _dropout_subsets(self, runner):
        for hook in runner.hooks:
            if type(hook).__name__ == 'ModalityDropoutHook':
                return list(hook.last_subsets)
        return None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        type(self).records.append(('train', self._last, self._dropout_subsets(runner)))

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        type(self).records.append(('test', self._last, None))

    def after_test_epoch(self, runner, metrics=None):
        type(self).metrics.append(dict(metrics or {}))


CASES = {
    'mask2former_dfc2023': ('dfc2023_root', 'rgb', ['sar', 'dsm']),
    'mask2former_dfc2023_semantic': ('dfc2023_root', 'rgb', ['sar', 'dsm']),
    'mask2former_quadruplet': ('quadruplet_root', 's2', ['s1', 'dem', 'dw']),
}


@pytest.fixture(scope='module', autouse=True)
def one_thread():
    """Tiny models on a shared 2-core machine: extra intra-op threads only cost (10x here)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def scalars(work_dir):
    rows = []
    for path in sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        with open(path) as f:
            rows.append([json.loads(line) for line in f if line.strip()])
    return rows


@pytest.fixture(scope='module', params=list(CASES))
def trained(request, tmp_path_factory):
    name = request.param
    fixture, _, _ = CASES[name]
    data_root = request.getfixturevalue(fixture)
    tmp = tmp_path_factory.mktemp(name)
    from mmengine.config import Config
    specs = Config.fromfile(osp.join(REPO, 'configs', 'fusionvit', name + '.py')).modality_specs
    probe = dict(type='BackboneInputProbe', modality_specs=specs)
    config = make_tiny_config(name, data_root, str(tmp), max_iters=2, extra_hooks=[probe])
    work_dir = str(tmp / 'work')
    BackboneInputProbe.records.clear()
    train_tool.main([config, '--work-dir', work_dir, '--cfg-options',
                     *fresh_run()])
    train_records = list(BackboneInputProbe.records)
    return dict(name=name, config=config, work_dir=work_dir, tmp=tmp, data_root=data_root,
                specs=specs, train_records=train_records)


def test_trains_with_finite_loss_and_writes_checkpoint(trained):
    ckpt = osp.join(trained['work_dir'], 'iter_2.pth')
    assert osp.isfile(ckpt)
    (rows, ) = scalars(trained['work_dir'])
    losses = [r['loss'] for r in rows if 'loss' in r]
    assert len(losses) == 2 and all(math.isfinite(v) for v in losses)
    # validation ran at the end of training and produced the config's metric
    key = 'coco/segm_mAP_50' if trained['name'] == 'mask2former_dfc2023' else 'mIoU'
    assert any(key in r for r in rows)
    state = torch.load(ckpt, map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 2
    assert any(k.startswith('backbone.patch_embeds.') for k in state['state_dict'])


def test_dropped_modalities_are_nan_in_what_the_backbone_receives(trained):
    """The dropout hook's draw and the backbone's all-NaN modalities agree, sample by sample."""
    names = [s['name'] for s in trained['specs']]
    train = [r for r in trained['train_records'] if r[0] == 'train']
    assert len(train) == 2
    for _, nan_sets, subsets in train:
        assert subsets is not None and len(subsets) == len(nan_sets) == 2
        for nan_set, kept in zip(nan_sets, subsets):
            assert nan_set == set(names) - set(kept)


def test_resume_continues_from_the_checkpoint(trained):
    work_dir = trained['work_dir']
    train_tool.main([trained['config'], '--work-dir', work_dir, '--resume', '--cfg-options',
                     'train_cfg.max_iters=3', *fresh_run()])
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))
    steps = [r['step'] for rows in scalars(work_dir) for r in rows if 'loss' in r]
    assert steps == [1, 2, 3]  # iterations 1-2 were not trained again
    logs = sorted(glob.glob(osp.join(work_dir, '*', '*.log')))
    with open(logs[-1]) as f:
        log = f.read()
    assert 'resumed epoch: 0, iter: 2' in log
    assert 'Iter(train) [3/3]' in log and 'Iter(train) [1/' not in log


def test_test_tool_with_modality_subset_never_reads_the_inactive_files(trained, tmp_path):
    name = trained['name']
    _, garbage, subset = CASES[name]
    data = str(tmp_path / 'data')
    shutil.copytree(trained['data_root'], data)
    corrupted = [p for p in glob.glob(osp.join(data, '**', garbage, '*.tif'), recursive=True)]
    assert corrupted
    for path in corrupted:
        with open(path, 'wb') as f:
            f.write(b'not a GeoTIFF')
    ckpt = osp.join(trained['work_dir'], 'iter_2.pth')
    BackboneInputProbe.records.clear()
    BackboneInputProbe.metrics.clear()
    test_tool.main([trained['config'], ckpt, '--work-dir', str(tmp_path / 'test'),
                    '--cfg-options', f'modalities=[{",".join(subset)}]', f'data_root={data}',
                    *fresh_run()])
    (metrics, ) = BackboneInputProbe.metrics
    key = 'coco/segm_mAP_50' if name == 'mask2former_dfc2023' else 'mIoU'
    assert key in metrics and math.isfinite(metrics[key])
    trained['subset_result'] = (tuple(subset), metrics)  # compared with the per-subset table
    tests = [r for r in BackboneInputProbe.records if r[0] == 'test']
    assert tests
    for _, nan_sets, _ in tests:
        for nan_set in nan_sets:
            assert garbage in nan_set and not nan_set & set(subset)

    # negative control: the corrupted files really cannot be read
    import rasterio
    with pytest.raises(rasterio.errors.RasterioIOError):
        rasterio.open(corrupted[0])


@pytest.mark.parametrize('trained', ['mask2former_dfc2023', 'mask2former_quadruplet'],
                         indirect=True)
def test_per_subset_evaluation_writes_one_row_per_subset(trained, tmp_path):
    """tools/eval_subsets.py (instance, 7 subsets) and tools/test.py --all-subsets (LULC, 15)."""
    name = trained['name']
    ckpt = osp.join(trained['work_dir'], 'iter_2.pth')
    work_dir = str(tmp_path / 'subsets')
    BackboneInputProbe.records.clear()
    if name == 'mask2former_dfc2023':
        subsets_tool.main([trained['config'], ckpt, '--work-dir', work_dir, '--cfg-options',
                           *fresh_run()])
    else:
        test_tool.main([trained['config'], ckpt, '--work-dir', work_dir, '--all-subsets',
                        '--cfg-options', *fresh_run()])
    names = [s['name'] for s in trained['specs']]
    expected = nonempty_subsets(names)
    with open(osp.join(work_dir, 'subset_eval.csv')) as f:
        lines = [line.rstrip('\n').split(',') for line in f]
    header, rows = lines[0], lines[1:]
    assert header[:1 + len(names)] == ['subset'] + names
    assert len(rows) == len(expected) == 2 ** len(names) - 1
    for row, subset in zip(rows, expected):
        assert row[0] == '+'.join(n.upper() for n in subset)
        assert [int(v) for v in row[1:1 + len(names)]] == [int(n in subset) for n in names]
        assert all(math.isfinite(float(v)) for v in row[1 + len(names):])
    # each row was computed with exactly its subset present in the backbone input
    # (one test iteration per subset: 2 val images, batch 2)
    tests = [r[1] for r in BackboneInputProbe.records if r[0] == 'test']
    assert len(tests) == len(expected)
    for nan_sets, subset in zip(tests, expected):
        assert all(nan_set == set(names) - set(subset) for nan_set in nan_sets)
    # a row equals what tools/test.py --cfg-options modalities=[...] reported for that subset
    tested_subset, tested = trained['subset_result']
    row = rows[expected.index(tested_subset)]
    for key, value in zip(header[1 + len(names):], row[1 + len(names):]):
        assert float(value) == pytest.approx(float(tested[key]), abs=1e-6), key
    with open(osp.join(work_dir, 'subset_eval.md')) as f:
        assert len(f.read().strip().splitlines()) == len(expected) + 2
    with open(osp.join(work_dir, 'subset_eval.png'), 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
