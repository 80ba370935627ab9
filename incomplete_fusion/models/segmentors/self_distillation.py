"""Modality self-distillation (DIS2-style): the full-input pass teaches the
random-subset pass, in the same training step, with the same weights.

The teacher pass gets the un-dropped inputs (``teacher_inputs``, kept by
``ModalityDropoutHook`` and stacked by the data preprocessors), runs without
gradient and with the random state replayed, so a sample whose student input is
complete gives exactly the teacher's outputs. Only samples that lost a modality
contribute; the loss is zero, with no teacher pass, when none did. Targets:
``'features'`` (fusion-token maps, MSE) and ``'logits'`` (semantic Mask2Former's
per-pixel class distribution, KL(teacher || student)).
See docs/advanced_guides/pretraining.md#modality-self-distillation-dis2-style.
"""
import math
import warnings
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.models.detectors import Mask2Former
from mmseg.models.decode_heads import Mask2FormerHead
from mmseg.utils import add_prefix
from torch import Tensor

from ...registry import MODELS
from ..data_preprocessors.multimodal import replayed_randomness
from .encoder_decoder import FusionEncoderDecoder

__all__ = ['DISTILL_TARGETS', 'parse_distill', 'dropped_samples', 'feature_distance',
           'semantic_distribution', 'distribution_distance', 'SelfDistillEncoderDecoder',
           'SelfDistillMask2Former']

DISTILL_TARGETS = ('features', 'logits')


def parse_distill(distill: Optional[dict], allowed: Sequence[str] = DISTILL_TARGETS) -> dict:
    """Validate ``distill=dict(weight=1.0, targets=('features', ))``; ``None`` = off."""
    distill = dict(distill or dict(weight=0.0, targets=('features', )))
    unknown = set(distill) - {'weight', 'targets'}
    if unknown:
        raise ValueError(f'distill takes the keys weight and targets, got unknown {sorted(unknown)}')
    weight = float(distill.get('weight', 1.0))
    if not math.isfinite(weight) or weight < 0:
        raise ValueError(f'distill.weight must be a finite number >= 0, got {weight}')
    targets = distill.get('targets', ('features', ))
    targets = (targets, ) if isinstance(targets, str) else tuple(targets)
    bad = [t for t in targets if t not in allowed]
    if bad or not targets:
        raise ValueError(f'distill.targets must be a non-empty subset of {tuple(allowed)}, '
                         f'got {targets}')
    return dict(weight=weight, targets=tuple(dict.fromkeys(targets)))


def dropped_samples(student: Tensor, teacher: Tensor) -> Tensor:
    """``(B,)`` bool: the sample's NaN pattern differs (the hook dropped a modality)."""
    if student.shape != teacher.shape:
        raise ValueError(f'teacher inputs {tuple(teacher.shape)} do not match the student\'s '
                         f'{tuple(student.shape)}')
    return (torch.isnan(student) != torch.isnan(teacher)).flatten(1).any(1)


def feature_distance(student: Sequence[Tensor], teacher: Sequence[Tensor]) -> Tensor:
    """``(B,)`` mean squared error per sample, averaged over the maps."""
    per_map = [(s - t).pow(2).flatten(1).mean(1) for s, t in zip(student, teacher)]
    return torch.stack(per_map).mean(0)


def semantic_distribution(cls_scores: Tensor, mask_preds: Tensor, eps: float = 1e-6) -> Tensor:
    """Mask2Former's last-layer ``(B, Q, C+1)`` class and ``(B, Q, h, w)`` mask logits
    -> ``(B, C, h, w)`` per-pixel class distribution (mmseg's semantic scores,
    normalised over the classes)."""
    scores = torch.einsum('bqc,bqhw->bchw', F.softmax(cls_scores, -1)[..., :-1],
                          mask_preds.sigmoid()) + eps
    return scores / scores.sum(1, keepdim=True)


def distribution_distance(student: Tensor, teacher: Tensor) -> Tensor:
    """``(B,)`` KL(teacher || student) per pixel, averaged over pixels."""
    kl = (teacher * (teacher.log() - student.log())).sum(1)
    return kl.flatten(1).mean(1)


class _SelfDistillation:
    """Shared by the mmseg and mmdet models: config, teacher pass, the loss."""

    def _init_distill(self, distill: Optional[dict], allowed: Sequence[str]) -> None:
        self.distill = parse_distill(distill, allowed)

    @property
    def wants_full_inputs(self) -> bool:
        """Read by ``ModalityDropoutHook``: keep the un-dropped inputs for the teacher."""
        return self.distill['weight'] > 0

    def _teacher(self, run, *args):
        """``run(*args)`` without gradient, leaving the random state where it was."""
        with torch.no_grad(), replayed_randomness(args[0].device):
            return run(*args)

    def _distill_loss(self, dropped: Optional[Tensor], distances: Dict[str, Tensor],
                      like: Tensor) -> Dict[str, Tensor]:
        if dropped is None or not distances:
            return dict(loss_distill=like.new_zeros(()))
        total = sum(distances.values())
        mask = dropped.to(total.dtype)
        loss = (total * mask).sum() / mask.sum().clamp_min(1)
        return dict(loss_distill=self.distill['weight'] * loss)

    def _dropped(self, inputs: Tensor, teacher_inputs: Optional[Tensor]) -> Optional[Tensor]:
        if not self.wants_full_inputs:
            return None
        if teacher_inputs is None:
            if not getattr(self, '_warned_no_teacher', False):
                warnings.warn(f'{type(self).__name__}: no teacher_inputs reached the model, so '
                              'loss_distill is 0. They come from ModalityDropoutHook (in '
                              'custom_hooks) through a Multimodal*DataPreprocessor.')
                self._warned_no_teacher = True
            return None
        dropped = dropped_samples(inputs, teacher_inputs)
        return dropped if bool(dropped.any()) else None


@MODELS.register_module()
class SelfDistillEncoderDecoder(_SelfDistillation, FusionEncoderDecoder):
    """``FusionEncoderDecoder`` + modality self-distillation (semantic Mask2Former).

    Args:
        distill: ``dict(weight=1.0, targets=('features', ))``; targets from
            ``('features', 'logits')``; ``weight=0`` turns it off (no teacher pass).
        **kwargs: as ``FusionEncoderDecoder``.
    """

    def __init__(self, *args, distill: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_distill(distill, DISTILL_TARGETS)
        if 'logits' in self.distill['targets'] and not isinstance(self.decode_head,
                                                                  Mask2FormerHead):
            raise ValueError("distill.targets 'logits' needs a Mask2FormerHead decode head, got "
                             f'{type(self.decode_head).__name__}; use targets=("features",)')

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor',
                teacher_inputs: Optional[Tensor] = None):
        if mode == 'loss':
            return self.loss(inputs, data_samples, teacher_inputs)
        return super().forward(inputs, data_samples, mode)

    def _head_outputs(self, feats: Tuple[Tensor], data_samples) -> Tuple[Tensor, Tensor]:
        x = self.neck(feats) if self.with_neck else feats
        return x, self.decode_head(x, data_samples)

    def _teacher_targets(self, teacher_inputs: Tensor, data_samples) -> Dict[str, object]:
        feats = self.backbone(teacher_inputs)
        out = dict(features=feats)
        if 'logits' in self.distill['targets']:
            cls_scores, mask_preds = self._head_outputs(feats, data_samples)[1]
            out['logits'] = semantic_distribution(cls_scores[-1], mask_preds[-1])
        return out

    def loss(self, inputs: Tensor, data_samples, teacher_inputs: Optional[Tensor] = None) -> dict:
        targets = self.distill['targets']
        dropped = self._dropped(inputs, teacher_inputs)
        teacher = (self._teacher(self._teacher_targets, teacher_inputs, data_samples)
                   if dropped is not None else None)
        feats = self.backbone(inputs)
        if 'logits' in targets:
            x, (cls_scores, mask_preds) = self._head_outputs(feats, data_samples)
            gt_instances, metas = self.decode_head._seg_data_to_instance_data(data_samples)
            losses = add_prefix(self.decode_head.loss_by_feat(cls_scores, mask_preds,
                                                              gt_instances, metas), 'decode')
        else:
            x = self.neck(feats) if self.with_neck else feats
            losses = self._decode_head_forward_train(x, data_samples)
        if self.with_auxiliary_head:
            losses.update(self._auxiliary_head_forward_train(x, data_samples))
        distances = {}
        if teacher is not None:
            if 'features' in targets:
                distances['features'] = feature_distance(feats, teacher['features'])
            if 'logits' in targets:
                student = semantic_distribution(cls_scores[-1], mask_preds[-1])
                distances['logits'] = distribution_distance(student, teacher['logits'])
        losses.update(self._distill_loss(dropped, distances, inputs))
        return losses


@MODELS.register_module()
class SelfDistillMask2Former(_SelfDistillation, Mask2Former):
    """mmdet ``Mask2Former`` (instance) + modality self-distillation of the
    backbone's fusion-token maps (``targets=('features', )`` only).

    Args:
        distill: ``dict(weight=1.0, targets=('features', ))``.
        **kwargs: as mmdet ``Mask2Former``.
    """

    def __init__(self, *args, distill: Optional[dict] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._init_distill(distill, ('features', ))

    def forward(self, inputs: Tensor, data_samples=None, mode: str = 'tensor',
                teacher_inputs: Optional[Tensor] = None):
        if mode == 'loss':
            return self.loss(inputs, data_samples, teacher_inputs)
        return super().forward(inputs, data_samples, mode)

    def loss(self, batch_inputs: Tensor, batch_data_samples,
             teacher_inputs: Optional[Tensor] = None) -> Dict[str, Tensor]:
        dropped = self._dropped(batch_inputs, teacher_inputs)
        teacher = (self._teacher(self.backbone, teacher_inputs)
                   if dropped is not None else None)
        feats = self.backbone(batch_inputs)
        x = self.neck(feats) if self.with_neck else feats
        losses = self.panoptic_head.loss(x, batch_data_samples)
        distances = {} if teacher is None else dict(features=feature_distance(feats, teacher))
        losses.update(self._distill_loss(dropped, distances, batch_inputs))
        return losses
