"""Qualitative panels: each modality, the ground truth and the prediction per subset.

A person judging a missing-modality model wants to see, for the same tile, what
each sensor shows and how the prediction changes as sensors disappear. One row
per (tile, subset): the modalities (blank where absent), the ground truth, the
prediction. :func:`reconstruction_panel` shows a MultiMAE fill-in the same way:
per modality, the input (or "missing") and the reconstruction.

Figures are drawn on a bare ``matplotlib.figure.Figure``: no pyplot, no global
backend switch on import.
"""
from typing import Iterable, List, Mapping, Optional, Sequence

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.figure import Figure

from ..binding import bind
from ..modalities import ModalitySet, SpecLike
from .render import class_colours, render_modality


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
        cmap = colormaps['tab20']
        shown = np.where(labels[..., None] > 0, cmap(labels % 20)[..., :3], 0.0)
        ax.imshow(shown, interpolation='nearest')
    else:
        ax.imshow(class_colours(labels), interpolation='nearest')


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
        dataset: a test dataset of this declaration; each subset is made by
            NaN-ing the other modalities. The panel binds all declared
            modalities as active to ``dataset`` and ``model`` (it makes the
            subsets itself).
        modality_specs: the config's declared modalities.
        out_file: PNG path.
        indices: dataset indices of the tiles to show.
        subsets: modality subsets (default: all, then each single modality).

    Returns:
        One dict per row (``index``, ``subset``, ``pred`` array) for callers
        that want the numbers behind the picture.
    """
    mset = ModalitySet.from_config(modality_specs)
    bind(mset, model, dataset)
    specs, names, slices = mset.specs, list(mset.names), mset.slices
    subsets = [mset.resolve(s) for s in (subsets or [names] + [[n] for n in names])]
    rows = []
    for index in indices:
        sample = dataset[index]
        for subset in subsets:
            inputs = mset.keep_only(sample['inputs'].clone().float(), subset)
            pred = model.test_step(dict(inputs=[inputs], data_samples=[sample['data_samples']]))[0]
            instance = 'pred_instances' in pred
            rows.append(dict(index=index, subset=subset, inputs=inputs.numpy(),
                             gt=_label_image(pred, 'gt_instances' if instance else 'gt_sem_seg'),
                             pred=_label_image(pred, 'pred_instances' if instance else
                                               'pred_sem_seg'),
                             instance=instance))
    columns = len(specs) + 2
    fig = Figure(figsize=(2.2 * columns, 2.2 * len(rows)))
    axes = fig.subplots(len(rows), columns, squeeze=False)
    for row, axs in zip(rows, axes):
        for ax, spec in zip(axs, specs):
            ax.imshow(render_modality(row['inputs'][slices[spec.name]], spec),
                      interpolation='nearest')
        _show_labels(axs[-2], row['gt'], row['instance'])
        _show_labels(axs[-1], row['pred'], row['instance'])
        axs[0].set_ylabel(_row_label(row, names), fontsize=12, rotation=0, ha='right',
                          va='center')
    for ax, title in zip(axes[0], [n.upper() for n in names] + ['ground truth', 'prediction']):
        ax.set_title(title, fontsize=12)
    _save(fig, axes, out_file)
    return [dict(index=r['index'], subset=r['subset'], pred=r['pred']) for r in rows]


def _row_label(row: dict, names: Sequence[str]) -> str:
    """'tile 1: all three' for a tile's first row with every modality, else 'SAR only',
    'RGB + DSM' (legible at a README's width)."""
    subset = list(row['subset'])
    if len(subset) == len(names):
        count = {2: 'two', 3: 'three', 4: 'four'}.get(len(names), str(len(names)))
        return f"tile {row['index'] + 1}: all {count}"
    label = ' + '.join(n.upper() for n in subset)
    return label + ' only' if len(subset) == 1 else label


def reconstruction_panel(modality_specs: Sequence[SpecLike], inputs: np.ndarray,
                         reconstructions: Mapping[str, np.ndarray], given: Sequence[str],
                         out_file: str) -> str:
    """PNG: one row per modality, columns 'input' (or "missing") and 'reconstruction'.

    Args:
        modality_specs: the declared modalities.
        inputs: the normalised model input (C, H, W) of all declared channels.
        reconstructions: ``{name: (C, H, W)}``, categorical as class probabilities.
        given: the modalities that were in the input.
        out_file: PNG path (returned).
    """
    mset = ModalitySet.from_config(modality_specs)
    fig = Figure(figsize=(6, 3 * len(mset.specs)))
    axes = fig.subplots(len(mset.specs), 2, squeeze=False)
    for (ax_in, ax_rec), spec in zip(axes, mset.specs):
        shown = inputs[mset.slices[spec.name]]
        if spec.name in given and np.isfinite(shown).any():
            ax_in.imshow(render_modality(shown, spec), interpolation='nearest')
        else:
            ax_in.text(0.5, 0.5, 'missing', ha='center', va='center', transform=ax_in.transAxes)
        ax_rec.imshow(render_modality(reconstructions[spec.name], spec), interpolation='nearest')
        ax_in.set_title(f'{spec.name}: input', fontsize=9)
        ax_rec.set_title(f'{spec.name}: reconstruction', fontsize=9)
    _save(fig, axes, out_file)
    return out_file


def _save(fig: Figure, axes: np.ndarray, out_file: str) -> None:
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    fig.savefig(out_file, dpi=100)
