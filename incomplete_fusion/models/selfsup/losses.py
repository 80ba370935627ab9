"""Loss functions of the multimodal pretraining (plain functions, easy to check by hand)."""
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor

RECONSTRUCTION_LOSSES = ('l2', 'l1', 'ce')


def masked_reconstruction_loss(pred: Tensor, target: Tensor, patch_mask: Tensor,
                               loss_type: str) -> Tensor:
    """Mean reconstruction error over the finite target pixels of the selected patches.

    Args:
        pred: (B, L, P*C) values, or (B, L, P, K) class logits for ``'ce'``.
        target: (B, L, P*C) values, or (B, L, P) class indices for ``'ce'``;
            NaN marks pixels without data, which never count.
        patch_mask: BoolTensor(B, L), the patches that count (masked and available).
        loss_type: ``'l2'`` (mean squared error), ``'l1'`` or ``'ce'``.

    Returns a scalar; zero (still attached to ``pred``'s graph, so that every
    decoder parameter receives a gradient in distributed training) when nothing counts.
    """
    if loss_type not in RECONSTRUCTION_LOSSES:
        raise ValueError(f'loss type must be one of {RECONSTRUCTION_LOSSES}, got {loss_type!r}')
    valid = torch.isfinite(target) & patch_mask[..., None]
    safe_target = torch.where(valid, target, torch.zeros_like(target))
    if loss_type == 'ce':
        if not valid.any():
            return pred.sum() * 0.0
        return F.cross_entropy(pred[valid], safe_target[valid].long())
    if not valid.any():
        return pred.sum() * 0.0
    diff = pred - safe_target
    err = diff.pow(2) if loss_type == 'l2' else diff.abs()
    return err[valid].mean()


def info_nce(query: Tensor, key: Tensor, temperature: float = 0.1,
             symmetric: bool = True) -> Tensor:
    """InfoNCE between paired rows of ``query`` and ``key`` across the batch.

    Cosine similarity divided by ``temperature``; row i of ``query`` is the positive
    of row i of ``key`` and every other row a negative. The symmetric version
    averages the query->key and key->query cross-entropies (paper eq. 5-6)::

        s_ij = cos(q_i, k_j) / t
        L = -1/(2N) sum_i [log softmax_j(s_ij)[i] + log softmax_j(s_ji)[i]]
    """
    if query.shape != key.shape or query.dim() != 2:
        raise ValueError(f'query and key must both be (N, D), got {tuple(query.shape)} '
                         f'and {tuple(key.shape)}')
    logits = F.normalize(query, dim=1) @ F.normalize(key, dim=1).t() / temperature
    labels = torch.arange(query.shape[0], device=query.device)
    loss = F.cross_entropy(logits, labels)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.t(), labels))
    return loss


def dino_cross_entropy(student: Tensor, teacher: Tensor, center: Optional[Tensor],
                       student_temperature: float = 0.1,
                       teacher_temperature: float = 0.04) -> Tensor:
    """Negatives-free DINO objective: the student's softmax matches the teacher's
    centred, sharpened softmax; the teacher is not back-propagated through."""
    teacher = teacher.detach()
    if center is not None:
        teacher = teacher - center
    targets = F.softmax(teacher / teacher_temperature, dim=-1)
    return -(targets * F.log_softmax(student / student_temperature, dim=-1)).sum(-1).mean()
