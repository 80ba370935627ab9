"""Many scenes in one run: manifest, failures reported, resume, VRT mosaic, and a
2-process gloo run (torchrun, and SLURM's environment) byte-identical to one process
(scenes and windows)."""
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import rasterio
import torch

from incomplete_fusion.apis import infer_scenes
from incomplete_fusion.apis.scene import read_manifest, row_windows, scenes_from_pattern
from incomplete_fusion.testing import make_scene
from incomplete_fusion.testing.tiny import OVERLAP, REPO, TILE
from test_scene_inference import semantic_model  # noqa: F401 (fixture)

SIZE = 128


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    root = tmp_path_factory.mktemp('scenes')
    for k in range(2):
        paths = make_scene(str(root / f's{k}'), size=SIZE, seed=10 + k, hole_fraction=0.05)
        os.remove(paths['label'])
    (root / 'bad').mkdir()
    (root / 'bad' / 'rgb.tif').write_bytes(b'II*\x00 not a tiff at all')
    lines = ['scene,rgb,sar,dsm', 's0,s0/rgb.tif,s0/sar.tif,s0/dsm.tif',
             's1,,s1/sar.tif,s1/dsm.tif',                 # rgb missing: runs, reported
             'gone,s0/rgb.tif,s1/nothere.tif,',           # a file that does not exist
             'corrupt,bad/rgb.tif,s0/sar.tif,']            # not a raster
    (root / 'scenes.csv').write_text('\n'.join(lines) + '\n')
    (root / 'good.csv').write_text('\n'.join(lines[:3]) + '\n')
    return root


def test_manifest_formats_and_pattern(scenes, tmp_path):
    csv_scenes = read_manifest(str(scenes / 'scenes.csv'))
    assert list(csv_scenes) == ['s0', 's1', 'gone', 'corrupt']
    assert csv_scenes['s1']['rgb'] is None and csv_scenes['s0']['sar'] == str(scenes / 's0/sar.tif')
    (tmp_path / 'm.json').write_text(json.dumps({'s0': {'sar': str(scenes / 's0/sar.tif')}}))
    assert read_manifest(str(tmp_path / 'm.json')) == {'s0': {'sar': str(scenes / 's0/sar.tif')}}
    (tmp_path / 'm.yaml').write_text(f'- scene: a\n  dsm: {scenes}/s1/dsm.tif\n')
    assert read_manifest(str(tmp_path / 'm.yaml')) == {'a': {'dsm': f'{scenes}/s1/dsm.tif'}}
    found = scenes_from_pattern(str(scenes / '{scene}' / '{modality}.tif'), ['rgb', 'sar', 'dsm'])
    assert sorted(found) == ['bad', 's0', 's1'] and found['bad']['sar'] is None
    assert row_windows(160, 3) == [(0, 48), (48, 112), (112, 160)]
    assert row_windows(20, 4) == [(0, 0), (0, 16), (16, 16), (16, 20)]


def test_bad_scenes_are_reported_the_rest_processed_and_resumed(scenes, semantic_model,
                                                                 tmp_path):
    manifest = read_manifest(str(scenes / 'scenes.csv'))
    out = tmp_path / 'out'
    statuses = infer_scenes(semantic_model, manifest, str(out), tile_size=TILE,
                            overlap=OVERLAP, scores=True)
    by_name = {s.scene: s for s in statuses}
    assert [by_name[n].status for n in ('s0', 's1', 'gone', 'corrupt')] == \
        ['done', 'done', 'failed', 'failed']
    assert by_name['s1'].missing == ('rgb', ) and by_name['s0'].missing == ()
    assert 'file not found' in by_name['gone'].error and 'nothere.tif' in by_name['gone'].error
    assert 'bad/rgb.tif' in by_name['corrupt'].error
    report = json.loads((out / 'report.json').read_text())
    assert [r['status'] for r in report] == ['done', 'done', 'failed', 'failed']
    assert sorted(os.listdir(out)) == ['mosaic.vrt', 'report.json', 's0.tif', 's0.tif.aux.xml',
                                       's0_scores.tif', 's1.tif', 's1.tif.aux.xml',
                                       's1_scores.tif']
    with rasterio.open(out / 'mosaic.vrt') as vrt, rasterio.open(out / 's0.tif') as s0:
        assert vrt.crs == s0.crs and vrt.res == s0.res and vrt.colormap(1)[1] == \
            s0.colormap(1)[1]
        window = vrt.window(*s0.bounds)
        mosaic = vrt.read(1, window=window)
        assert mosaic.shape == s0.shape
        own = s0.read(1)
        valid = own != 255
        np.testing.assert_array_equal(mosaic[valid], own[valid])
    mtime = os.path.getmtime(out / 's0.tif')
    again = infer_scenes(semantic_model, manifest, str(out), tile_size=TILE, overlap=OVERLAP)
    assert [s.status for s in again] == ['skipped', 'skipped', 'failed', 'failed']
    assert os.path.getmtime(out / 's0.tif') == mtime


def _cli(cfg, ckpt, manifest, out, nproc=1, extra=()):
    args = [cfg, ckpt, '--manifest', manifest, '--out-dir', out, '--tile-size', str(TILE),
            '--overlap', str(OVERLAP), '--batch-size', '3', '--scores', *extra]
    env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1')
    tool = osp.join(REPO, 'tools', 'infer_scenes.py')
    if nproc == 1:
        cmd = [sys.executable, tool, *args]
    else:
        cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}',
               '--master_port=29617', tool, *args, '--launcher', 'pytorch']
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def _srun(cfg, ckpt, manifest, out, ntasks=2):
    """``ntasks`` processes with the variables ``srun`` sets (SLURM_PROCID, ...), as
    ``srun --ntasks=2 python tools/infer_scenes.py ... --launcher slurm`` starts them
    (MASTER_ADDR given, so no ``scontrol`` is needed on this machine)."""
    args = [cfg, ckpt, '--manifest', manifest, '--out-dir', out, '--tile-size', str(TILE),
            '--overlap', str(OVERLAP), '--batch-size', '3', '--scores', '--launcher', 'slurm']
    procs = []
    for rank in range(ntasks):
        env = dict(os.environ, PYTHONPATH=REPO, OMP_NUM_THREADS='1', SLURM_PROCID=str(rank),
                   SLURM_NTASKS=str(ntasks), SLURM_LOCALID=str(rank),
                   SLURM_NODELIST='localhost', MASTER_ADDR='127.0.0.1', MASTER_PORT='29618')
        procs.append(subprocess.Popen([sys.executable, osp.join(REPO, 'tools', 'infer_scenes.py'),
                                       *args], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=120)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), '\n'.join(log[-3000:] for log in logs)
    return logs[0]


def _bytes(folder, name):
    with open(osp.join(folder, name), 'rb') as f:
        return f.read()


def test_two_gloo_processes_give_byte_identical_rasters(scenes, semantic_model, tmp_path):
    """Equal bytes by construction: batches are tile runs of one row of one scene, and
    every process runs with the same thread count (OMP_NUM_THREADS=1)."""
    cfg, ckpt = str(tmp_path / 'tiny.py'), str(tmp_path / 'tiny.pth')
    semantic_model.cfg.dump(cfg)
    torch.save(dict(state_dict=semantic_model.state_dict(),
                    meta=dict(dataset_meta=semantic_model.dataset_meta)), ckpt)
    manifest = str(scenes / 'good.csv')
    single, dist = str(tmp_path / 'one'), str(tmp_path / 'two')
    _cli(cfg, ckpt, manifest, single)
    log = _cli(cfg, ckpt, manifest, dist, nproc=2, extra=['--split', 'windows'])
    assert '(2 processes)' in log
    names = ['s0.tif', 's1.tif', 's0_scores.tif', 's1_scores.tif']
    for name in names:  # every scene cut into 2 row windows, one per rank
        assert _bytes(single, name) == _bytes(dist, name), name
    assert not os.listdir(osp.join(dist, '.parts'))
    scenes_dir = str(tmp_path / 'scenes')
    _cli(cfg, ckpt, manifest, scenes_dir, nproc=2, extra=['--split', 'scenes'])
    for name in names:  # one scene per rank
        assert _bytes(single, name) == _bytes(scenes_dir, name), name
    slurm_dir = str(tmp_path / 'slurm')
    assert '(2 processes)' in _srun(cfg, ckpt, manifest, slurm_dir)
    for name in names:  # launched as srun would (2 scenes, 2 tasks: one scene per rank)
        assert _bytes(single, name) == _bytes(slurm_dir, name), name


def test_ranks_other_than_0_plan_windows_from_headers(scenes, semantic_model, tmp_path):
    """With split='windows' only rank 0 reads the files for the value check; the grid
    comes from the headers alone, so every rank cuts the same windows."""
    from incomplete_fusion.apis.model import model_modality_set
    from incomplete_fusion.apis.scene import plan_scene
    from incomplete_fusion.datasets.value_checks import ValueRangeError
    good = {m: str(scenes / 's0' / f'{m}.tif') for m in ('rgb', 'sar', 'dsm')}
    with rasterio.open(good['sar']) as src:
        profile, data = src.profile, src.read()
    bad = str(tmp_path / 'sar_negative.tif')  # impossible for the declared amplitude
    with rasterio.open(bad, 'w', **profile) as dst:
        dst.write(-np.abs(data) - 1)
    mset = model_modality_set(semantic_model)
    with pytest.raises(ValueRangeError):
        plan_scene(dict(good, sar=bad), mset)
    headers_only = plan_scene(dict(good, sar=bad), mset, check_values=False)
    assert headers_only.grid == plan_scene(good, mset).grid
