"""Every normalisation preset on known values; NaN stays NaN; denormalize inverts each."""
import numpy as np
import pytest

from incomplete_fusion.datasets.normalization import (NORM_PRESETS, denormalize,
                                                      needs_tile_statistics, normalize,
                                                      resolve_norm, tile_statistics)
from incomplete_fusion.modalities import ModalitySpec


def px(*channels):
    """One-pixel (1, 1, C) image."""
    return np.array(channels, np.float32).reshape(1, 1, -1)


def test_dfc2023_rgb_fixed_statistics():
    out = normalize(px(81.2 + 41.3, 87.8, 71.9 - 2 * 37.4), 'dfc2023_rgb')
    np.testing.assert_allclose(out.ravel(), [1.0, 0.0, -2.0], atol=1e-5)
    assert out.dtype == np.float32


@pytest.mark.parametrize('amplitude, expected_db', [
    (10 ** (-7.945 / 10), -7.945),  # exactly the mean → 0
    (1.0, 0.0),  # 0 dB
    (10.0, 0.0),  # +10 dB clipped to the upper bound 0
    (1e-5, -25.0),  # -50 dB clipped to -25
    (0.0, -25.0),  # log of 1e-7 = -70 dB, clipped
])
def test_dfc2023_sar_amplitude_to_db_clip_zscore(amplitude, expected_db):
    out = normalize(px(amplitude), 'dfc2023_sar')
    np.testing.assert_allclose(out.ravel(), [(expected_db + 7.945) / 2.777], atol=1e-4)


def test_tile_zscore_ignores_nan_and_handles_degenerate_channels():
    img = np.full((2, 2, 3), np.nan, np.float32)
    img[..., 0] = [[1, 2], [3, np.nan]]
    img[..., 1] = 5.0  # constant → 0
    # channel 2 all NaN → stays NaN
    out = normalize(img, 'tile_zscore')
    expected = (np.array([1, 2, 3]) - 2.0) / np.std([1, 2, 3])
    np.testing.assert_allclose(out[..., 0].ravel()[:3], expected, atol=1e-5)
    assert np.isnan(out[1, 1, 0])
    np.testing.assert_array_equal(out[..., 1], 0.0)
    assert np.isnan(out[..., 2]).all()


def test_quadruplet_s2_clip_and_statistics():
    out = normalize(px(12000, 1265.4, 1269.0 + 403.0, -5), 'quadruplet_s2')
    np.testing.assert_allclose(
        out.ravel(), [(10000 - 1353.3) / 242.1, 0.0, 1.0, (0 - 1976.1) / 516.8], atol=1e-4)


def test_quadruplet_s1_clip_and_statistics():
    out = normalize(px(-30.0, -15.73 + 3.67), 'quadruplet_s1')
    np.testing.assert_allclose(out.ravel(), [(-25 + 9.02) / 3.58, 1.0], atol=1e-5)


def test_quadruplet_dem_clip_then_tile_zscore():
    img = np.array([-200.0, 0.0, 100.0, 6000.0, np.nan], np.float32).reshape(1, 5, 1)
    out = normalize(img, 'quadruplet_dem')
    clipped = np.array([-100.0, 0.0, 100.0, 5000.0])
    np.testing.assert_allclose(out.ravel()[:4], (clipped - clipped.mean()) / clipped.std(),
                               atol=1e-5)
    assert np.isnan(out.ravel()[4])


def test_categorical_none_keeps_class_indices():
    img = px(0, 3, 8)
    out = normalize(img, 'none')
    np.testing.assert_array_equal(out, img)
    np.testing.assert_array_equal(normalize(img, None), img)


def test_explicit_statistics_dict_and_nan_passthrough():
    norm = dict(clip=(0.0, 1.0), mean=0.5, std=0.5)
    out = normalize(np.array([-1.0, 0.5, 2.0, np.nan], np.float32).reshape(1, 4, 1), norm)
    np.testing.assert_allclose(out.ravel()[:3], [-1.0, 0.0, 1.0])
    assert np.isnan(out.ravel()[3])
    db = normalize(px(100.0), dict(db=True))
    np.testing.assert_allclose(db.ravel(), [20.0], atol=1e-4)


def test_every_preset_resolves_and_spec_refers_to_it():
    for name in NORM_PRESETS:
        resolve_norm(name)
        ModalitySpec(name='m', channels=1, norm=name)
    assert set(NORM_PRESETS) >= {'dfc2023_rgb', 'dfc2023_sar', 'tile_zscore', 'quadruplet_s2',
                                 'quadruplet_s1', 'quadruplet_dem', 'none'}


def test_bad_norm_configs_fail_clearly():
    with pytest.raises(KeyError, match='dfc2023_rgb'):
        resolve_norm('dfc2032_rgb')  # typo: message lists the known presets
    with pytest.raises(KeyError, match='scale'):
        resolve_norm(dict(scale=2.0))
    with pytest.raises(ValueError, match='mean and std'):
        resolve_norm(dict(mean=1.0))
    with pytest.raises(ValueError, match='3 values for 4'):
        normalize(np.zeros((1, 1, 4), np.float32), dict(mean=(1, 2, 3), std=(1, 1, 1)))


RAW = {  # inside every clip range, so normalize -> denormalize is the identity
    'dfc2023_rgb': (10.0, 120.0, 250.0),
    'dfc2023_sar': (0.05, ),
    'tile_zscore': (3.0, ),
    'quadruplet_s2': (500.0, 900.0, 2000.0, 3000.0),
    'quadruplet_s1': (-12.0, -20.0),
    'quadruplet_dem': (250.0, ),
    'isprs_optical': (40.0, 120.0, 230.0),
    'isprs_ndsm': (90.0, ),
    's1_db': (-12.0, ),
    'sar_amplitude': (0.3, ),
    'sar_power': (0.05, ),
    'reflectance_10000': (500.0, 900.0, 2000.0, 3000.0),
    'none': (4.0, ),
}


@pytest.mark.parametrize('preset', sorted(NORM_PRESETS))
def test_denormalize_inverts_every_preset(preset):
    values = np.array(RAW[preset], np.float32)
    raw = np.stack([values, values * 0.5, values * 0.25, values * np.nan])[None]  # (1, 4, C)
    if preset == 'quadruplet_s1':
        raw = np.stack([values, values - 1, values + 2, values * np.nan])[None]
    normalised = normalize(raw, preset)
    tile_stats = tile_statistics(raw, preset)
    assert (tile_stats is not None) == needs_tile_statistics(preset)
    back = denormalize(normalised, preset, tile_stats)
    np.testing.assert_allclose(back, raw, rtol=1e-4)
    assert back.dtype == np.float32 and np.isnan(back[0, 3]).all()
    # channels first, as model outputs are
    chw = denormalize(normalised.transpose(2, 0, 1), preset, tile_stats, channel_axis=0)
    np.testing.assert_allclose(chw, raw.transpose(2, 0, 1), rtol=1e-4)


def test_denormalize_per_tile_zscore_needs_the_tile_statistics():
    values = np.array([[[-1.0], [1.0]]], np.float32)
    with pytest.raises(ValueError, match='tile_statistics'):
        denormalize(values, 'tile_zscore')
    back = denormalize(values, 'tile_zscore', (np.array([10.0]), np.array([2.0])))
    np.testing.assert_allclose(back.ravel(), [8.0, 12.0])
    # the statistics are those normalize used: after clipping, NaN ignored
    mean, std = tile_statistics(np.array([[[-200.0], [100.0], [np.nan]]]), 'quadruplet_dem')
    np.testing.assert_allclose([mean[0], std[0]], [0.0, 100.0])
    assert tile_statistics(np.ones((1, 1, 3)), 'dfc2023_rgb') is None
