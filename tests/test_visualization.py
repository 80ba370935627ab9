"""The one modality renderer and the panels drawn with it."""
import numpy as np

from incomplete_fusion.visualization import reconstruction_panel, render_modality
from incomplete_fusion.visualization.render import MISSING_COLOUR, class_colours

SPECS = [dict(name='rgb', channels=3), dict(name='sar', channels=1),
         dict(name='dw', channels=1, kind='categorical', num_classes=4)]


def test_render_modality_rgb_grey_classes_and_missing():
    rng = np.random.default_rng(0)
    rgb = rng.normal(size=(3, 8, 8))
    rgb[:, 0, 0] = np.nan
    out = render_modality(rgb, SPECS[0])
    assert out.shape == (8, 8, 3) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(out[0, 0], MISSING_COLOUR)
    grey = render_modality(rng.normal(size=(1, 8, 8)), SPECS[1])
    assert np.array_equal(grey[..., 0], grey[..., 1])
    classes = rng.integers(0, 4, (1, 8, 8)).astype(np.float32)
    probs = np.eye(4)[classes[0].astype(int)].transpose(2, 0, 1)  # (K, H, W) one-hot
    # class indices (an input) and class probabilities (a reconstruction) look the same
    np.testing.assert_allclose(render_modality(classes, SPECS[2]), class_colours(classes[0]))
    np.testing.assert_allclose(render_modality(probs, SPECS[2]), class_colours(classes[0]))


def test_reconstruction_panel_writes_a_png(tmp_path):
    rng = np.random.default_rng(1)
    inputs = rng.normal(size=(5, 16, 16)).astype(np.float32)
    inputs[3:4] = np.nan  # sar missing
    recs = dict(rgb=rng.normal(size=(3, 16, 16)), sar=rng.normal(size=(1, 16, 16)),
                dw=rng.random((4, 16, 16)))
    path = reconstruction_panel(SPECS, inputs, recs, ('rgb', 'dw'), str(tmp_path / 'p.png'))
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
