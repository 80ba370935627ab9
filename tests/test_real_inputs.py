"""Real-world inputs (issue 11): declared units and value checks, band selection,
complex rasters. Generated rasters reproduce each case measured on real products;
none of them may produce a prediction silently."""
import os.path as osp

import numpy as np
import pytest
import rasterio
from affine import Affine

from incomplete_fusion.apis import SceneInputError, plan_scene
from incomplete_fusion.binding import bind
from incomplete_fusion.datasets import value_checks
from incomplete_fusion.datasets.geo_io import ChannelCountError, read_modality
from incomplete_fusion.datasets.normalization import NORM_PRESETS, convert_units, expected_units
from incomplete_fusion.datasets.transforms import LoadMultimodalImages
from incomplete_fusion.datasets.value_checks import ComplexRasterError, ValueRangeError
from incomplete_fusion.modalities import UNITS, ModalitySet, ModalitySpec
from incomplete_fusion.testing.rasters import write_tif
from incomplete_fusion.testing.tiny import load_tool
from incomplete_fusion.utils.config import load_config

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SEMANTIC = osp.join(REPO, 'configs/fusionvit/mask2former_dfc2023_semantic.py')
TRANSFORM = Affine(1.0, 0.0, 500_000.0, 0.0, -1.0, 5_000_000.0)
SAR = dict(name='sar', channels=1, norm='dfc2023_sar', units='amplitude')


@pytest.fixture(autouse=True)
def _fresh_checks():
    value_checks.clear_cache()
    yield
    value_checks.clear_cache()


def amplitude(size=64, seed=0):
    """Speckled SAR amplitude around the DFC2023 statistics (median ≈ 0.15)."""
    rng = np.random.default_rng(seed)
    return (10 ** (rng.normal(-8.0, 3.0, (size, size)) / 20)).astype(np.float32)


def db_sar(size=64, seed=0):
    """dB values like the measured X-band band (−21.7 … +32.5), 39 % NaN."""
    rng = np.random.default_rng(seed)
    data = rng.uniform(-21.7, 32.5, (size, size)).astype(np.float32)
    data[rng.random((size, size)) < 0.39] = np.nan
    return data


def load(specs, paths, **kwargs):
    loader = LoadMultimodalImages(**kwargs)
    bind(ModalitySet.from_config(specs), loader)
    return loader(dict(modality_paths=paths))


def test_db_sar_given_as_amplitude_stops_naming_file_band_range_and_fix(tmp_path):
    path = str(tmp_path / 'sar_db.tif')
    write_tif(path, db_sar(), TRANSFORM)
    with pytest.raises(ValueRangeError) as err:
        load([SAR], {'sar': path})
    msg = str(err.value)
    for part in (path, "'sar'", 'band 1', "units='amplitude'", 'looks like dB',
                 "norm='s1_db'", "units='db', convert=True"):
        assert part in msg, (part, msg)
    assert 'observed -2' in msg and '… 3' in msg  # the range seen (−21.x … 3x.x)


def test_db_sar_through_tools_infer_stops_before_any_prediction(tmp_path):
    infer = load_tool('infer')
    path, out = str(tmp_path / 'sar_db.tif'), str(tmp_path / 'pred.tif')
    write_tif(path, db_sar(), TRANSFORM)
    with pytest.raises(SystemExit) as err:
        infer.main([SEMANTIC, 'no_checkpoint.pth', '--input', f'sar={path}', '--out', out])
    assert 'looks like dB' in str(err.value) and path in str(err.value)
    assert not osp.exists(out)


def test_uint16_panchromatic_given_as_sar_amplitude_is_off_the_preset_scale(tmp_path):
    rng = np.random.default_rng(1)
    path = str(tmp_path / 'pan.tif')
    write_tif(path, rng.integers(80, 2047, (64, 64)).astype(np.uint16), TRANSFORM)
    with pytest.raises(ValueRangeError) as err:
        load([SAR], {'sar': path})
    msg = str(err.value)
    assert 'median' in msg and 'uint16' in msg and 'panchromatic' in msg and path in msg


def test_amplitude_with_nan_and_nodata_passes(tmp_path):
    data = amplitude()
    data[:20] = np.nan
    data[40:, :10] = -9999.0
    path = str(tmp_path / 'sar.tif')
    write_tif(path, data, TRANSFORM, nodata=-9999.0)
    img = load([SAR], {'sar': path})['img']
    assert np.isnan(img[:20]).all() and np.isfinite(img[25:35]).all()


def test_units_not_declared_keep_the_old_behaviour(tmp_path):
    """Documented: without units nothing is checked (negative dB → NaN via log10)."""
    path = str(tmp_path / 'sar_db.tif')
    write_tif(path, db_sar(), TRANSFORM)
    img = load([dict(SAR, units=None)], {'sar': path})['img']
    assert np.isnan(img).mean() > 0.39


def test_opt_in_db_to_amplitude_conversion_matches_the_amplitude_file(tmp_path):
    amp = amplitude()
    amp_path, db_path = str(tmp_path / 'amp.tif'), str(tmp_path / 'db.tif')
    write_tif(amp_path, amp, TRANSFORM)
    write_tif(db_path, (20 * np.log10(amp)).astype(np.float32), TRANSFORM)  # dB of amplitude
    expected = load([SAR], {'sar': amp_path})['img']
    converted = load([dict(SAR, units='db', convert=True)], {'sar': db_path})['img']
    np.testing.assert_allclose(converted, expected, atol=1e-4)
    with pytest.raises(ValueError, match=r"expects 'amplitude'.*norm='s1_db'.*convert=True"):
        load([dict(SAR, units='db')], {'sar': db_path})  # contradiction fails when bound


def test_four_band_file_with_band_selection(tmp_path):
    rng = np.random.default_rng(2)
    quad = np.stack([amplitude(seed=s) for s in range(4)])  # HH, HV, VH, VV
    path = str(tmp_path / 'quadpol.tif')
    write_tif(path, quad, TRANSFORM)
    data, _ = read_modality(path, ModalitySpec(**dict(SAR, bands=[4])))
    np.testing.assert_array_equal(data[..., 0], quad[3])
    with pytest.raises(ChannelCountError, match=r'found 4 band.*bands=\[4\].*sar=FILE:4'):
        read_modality(path, ModalitySpec(**SAR))
    with pytest.raises(ChannelCountError, match='selects bands'):
        read_modality(path, ModalitySpec(**dict(SAR, bands=[5])))
    assert rng is not None


def test_band_selection_per_input_in_tools_infer(tmp_path):
    infer = load_tool('infer')
    assert infer.parse_input('sar=/data/q.tif:4') == ('sar', '/data/q.tif', (4, ))
    assert infer.parse_input('s2=l2a.tif:2,3,4,8') == ('s2', 'l2a.tif', (2, 3, 4, 8))
    assert infer.parse_input('sar=plain.tif') == ('sar', 'plain.tif', None)
    quad = np.stack([amplitude(seed=s) for s in range(3)] + [db_sar()])  # band 4 in dB
    path, out = str(tmp_path / 'quadpol.tif'), str(tmp_path / 'pred.tif')
    write_tif(path, quad, TRANSFORM)
    with pytest.raises(SystemExit, match='band 4.*looks like dB'):  # band 4 was read
        infer.main([SEMANTIC, 'none.pth', '--input', f'sar={path}:4', '--out', out])
    with pytest.raises(SystemExit, match=r'bands=\[4\]'):
        infer.main([SEMANTIC, 'none.pth', '--input', f'sar={path}', '--out', out])


def test_complex_raster_is_named_before_any_grid_message(tmp_path):
    rng = np.random.default_rng(3)
    slc = (rng.normal(size=(32, 32)) + 1j * rng.normal(size=(32, 32))).astype(np.complex64)
    path = str(tmp_path / 'slc.tif')
    rotated = Affine(0.8, 0.3, 500_000.0, 0.3, -0.8, 5_000_000.0)
    with rasterio.open(path, 'w', driver='GTiff', width=32, height=32, count=1,
                       dtype='complex64', crs='EPSG:32632', transform=rotated) as dst:
        dst.write(slc[None])
    mset = ModalitySet.from_config([SAR])
    with pytest.raises(SceneInputError, match='complex-valued.*convert to amplitude/dB first'):
        plan_scene({'sar': path}, mset)
    with pytest.raises(ComplexRasterError, match='complex64'):
        read_modality(path, ModalitySpec(**dict(SAR, units=None)))


def test_categorical_codes_outside_the_declared_set(tmp_path):
    codes = np.random.default_rng(4).integers(0, 9, (64, 64)).astype(np.uint8)
    codes[:8] = 12
    path = str(tmp_path / 'dw.tif')
    write_tif(path, codes, TRANSFORM)
    spec = dict(name='dw', channels=1, kind='categorical', num_classes=9, units='classes')
    with pytest.raises(ValueRangeError, match=r'codes 12 are outside the declared set 0\.\.8'):
        load([spec], {'dw': path})
    value_checks.clear_cache()
    load([dict(spec, nodata=12)], {'dw': path})  # 12 declared as missing: fine


def test_heights_beyond_physical_range_suggest_nodata(tmp_path):
    dsm = np.random.default_rng(5).uniform(100, 300, (64, 64)).astype(np.float32)
    dsm[:10] = -9999.0
    path = str(tmp_path / 'dsm.tif')
    write_tif(path, dsm, TRANSFORM)  # nodata not declared in the file
    spec = dict(name='dsm', channels=1, norm='tile_zscore', units='metres')
    with pytest.raises(ValueRangeError, match='nodata=-9999'):
        load([spec], {'dsm': path})
    load([dict(spec, nodata=-9999.0)], {'dsm': path})


def test_reflectance_and_db_hints(tmp_path):
    refl = np.random.default_rng(6).uniform(0.01, 0.4, (4, 64, 64)).astype(np.float32)
    path = str(tmp_path / 's2.tif')
    write_tif(path, refl, TRANSFORM)
    spec = dict(name='s2', channels=4, norm='reflectance_10000', units='reflectance_10000')
    with pytest.raises(ValueRangeError, match="units='reflectance', convert=True"):
        load([spec], {'s2': path})
    scaled = load([dict(spec, units='reflectance', convert=True)], {'s2': path})['img']
    expected = (np.clip(refl * 10000, 0, 10000) - 1800) / 1200
    np.testing.assert_allclose(scaled, expected.transpose(1, 2, 0), atol=1e-3)
    linear = str(tmp_path / 'linear.tif')
    write_tif(linear, np.full((32, 32), 400, np.uint16), TRANSFORM)
    with pytest.raises(ValueRangeError, match="not dB.*units='amplitude'"):
        load([dict(SAR, norm='s1_db', units='db')], {'sar': linear})


def test_each_file_is_checked_once(tmp_path, monkeypatch):
    path = str(tmp_path / 'sar.tif')
    write_tif(path, amplitude(), TRANSFORM)
    calls = []
    original = value_checks.check_values
    monkeypatch.setattr(value_checks, 'check_values',
                        lambda *a, **k: calls.append(1) or original(*a, **k))
    for _ in range(3):
        load([SAR], {'sar': path})
    assert len(calls) == 1
    load([SAR], {'sar': path}, check_values=False)
    assert len(calls) == 1


def test_decimated_read_checks_a_big_file_read_by_windows(tmp_path):
    data = amplitude(size=512)
    data[300:, :] = -5.0  # dB-like values only far from the first window
    path = str(tmp_path / 'big.tif')
    write_tif(path, data, TRANSFORM)
    with rasterio.open(path) as src:
        grid = dict(crs=src.crs, transform=src.transform, shape=(512, 512))
    loader = LoadMultimodalImages()
    bind(ModalitySet.from_config([SAR]), loader)
    with pytest.raises(ValueRangeError, match='looks like dB'):
        loader(dict(modality_paths={'sar': path}, target_grid=grid,
                    target_window=(0, 0, 64, 64)))


def test_spec_fields_are_validated_and_every_preset_states_its_units():
    for name, preset in NORM_PRESETS.items():
        assert preset is None or 'units' in preset, name
        assert expected_units(name) in (None, ) + UNITS
    with pytest.raises(ValueError, match='units must be one of'):
        ModalitySpec('sar', 1, units='decibel')
    with pytest.raises(ValueError, match='1-based'):
        ModalitySpec('sar', 1, bands=[0])
    with pytest.raises(ValueError, match='bands must be 2'):
        ModalitySpec('s1', 2, bands=[1])
    with pytest.raises(ValueError, match="units='classes'"):
        ModalitySpec('dw', 1, units='classes')
    assert ModalitySpec('s1', 2, bands=[1, 2]).bands == (1, 2)
    np.testing.assert_allclose(convert_units(np.float32(-10.0), 'db', 'amplitude'),
                               10 ** -0.5, rtol=1e-6)


@pytest.mark.parametrize('config, root', [
    ('configs/_base_/datasets/dfc2023_semantic.py', 'dfc2023'),
    ('configs/_base_/datasets/quadruplet.py', 'quadruplet')])
def test_shipped_units_accept_the_synthetic_releases(config, root, request):
    specs = [dict(s) for s in load_config(osp.join(REPO, config)).modality_specs]
    assert all(s.get('units') for s in specs)
    data_root = request.getfixturevalue(f'{root}_root')
    if root == 'dfc2023':
        paths = {m: osp.join(data_root, 'val', m, 'P0005.tif') for m in ('rgb', 'sar', 'dsm')}
    else:
        import glob
        first = sorted(glob.glob(osp.join(data_root, '*', 's2', '*.tif')))[0]
        paths = {m: first.replace('/s2/', f'/{m}/') for m in ('s1', 's2', 'dem', 'dw')}
    assert all(osp.exists(p) for p in paths.values()), paths
    img = load(specs, paths)['img']
    assert np.isfinite(img).any()


def test_db_input_converted_for_a_dfc2023_model_through_cfg_options(tmp_path):
    """The fix the error suggests to tools/infer.py users: planning then passes."""
    from incomplete_fusion.binding import modality_set_of
    path = str(tmp_path / 'sar_db.tif')
    write_tif(path, (20 * np.log10(amplitude())).astype(np.float32), TRANSFORM)
    options = {'modality_specs.1.units': 'db', 'modality_specs.1.convert': True}
    plan = plan_scene({'sar': path}, modality_set_of(load_config(SEMANTIC, options)))
    assert plan.modality_set.spec('sar').convert
    with pytest.raises(ValueRangeError):
        plan_scene({'sar': path}, modality_set_of(load_config(SEMANTIC)))
