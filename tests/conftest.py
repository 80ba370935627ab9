"""Shared pytest fixtures: tiny generated datasets in the real releases' layouts.

Fixtures (data fixtures are session-scoped: generated once per test session into
tmp dirs through the one generation entry point, ``incomplete_fusion.testing.generate``,
deterministic, a fraction of a second each). Treat the folders as READ-ONLY; a
test that needs to delete or corrupt files should copy the folder first
(``shutil.copytree(dfc2023_root, tmp_path / 'd')``).

``dfc2023_root`` (str)
    DFC2023 Track 2 layout, 64×64 tiles, 4 train / 2 val, seed 0::

        train/{rgb,sar,dsm}/P0001.tif ...  val/{rgb,sar,dsm}/P0005.tif ...
        annotations/buildings_only_{train,val}.json   (polygons and RLE mixed)

    Use with ``DFC2023InstanceDataset(data_root=dfc2023_root,
    ann_file='annotations/buildings_only_val.json', data_prefix=dict(img='val/'))``
    or ``DFC2023BuildingSegDataset(..., data_prefix=dict(img_path='val/'))``.

``quadruplet_root`` (str)
    Quadruplet LULC layout, 64×64 tiles, 4 train / 2 val, seed 0::

        region_{a,b}/{s1,s2,dem,dw,label}/{train,val}_000N.tif
        splits/{train,val}.txt

    Use with ``QuadrupletLULCDataset(data_root=quadruplet_root,
    ann_file='splits/val.txt', num_classes=7)``.

``dfc2023_modality_specs`` / ``quadruplet_modality_specs`` (list of dict)
    The matching config ``modality_specs`` (rgb 3 + sar 1 + dsm 1 = 5 channels;
    s1 2 + s2 4 + dem 1 + dw 1 categorical = 8 channels).

``bound`` (function)
    Datasets and pipelines built outside a Runner need the run's modalities bound,
    as the loops do: ``bound(dataset, specs, active=None)`` calls
    ``bind(ModalitySet.from_config(specs, active), dataset)`` and returns ``dataset``.

Autouse: every test starts without a default registry scope (see
``_fresh_default_scope``).
"""
import pytest
from mmengine.registry import DefaultScope

from incomplete_fusion.binding import bind
from incomplete_fusion.modalities import ModalitySet
from incomplete_fusion.testing import generate

DFC2023_SPECS = [
    dict(name='rgb', channels=3, norm='dfc2023_rgb'),
    dict(name='sar', channels=1, norm='dfc2023_sar'),
    dict(name='dsm', channels=1, norm='tile_zscore'),
]
QUADRUPLET_SPECS = [
    dict(name='s1', channels=2, norm='quadruplet_s1'),
    dict(name='s2', channels=4, norm='quadruplet_s2'),
    dict(name='dem', channels=1, norm='quadruplet_dem'),
    dict(name='dw', channels=1, kind='categorical', num_classes=9, norm=None),
]


def _bound(component, specs, active=None):
    """``component`` (a dataset, pipeline or model) with the run's modalities bound."""
    bind(ModalitySet.from_config(specs, active), component)
    return component


@pytest.fixture
def bound():
    return _bound


@pytest.fixture(scope='session')
def dfc2023_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('data') / 'dfc2023')
    generate('dfc2023', root, num_train=4, num_val=2, size=64, seed=0)
    return root


@pytest.fixture(scope='session')
def quadruplet_root(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('data') / 'quadruplet')
    generate('quadruplet', root, num_train=4, num_val=2, size=64, seed=0)
    return root


@pytest.fixture
def dfc2023_modality_specs() -> list:
    return [dict(s) for s in DFC2023_SPECS]


@pytest.fixture
def quadruplet_modality_specs() -> list:
    return [dict(s) for s in QUADRUPLET_SPECS]


@pytest.fixture(autouse=True)
def _fresh_default_scope():
    """Start each test with no default registry scope.

    mmengine's default scope is process-global: a Runner built by an earlier test
    leaves its scope (``mmengine``, ``mmseg``, ...) current, and later builds would
    then resolve names in that scope instead of the registry they were called on.
    Runners inside a test still set their own scope, as they do in the tools.
    """
    DefaultScope._instance_dict.clear()
    yield
