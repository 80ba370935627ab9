"""The one way a modality's channels become a picture (panels, reconstructions)."""
import numpy as np

from ..modalities import SpecLike, parse_modalities

MISSING_COLOUR = (0.85, 0.85, 0.85)


def stretch(values: np.ndarray) -> np.ndarray:
    """2-98 % percentile stretch to [0, 1], ignoring NaN (a display, not a metric)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full_like(values, np.nan)
    low, high = np.percentile(finite, [2, 98])
    return np.clip((values - low) / max(high - low, 1e-6), 0, 1)


def class_colours(classes: np.ndarray) -> np.ndarray:
    """(H, W) class indices (NaN allowed) -> (H, W, 3) colours of matplotlib's tab10."""
    from matplotlib import colormaps

    cmap = colormaps['tab10']
    return cmap(np.nan_to_num(classes, nan=0).astype(int) % cmap.N)[..., :3]


def render_modality(image: np.ndarray, spec: SpecLike) -> np.ndarray:
    """An (H, W, 3) RGB picture in [0, 1] of one modality's ``(C, H, W)`` channels.

    Three or more channels: the first three, each stretched; one channel: grey;
    categorical: a colour per class, from class indices ``(1, H, W)`` or class
    probabilities ``(K, H, W)`` (argmax). Pixels without data show light grey.
    """
    spec = parse_modalities([spec])[0]
    image = np.asarray(image, dtype=np.float64)
    missing = ~np.isfinite(image).all(0)
    if spec.is_categorical:
        classes = image[0] if image.shape[0] == 1 else np.nan_to_num(image).argmax(0)
        rgb = class_colours(classes)
    elif image.shape[0] >= 3:
        rgb = np.stack([stretch(c) for c in image[:3]], -1)
    else:
        rgb = np.repeat(stretch(image[0])[..., None], 3, -1)
    return np.where(missing[..., None], MISSING_COLOUR, np.nan_to_num(rgb))
