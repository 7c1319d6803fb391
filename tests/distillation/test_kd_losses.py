import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from nnslim.distillation import KDLoss, attention_map, attention_transfer_loss, soft_target_loss


def reference_kd(s, t, y, T, alpha):
    p_t = F.softmax(t / T, dim=1)
    kl = (p_t * (p_t.log() - F.log_softmax(s / T, dim=1))).sum(1).mean()
    return alpha * F.cross_entropy(s, y) + (1 - alpha) * T * T * kl


@pytest.mark.parametrize("T,alpha", [(1.0, 0.0), (4.0, 0.5), (2.5, 0.9), (0.5, 1.0)])
def test_matches_reference_formula(T, alpha):
    torch.manual_seed(0)
    s, t, y = torch.randn(16, 10), torch.randn(16, 10), torch.randint(0, 10, (16,))
    got = KDLoss(T, alpha)(s, t, y)
    assert torch.allclose(got, reference_kd(s, t, y, T, alpha), atol=1e-5)


def test_label_free_with_alpha_zero():
    s, t = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3)
    loss = KDLoss(2.0, 0.0)(s, t)
    loss.backward()
    assert loss.item() > 0 and s.grad is not None


def test_alpha_one_needs_no_teacher():
    s, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    assert torch.allclose(KDLoss(4.0, 1.0)(s, None, y), F.cross_entropy(s, y))


def test_log_space_survives_extreme_logits():
    # softmax probabilities would underflow to 0 here and a naive KL would give inf/nan.
    s = torch.tensor([[1000.0, -1000.0, 0.0]], requires_grad=True)
    t = torch.tensor([[-1000.0, 1000.0, 0.0]])
    loss = KDLoss(1.0, 0.0)(s, t)
    loss.backward()
    assert math.isfinite(loss.item()) and loss.item() > 100
    assert torch.isfinite(s.grad).all()


def test_teacher_gets_no_gradient():
    s, t = torch.randn(4, 3, requires_grad=True), torch.randn(4, 3, requires_grad=True)
    soft_target_loss(s, t, 3.0).backward()
    assert t.grad is None


@settings(max_examples=30, deadline=None)
@given(st.floats(0.5, 8.0), st.integers(1, 6), st.integers(2, 7))
def test_kl_is_nonnegative_and_zero_on_agreement(T, n, c):
    torch.manual_seed(n * 10 + c)
    s, t = torch.randn(n, c) * 3, torch.randn(n, c) * 3
    assert soft_target_loss(s, t, T).item() >= -1e-6
    assert abs(soft_target_loss(t, t, T).item()) < 1e-5


@pytest.mark.parametrize("T", [0, -1.0, float("nan"), float("inf"), "4"])
def test_bad_temperature(T):
    with pytest.raises(ValueError, match="temperature"):
        KDLoss(T, 0.5)


@pytest.mark.parametrize("alpha", [-0.1, 1.5, float("nan"), None])
def test_bad_alpha(alpha):
    with pytest.raises(ValueError, match="alpha"):
        KDLoss(4.0, alpha)


def test_shape_mismatch_names_the_argument():
    with pytest.raises(ValueError, match="teacher_logits"):
        KDLoss()(torch.randn(4, 10), torch.randn(4, 9), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="student_logits"):
        KDLoss()(torch.randn(4), torch.randn(4), None)


def test_missing_inputs_are_explained():
    with pytest.raises(ValueError, match="target"):
        KDLoss(4.0, 0.5)(torch.randn(4, 3), torch.randn(4, 3))
    with pytest.raises(ValueError, match="teacher_logits"):
        KDLoss(4.0, 0.5)(torch.randn(4, 3), None, torch.zeros(4, dtype=torch.long))


def test_attention_transfer_ignores_channel_width_and_scale():
    torch.manual_seed(0)
    a = torch.randn(2, 8, 4, 4)
    b = torch.cat([a, a], dim=1) * 5  # same spatial pattern, twice the channels, other scale
    assert attention_transfer_loss(b, a).item() < 1e-10
    assert attention_map(a).shape == (2, 16)
    assert attention_transfer_loss(torch.randn(2, 3, 4, 4), a).item() > 0
    with pytest.raises(ValueError, match="spatial"):
        attention_map(torch.randn(2, 8))
