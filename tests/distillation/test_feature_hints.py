import pytest
import torch
import torch.nn as nn

from nnslim.datasets import DigitsCNN
from nnslim.distillation import ChannelProjection, FeatureHints
from nnslim.distillation.hints import WidthUnknownError


def _pair(tw=16, sw=8):
    torch.manual_seed(0)
    return DigitsCNN(tw).eval(), DigitsCNN(sw)


def test_projection_is_trained_with_the_student():
    teacher, student = _pair()
    x = torch.rand(4, 1, 8, 8)
    hints = FeatureHints(teacher, student, {"features.3": "features.3", "classifier.1": "classifier.1"})
    assert [type(p) for p in hints.projections] == [ChannelProjection, ChannelProjection]
    assert hints.projections[0].linear.weight.shape == (32, 16)   # conv: 1x1 over channels
    assert hints.projections[1].linear.weight.shape == (64, 32)   # linear
    opt = torch.optim.SGD(list(student.parameters()) + list(hints.parameters()), lr=0.1)
    with torch.no_grad():
        teacher(x)
    student(x)
    before = hints.projections[0].linear.weight.clone()
    loss = hints.loss()
    loss.backward()
    opt.step()
    assert not torch.equal(before, hints.projections[0].linear.weight)
    assert student.features[3].weight.grad is not None
    assert all(p.grad is None for p in teacher.parameters())
    # the models are not submodules of the hints: only projections are its parameters
    assert sum(p.numel() for p in hints.parameters()) == 32 * 16 + 64 * 32
    hints.remove()


def test_equal_widths_need_no_projection_and_identical_models_give_zero():
    teacher, _ = _pair()
    student = DigitsCNN(16)
    student.load_state_dict(teacher.state_dict())
    student.eval()
    x = torch.rand(3, 1, 8, 8)
    for loss in ("mse", "cosine", "attention"):
        with FeatureHints(teacher, student, {"features.7": "features.7"}, loss=loss) as hints:
            assert sum(p.numel() for p in hints.parameters()) == 0
            teacher(x), student(x)
            assert hints().item() == pytest.approx(0.0, abs=1e-6)


def test_attention_needs_no_projection_across_widths():
    teacher, student = _pair(32, 8)
    with FeatureHints(teacher, student, [("features.5", "features.5")], loss="attention") as hints:
        assert len(list(hints.parameters())) == 0
        x = torch.rand(2, 1, 8, 8)
        teacher(x), student(x)
        loss = hints.loss()
        loss.backward()
        assert loss.item() > 0 and student.features[0].weight.grad is not None


def test_unknown_layer_names_list_valid_ones():
    teacher, student = _pair()
    with pytest.raises(ValueError, match=r"unknown teacher layer name 'features\.33'.*features\.3"):
        FeatureHints(teacher, student, {"features.33": "features.3"})
    with pytest.raises(ValueError, match=r"student layer name 'feature'.*Valid names include: features"):
        FeatureHints(teacher, student, {"features.3": "feature"})
    # a failed construction leaves no hooks behind
    assert not teacher.features[3]._forward_hooks and not student.features[3]._forward_hooks


def test_bad_arguments():
    teacher, student = _pair()
    with pytest.raises(ValueError, match="loss"):
        FeatureHints(teacher, student, {"features.3": "features.3"}, loss="l2")
    with pytest.raises(ValueError, match="pairs"):
        FeatureHints(teacher, student, {})


def test_width_of_parameter_free_layers_needs_an_example():
    teacher, student = _pair()
    pairs = {"features.6": "features.6"}  # MaxPool2d: width not readable from the layer
    with pytest.raises(WidthUnknownError, match="example_input"):
        FeatureHints(teacher, student, pairs)
    x = torch.rand(2, 1, 8, 8)
    student.train()
    hints = FeatureHints(teacher, student, pairs, example_input=x)
    assert student.training and hints.projections[0].linear.weight.shape == (32, 16)
    teacher(x), student(x)
    assert hints.loss().item() > 0


def test_inplace_relu_does_not_rewrite_captured_features():
    teacher, student = _pair()
    with FeatureHints(teacher, student, {"features.1": "features.1"}) as hints:  # BN, then ReLU(inplace)
        teacher(torch.rand(4, 1, 8, 8))
        assert (hints._teacher_feats["features.1"] < 0).any()


def test_remove_detaches_hooks_and_loss_requires_both_passes():
    teacher, student = _pair()
    hints = FeatureHints(teacher, student, {"features.3": "features.3"})
    teacher(torch.rand(2, 1, 8, 8))
    with pytest.raises(RuntimeError, match="features.3"):
        hints.loss()
    hints.remove()
    assert not teacher.features[3]._forward_hooks and not student.features[3]._forward_hooks


def test_mismatched_shapes_fail_loudly():
    teacher = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    student = nn.Sequential(nn.Linear(4, 6), nn.ReLU(), nn.Linear(6, 3))
    with FeatureHints(teacher, student, {"0": "2"}) as hints:  # widths 6 vs 3: projected, fine
        x = torch.rand(5, 4)
        teacher(x), student(x)
        assert hints.loss().item() >= 0
        teacher(torch.rand(2, 4))
        with pytest.raises(ValueError, match="batch"):
            hints.loss()
