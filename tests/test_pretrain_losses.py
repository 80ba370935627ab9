"""Pretraining loss functions against hand-computed values."""
import math

import pytest
import torch

from incomplete_fusion.models.selfsup.losses import (dino_cross_entropy, info_nce,
                                                     masked_reconstruction_loss)


def test_info_nce_matches_hand_computed_value():
    q = torch.tensor([[1.0, 0.0], [0.0, 2.0]])  # norms differ: cosine must normalise
    k = torch.tensor([[3.0, 0.0], [1.0, 1.0]])
    t = 0.5
    r = 1 / math.sqrt(2)
    # cosine similarities s_ij = cos(q_i, k_j): [[1, r], [0, r]], divided by t
    s = [[1 / t, r / t], [0.0, r / t]]
    q_to_k = -(math.log(math.exp(s[0][0]) / (math.exp(s[0][0]) + math.exp(s[0][1])))
               + math.log(math.exp(s[1][1]) / (math.exp(s[1][0]) + math.exp(s[1][1])))) / 2
    k_to_q = -(math.log(math.exp(s[0][0]) / (math.exp(s[0][0]) + math.exp(s[1][0])))
               + math.log(math.exp(s[1][1]) / (math.exp(s[0][1]) + math.exp(s[1][1])))) / 2
    assert info_nce(q, k, t).item() == pytest.approx((q_to_k + k_to_q) / 2, abs=1e-6)
    assert info_nce(q, k, t, symmetric=False).item() == pytest.approx(q_to_k, abs=1e-6)


def test_info_nce_rejects_unpaired_inputs():
    with pytest.raises(ValueError):
        info_nce(torch.zeros(2, 3), torch.zeros(3, 3))


def test_dino_cross_entropy_hand_computed_and_stops_teacher_gradient():
    student = torch.tensor([[0.0, 0.1]], requires_grad=True)
    teacher = torch.tensor([[0.2, 0.0]], requires_grad=True)
    center = torch.tensor([[0.1, 0.0]])
    loss = dino_cross_entropy(student, teacher, center, student_temperature=0.1,
                              teacher_temperature=0.05)
    p0 = math.exp(0.1 / 0.05) / (math.exp(0.1 / 0.05) + 1)
    s_log = [0.0 / 0.1 - math.log(1 + math.exp(1.0)), 1.0 - math.log(1 + math.exp(1.0))]
    assert loss.item() == pytest.approx(-(p0 * s_log[0] + (1 - p0) * s_log[1]), abs=1e-6)
    loss.backward()
    assert teacher.grad is None and student.grad is not None


def test_masked_losses_count_only_selected_finite_pixels():
    pred = torch.zeros(1, 2, 4)
    target = torch.tensor([[[1.0, 1.0, float('nan'), 3.0], [10.0, 10.0, 10.0, 10.0]]])
    only_first = torch.tensor([[True, False]])
    assert masked_reconstruction_loss(pred, target, only_first, 'l2').item() == pytest.approx(
        (1 + 1 + 9) / 3)
    assert masked_reconstruction_loss(pred, target, only_first, 'l1').item() == pytest.approx(
        (1 + 1 + 3) / 3)
    none = torch.zeros(1, 2, dtype=torch.bool)
    pred.requires_grad_(True)
    zero = masked_reconstruction_loss(pred, target, none, 'l2')
    assert zero.item() == 0.0 and zero.requires_grad


def test_cross_entropy_ignores_missing_pixels():
    logits = torch.tensor([[[[2.0, 0.0], [0.0, 2.0], [5.0, -5.0]]]])  # (1, L=1, P=3, K=2)
    target = torch.tensor([[[0.0, 0.0, float('nan')]]])
    loss = masked_reconstruction_loss(logits, target, torch.tensor([[True]]), 'ce')
    expected = (-math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(1 / (1 + math.exp(2)))) / 2
    assert loss.item() == pytest.approx(expected, abs=1e-6)


def test_unknown_loss_type():
    with pytest.raises(ValueError):
        masked_reconstruction_loss(torch.zeros(1, 1, 1), torch.zeros(1, 1, 1),
                                   torch.ones(1, 1, dtype=torch.bool), 'huber')
