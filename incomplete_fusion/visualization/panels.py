"""Qualitative panels: each modality, the ground truth and the prediction per subset.

A person judging a missing-modality model wants to see, for the same tile, what
each sensor shows and how the prediction changes as sensors disappear. One row
per (tile, subset): the modalities (blank where absent), the ground truth, the
prediction.
"""
from typing import Iterable, List, Optional, Sequence

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from ..modalities import (SpecLike, channel_slices, keep_only, parse_modalities,  # noqa: E402
                          resolve_active)

MISSING_COLOUR = (0.85, 0.85, 0.85)


def _stretch(values: np.ndarray) -> np.ndarray:
    """2-98 % percentile stretch to [0, 1], ignoring NaN (a display, not a metric)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return np.full_like(values, np.nan)
    low, high = np.percentile(finite, [2, 98])
    return np.clip((values - low) / max(high - low, 1e-6), 0, 1)


def render_modality(image: np.ndarray, spec: SpecLike) -> np.ndarray:
    """An RGB(A) picture of one modality's ``(C, H, W)`` channels; NaN shows as grey."""
    spec = parse_modalities([spec])[0]
    if spec.is_categorical:
        cmap = plt.get_cmap('tab10')
        classes = image[0]
        rgb = cmap(np.nan_to_num(classes, nan=0).astype(int) % cmap.N)[..., :3]
    elif image.shape[0] >= 3:
        rgb = np.stack([_stretch(c) for c in image[:3]], -1)
    else:
        rgb = np.repeat(_stretch(image[0])[..., None], 3, -1)
    missing = ~np.isfinite(image).all(0)
    rgb = np.where(missing[..., None], MISSING_COLOUR, np.nan_to_num(rgb))
    return rgb


def _label_image(sample, kind: str) -> np.ndarray:
    """Ground truth or prediction as an integer image (semantic: classes, instance: ids)."""
    if kind == 'pred_sem_seg' or kind == 'gt_sem_seg':
        return getattr(sample, kind).data[0].cpu().numpy()
    instances = getattr(sample, kind)
    masks = instances.masks
    if hasattr(masks, 'to_ndarray'):
        masks = masks.to_ndarray()
    masks = torch.as_tensor(masks).cpu().numpy().astype(bool)
    if kind == 'pred_instances' and 'scores' in instances:
        masks = masks[instances.scores.cpu().numpy() >= 0.5]
    ids = np.zeros(masks.shape[1:], np.int32)
    for i, mask in enumerate(masks, 1):
        ids[mask] = i
    return ids


def _show_labels(ax, labels: np.ndarray, instance: bool):
    if instance:
        cmap = plt.get_cmap('tab20')
        shown = np.where(labels[..., None] > 0, cmap(labels % 20)[..., :3], 0.0)
        ax.imshow(shown, interpolation='nearest')
    else:
        ax.imshow(labels, cmap='tab10', vmin=0, vmax=9, interpolation='nearest')


@torch.no_grad()
def subset_prediction_panel(model,
                            dataset,
                            modality_specs: Sequence[SpecLike],
                            out_file: str,
                            indices: Iterable[int] = (0, 1),
                            subsets: Optional[Sequence[Sequence[str]]] = None) -> List[dict]:
    """Draw one row per (tile, subset): modalities, ground truth, prediction.

    Args:
        model: an mmseg segmentor or mmdet detector in eval mode (``test_step``).
        dataset: a test dataset whose pipeline yields ``inputs`` with *all*
            modalities loaded; each subset is made by NaN-ing the others.
        modality_specs: the config's declared modalities.
        out_file: PNG path.
        indices: dataset indices of the tiles to show.
        subsets: modality subsets (default: all, then each single modality).

    Returns:
        One dict per row (``index``, ``subset``, ``pred`` array) for callers
        that want the numbers behind the picture.
    """
    specs = parse_modalities(modality_specs)
    names = [s.name for s in specs]
    subsets = [resolve_active(s, specs) for s in (subsets or [names] + [[n] for n in names])]
    slices = channel_slices(specs)
    rows = []
    for index in indices:
        sample = dataset[index]
        for subset in subsets:
            inputs = keep_only(sample['inputs'].clone().float(), subset, specs)
            pred = model.test_step(dict(inputs=[inputs], data_samples=[sample['data_samples']]))[0]
            instance = 'pred_instances' in pred
            rows.append(dict(index=index, subset=subset, inputs=inputs.numpy(),
                             gt=_label_image(pred, 'gt_instances' if instance else 'gt_sem_seg'),
                             pred=_label_image(pred, 'pred_instances' if instance else
                                               'pred_sem_seg'),
                             instance=instance))
    columns = len(specs) + 2
    fig, axes = plt.subplots(len(rows), columns, figsize=(2.2 * columns, 2.2 * len(rows)),
                             squeeze=False)
    for row, axs in zip(rows, axes):
        for ax, spec in zip(axs, specs):
            ax.imshow(render_modality(row['inputs'][slices[spec.name]], spec),
                      interpolation='nearest')
        _show_labels(axs[-2], row['gt'], row['instance'])
        _show_labels(axs[-1], row['pred'], row['instance'])
        axs[0].set_ylabel(f"tile {row['index']}\n{'+'.join(row['subset'])}", fontsize=8)
    for ax, title in zip(axes[0], names + ['ground truth', 'prediction']):
        ax.set_title(title, fontsize=9)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
    plt.close(fig)
    return [dict(index=r['index'], subset=r['subset'], pred=r['pred']) for r in rows]
