"""The synthetic generator (``incomplete_fusion.testing``): layouts, dtypes,
georeferencing, determinism, the one entry point and its CLI, and that the
modalities carry complementary, partial information."""
import filecmp
import importlib.util
import os

import numpy as np
import pytest
import rasterio
from scipy import ndimage

from incomplete_fusion.testing import available_layouts, generate, make_dfc2023, make_scene
from incomplete_fusion.testing.dfc2023 import dfc2023_content
from incomplete_fusion.testing.quadruplet import quadruplet_content


def read(path):
    with rasterio.open(path) as src:
        return src.read(), src.profile


def test_dfc2023_layout_dtypes_and_georeferencing(dfc2023_root):
    for split, first in (('train', 'P0001.tif'), ('val', 'P0005.tif')):
        expected = dict(rgb=('uint8', 3), sar=('float32', 1), dsm=('float32', 1))
        for modality, (dtype, count) in expected.items():
            data, profile = read(os.path.join(dfc2023_root, split, modality, first))
            assert (profile['dtype'], profile['count']) == (dtype, count)
            assert profile['crs'].to_epsg() == 32632
            assert profile['transform'].a == 0.5 and profile['transform'].e == -0.5
            assert 400_000 < profile['transform'].c < 600_000
    sar, _ = read(os.path.join(dfc2023_root, 'train/sar/P0001.tif'))
    db = 10 * np.log10(sar + 1e-7)
    assert -25 < np.median(db) < 0  # amplitude in the range the dfc2023_sar preset expects
    dsm, _ = read(os.path.join(dfc2023_root, 'train/dsm/P0001.tif'))
    assert 20 < dsm.min() and dsm.max() < 150  # metres above sea level
    assert os.path.exists(os.path.join(dfc2023_root, 'annotations/buildings_only_val.json'))


def test_quadruplet_layout_dtypes(quadruplet_root):
    with open(os.path.join(quadruplet_root, 'splits/train.txt')) as f:
        entries = f.read().split()
    assert len(entries) == 4
    region, tile = entries[0].split('/')
    expected = dict(s1=('float32', 2), s2=('uint16', 4), dem=('float32', 1), dw=('uint8', 1),
                    label=('uint8', 1))
    for modality, (dtype, count) in expected.items():
        data, profile = read(os.path.join(quadruplet_root, region, modality, tile + '.tif'))
        assert (profile['dtype'], profile['count']) == (dtype, count)
        assert profile['transform'].a == 10.0 and profile['crs'].to_epsg() == 32632
    s2, _ = read(os.path.join(quadruplet_root, region, 's2', tile + '.tif'))
    assert 300 < s2.mean() < 4000
    dw, _ = read(os.path.join(quadruplet_root, region, 'dw', tile + '.tif'))
    assert dw.max() <= 8


def test_generation_is_deterministic_per_seed(tmp_path):
    make_dfc2023(str(tmp_path / 'a'), 1, 1, size=32, seed=5, cloud_holes=1.0)
    make_dfc2023(str(tmp_path / 'b'), 1, 1, size=32, seed=5, cloud_holes=1.0)
    make_dfc2023(str(tmp_path / 'c'), 1, 1, size=32, seed=6, cloud_holes=1.0)
    for rel in ('train/rgb/P0001.tif', 'train/sar/P0001.tif', 'val/dsm/P0002.tif',
                'annotations/buildings_only_train.json'):
        assert filecmp.cmp(tmp_path / 'a' / rel, tmp_path / 'b' / rel, shallow=False)
    a, _ = read(tmp_path / 'a' / 'train/rgb/P0001.tif')
    c, _ = read(tmp_path / 'c' / 'train/rgb/P0001.tif')
    assert not np.array_equal(a, c)
    assert (a == 0).all(axis=0).any()  # a cloud hole (nodata 0) in every band


def test_dfc2023_modalities_are_complementary_and_partial():
    rng = np.random.default_rng(11)
    c = dfc2023_content(rng, 256)
    buildings, dsm, rgb = c['buildings'], c['dsm'], c['rgb'].astype(np.float32)
    sar_db = 10 * np.log10(c['sar'] ** 2 + 1e-12)
    ground = buildings == 0
    height = dsm - ndimage.minimum_filter(dsm, 25)
    # DSM: buildings are tall, but so are some non-building pixels (trees).
    assert np.median(height[buildings > 0]) > 4.0
    assert (height[ground] > 4.0).sum() > 50
    # RGB: some roofs look like the ground around them (only DSM / SAR find them).
    camouflaged = 0
    for idx in range(1, buildings.max() + 1):
        foot = buildings == idx
        ring = ndimage.binary_dilation(foot, iterations=3) & ~foot & ground
        if foot.sum() > 20 and ring.sum() > 20:
            diff = np.abs(np.median(rgb[foot], 0) - np.median(rgb[ring], 0)).max()
            camouflaged += diff < 15
    assert camouflaged >= 2
    # SAR: double-bounce lines on the west walls are much brighter than roofs and ground.
    foot = buildings > 0
    west_edge = foot & ~np.roll(foot, 1, axis=1)
    assert np.median(sar_db[west_edge]) > np.median(sar_db[foot & ~west_edge]) + 3
    assert np.median(sar_db[west_edge]) > np.median(sar_db[ground]) + 5


def test_quadruplet_classes_need_several_modalities():
    rng = np.random.default_rng(3)
    c = quadruplet_content(rng, 256)
    label, s2, s1, dw = c['label'], c['s2'].astype(float), c['s1'], c['dw']

    def mean_of(arr, cls):
        return arr[:, label == cls].mean(1)

    present = set(np.unique(label))
    assert {0, 1} <= present
    # urban fabric vs industrial: same spectrum, different backscatter.
    assert np.abs(mean_of(s2, 0) - mean_of(s2, 1)).max() < 100
    assert abs(mean_of(s1, 0)[0] - mean_of(s1, 1)[0]) > 2.5
    # The map is informative but imperfect: a share of built-up pixels is mislabelled.
    built = np.isin(label, [0, 1])
    agreement = (dw[built] == 6).mean()
    assert 0.5 < agreement < 0.99


def test_scene_modalities_live_on_different_grids(tmp_path):
    paths = make_scene(str(tmp_path), layout='dfc2023', size=128, seed=0)
    grids = {}
    for name in ('rgb', 'sar', 'dsm', 'label'):
        with rasterio.open(paths[name]) as src:
            grids[name] = (src.res, src.bounds, src.crs)
    assert grids['sar'][0] == (1.0, 1.0) and grids['rgb'][0] == (0.5, 0.5)
    assert grids['sar'][1] != grids['rgb'][1] != grids['dsm'][1]
    rgb, profile = read(paths['rgb'])
    assert profile['nodata'] == 0 and (rgb == 0).all(axis=0).any()
    q = make_scene(str(tmp_path / 'q'), layout='quadruplet', size=96, seed=0)
    assert set(q) == {'s1', 's2', 'dem', 'dw', 'label'}


def load_cli():
    spec = importlib.util.spec_from_file_location(
        'make_synthetic_data', os.path.join(os.path.dirname(__file__), '..', 'tools',
                                            'make_synthetic_data.py'))
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    return cli


def test_cli_writes_a_dataset(tmp_path):
    out = tmp_path / 'quadruplet'
    load_cli().main(['quadruplet', str(out), '--num-train', '2', '--num-val', '1', '--size',
                     '32', '--seed', '1', '--cloud-holes', '1.0'])
    with open(out / 'splits' / 'val.txt') as f:
        region, tile = f.read().split()[0].split('/')
    s2, _ = read(out / region / 's2' / f'{tile}.tif')
    assert (s2 == 0).all(axis=0).any()


def test_cli_refuses_to_overwrite_and_rejects_options_of_another_layout(tmp_path, capsys):
    cli = load_cli()
    out = tmp_path / 'd'
    out.mkdir()
    with pytest.raises(SystemExit, match='exists'):
        cli.main(['dfc2023', str(out), '--num-train', '1', '--num-val', '0', '--size', '32'])
    with pytest.raises(SystemExit, match="dsm_holes"):
        cli.main(['quadruplet', str(tmp_path / 'q'), '--dsm-holes', '0.5'])
    assert not (tmp_path / 'q').exists()


def test_generate_is_the_one_entry_point(tmp_path):
    assert {'dfc2023', 'quadruplet'} <= set(available_layouts())
    with pytest.raises(ValueError, match='unknown synthetic layout'):
        generate('potsdam', str(tmp_path / 'x'))
    summary = generate('dfc2023', str(tmp_path / 'd'), num_train=1, num_val=1, size=32)
    assert summary['train']['images'] == 1
    assert sorted(os.listdir(tmp_path)) == ['d']  # no temporary folder left behind
    with pytest.raises(FileExistsError):
        generate('dfc2023', str(tmp_path / 'd'), num_train=1, num_val=0, size=32)
    generate('dfc2023', str(tmp_path / 'd'), overwrite=True, num_train=2, num_val=0, size=32)
    assert len(os.listdir(tmp_path / 'd' / 'train' / 'rgb')) == 2
    scene = generate('quadruplet', str(tmp_path / 's'), scene=True, size=64)
    assert all(os.path.exists(p) and p.startswith(str(tmp_path / 's')) for p in scene.values())


def test_runtime_never_imports_the_generators():
    """Fabrication lives in the testing package: no runtime module imports it (the
    study library, ``experiments``, trains on generated data by design and is not
    imported by the package)."""
    import ast

    import incomplete_fusion
    package = os.path.dirname(incomplete_fusion.__file__)
    offenders = []
    for folder, _, files in os.walk(package):
        if os.path.relpath(folder, package).split(os.sep)[0] in ('testing', 'experiments'):
            continue
        for name in (n for n in files if n.endswith('.py')):
            path = os.path.join(folder, name)
            with open(path) as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                modules = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                           [node.module or ''] if isinstance(node, ast.ImportFrom) else [])
                if any('testing' in m.split('.') for m in modules):
                    offenders.append(os.path.relpath(path, package))
    assert not offenders
    assert 'experiments' not in open(os.path.join(package, '__init__.py')).read()


# --------------------------------------------------------------------------- linear probe
def _probe_features(img):
    """Per-pixel features: the normalised values plus 5×5 and 11×11 box means (context)."""
    import cv2
    img = np.nan_to_num(img.astype(np.float32))
    parts = [img] + [cv2.blur(img, (k, k)).reshape(img.shape) for k in (5, 11)]
    return np.concatenate(parts, -1).reshape(-1, 3 * img.shape[-1])


def _probe_scores(train, test, names, targets, score):
    """Ridge-regression pixel classifier per modality subset → score on the test tiles."""
    from itertools import combinations
    train_f = {n: np.concatenate([_probe_features(t[n]) for t in train[0]]) for n in names}
    test_f = {n: np.concatenate([_probe_features(t[n]) for t in test[0]]) for n in names}
    results = {}
    for k in range(1, len(names) + 1):
        for subset in combinations(names, k):
            a = np.concatenate([train_f[n] for n in subset] + [np.ones((len(targets), 1))], 1)
            w = np.linalg.solve(a.T @ a + 1e-2 * np.eye(a.shape[1]), a.T @ targets)
            b = np.concatenate([test_f[n] for n in subset] + [np.ones((len(test[1]), 1))], 1)
            results[subset] = score(b @ w, test[1])
    return results


def test_missing_modalities_measurably_hurt_a_linear_probe():
    """On generated data, a simple pixel classifier is best with all modalities and
    loses accuracy whenever one is dropped (complementary, partial information).
    Run with -s to print the per-subset table quoted in docs/user_guides/2_dataset_prepare.md."""
    from incomplete_fusion.datasets.normalization import normalize

    def dfc(seed, n):
        tiles, labels = [], []
        for i in range(n):
            c = dfc2023_content(np.random.default_rng([seed, i]), 128)
            tiles.append(dict(rgb=normalize(c['rgb'].astype(np.float32), 'dfc2023_rgb'),
                              sar=normalize(c['sar'][..., None], 'dfc2023_sar'),
                              dsm=normalize(c['dsm'][..., None], 'tile_zscore')))
            labels.append(c['buildings'].reshape(-1) > 0)
        return tiles, np.concatenate(labels)

    def iou(pred, truth):
        pred = pred > 0.5
        return (pred & truth).sum() / (pred | truth).sum()

    train, test = dfc(0, 5), dfc(1, 4)
    scores = _probe_scores(train, test, ('rgb', 'sar', 'dsm'), train[1].astype(float)[:, None],
                           lambda p, t: iou(p[:, 0], t))

    def quad(seed, n):
        tiles, labels = [], []
        for i in range(n):
            c = quadruplet_content(np.random.default_rng([seed, i]), 64)
            tiles.append(dict(
                s1=normalize(c['s1'].transpose(1, 2, 0), 'quadruplet_s1'),
                s2=normalize(c['s2'].transpose(1, 2, 0).astype(np.float32), 'quadruplet_s2'),
                dem=normalize(c['dem'][..., None], 'quadruplet_dem'),
                dw=np.eye(9, dtype=np.float32)[c['dw']]))  # one-hot: a linear probe's embedding
            labels.append(c['label'].reshape(-1))
        return tiles, np.concatenate(labels)

    def miou(pred, truth):
        valid = truth != 255
        pred, truth = pred[valid].argmax(1), truth[valid]
        return np.mean([((pred == c) & (truth == c)).sum() / ((pred == c) | (truth == c)).sum()
                        for c in np.unique(truth)])

    qtrain, qtest = quad(0, 12), quad(1, 8)
    onehot = np.eye(9)[np.where(qtrain[1] == 255, 0, qtrain[1])] * (qtrain[1] != 255)[:, None]
    qscores = _probe_scores(qtrain, qtest, ('s1', 's2', 'dem', 'dw'), onehot, miou)
    for name, table in (('DFC2023 building IoU', scores), ('quadruplet 9-class mIoU', qscores)):
        print(f'\n{name} (ridge pixel probe):')
        for subset, value in table.items():
            print(f'  {"+".join(subset):16s} {value:.3f}')
    for table in (scores, qscores):
        everything = max(table, key=len)
        best_single = max(v for s, v in table.items() if len(s) == 1)
        assert table[everything] > best_single + 0.05
        for subset, value in table.items():
            if len(subset) == len(everything) - 1:  # dropping any one modality hurts
                assert value < table[everything]
