import pytest
import torch
import torch.nn as nn
import torch.nn.utils.prune as prune

from nnslim.datasets import DigitsCNN
from nnslim.distillation import InheritReport, inherit_weights

from distill_testutils import mlp


def _randomise_batchnorm(model):
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            m.running_mean.uniform_(-1, 1), m.running_var.uniform_(0.5, 2)
            m.weight.data.uniform_(0.5, 1.5), m.bias.data.uniform_(-0.5, 0.5)


@torch.no_grad()
def _kill(layer, bn, alive):
    """Zero every unit of ``layer`` outside ``alive`` (and its BN), so it outputs exactly 0 there."""
    dead = torch.ones(layer.weight.shape[0], dtype=torch.bool)
    dead[alive] = False
    layer.weight[dead] = 0
    if layer.bias is not None:
        layer.bias[dead] = 0
    if bn is not None:
        bn.weight[dead] = 0
        bn.bias[dead] = 0


@torch.no_grad()
def test_narrow_cnn_reproduces_a_teacher_whose_extra_channels_are_dead():
    # Only the L1-selected channels carry signal, so a correct inheritance (channel choice, input
    # slices, BN stats, flatten column groups) must reproduce the teacher exactly.
    torch.manual_seed(0)
    teacher = DigitsCNN(32)
    _randomise_batchnorm(teacher)
    g = torch.Generator().manual_seed(1)
    f, c = teacher.features, teacher.classifier
    for conv, bn, keep in ((f[0], f[1], 8), (f[3], f[4], 16), (f[7], f[8], 32), (c[1], None, 32)):
        _kill(conv, bn, torch.randperm(conv.weight.shape[0], generator=g)[:keep])
    teacher.eval()
    student = DigitsCNN(8).eval()
    report = inherit_weights(teacher, student)
    x = torch.rand(16, 1, 8, 8)
    assert torch.allclose(student(x), teacher(x), atol=1e-5)
    assert isinstance(report, InheritReport) and len(report) == 8
    assert [m.teacher for m in report] == [m.student for m in report]
    lin = report.layers[6]
    assert (lin.kind, lin.teacher_shape, lin.student_shape, lin.kept_out, lin.kept_in) == \
        ("Linear", (128, 2048), (32, 512), 32, 512)
    assert report.layers[-1].kept_out == 10
    assert "classifier.1" in str(report)


@torch.no_grad()
def test_kept_channels_are_the_largest_l1_filters_and_slices_follow():
    torch.manual_seed(0)
    teacher, student = DigitsCNN(32), DigitsCNN(8)
    report = inherit_weights(teacher, student)
    conv0, conv1 = report.layers[0], report.layers[2]
    l1 = teacher.features[0].weight.abs().sum((1, 2, 3))
    assert set(conv0.out_indices) == set(l1.topk(8).indices.tolist())
    assert conv0.out_indices == sorted(conv0.out_indices)
    expected = teacher.features[3].weight[conv1.out_indices][:, conv0.out_indices]
    assert torch.equal(student.features[3].weight, expected)
    assert torch.equal(student.features[4].running_var, teacher.features[4].running_var[conv1.out_indices])


@torch.no_grad()
def test_same_width_is_an_exact_copy():
    torch.manual_seed(0)
    teacher, student = DigitsCNN(8), DigitsCNN(8)
    _randomise_batchnorm(teacher)
    inherit_weights(teacher.eval(), student.eval())
    x = torch.rand(4, 1, 8, 8)
    assert torch.allclose(teacher(x), student(x), atol=1e-6)


@torch.no_grad()
def test_mlp_depth_reduction_takes_evenly_spaced_layers():
    teacher, student = mlp([64, 128, 128, 128, 10]), mlp([64, 32, 32, 10], seed=1)
    g = torch.Generator().manual_seed(2)
    alive = torch.randperm(128, generator=g)[:32]
    _kill(teacher[0], None, alive)
    _kill(teacher[4], None, alive)
    teacher[4].weight[:, :] = 0
    teacher[4].weight[alive[:, None], alive] = torch.randn(32, 32)
    teacher[2].weight.copy_(torch.eye(128))  # the skipped middle layer is an identity
    teacher[2].bias.zero_()
    report = inherit_weights(teacher, student)
    assert [(m.teacher, m.student) for m in report] == [("0", "0"), ("4", "2"), ("6", "4")]
    assert report.skipped_teacher_layers == ["2"]
    x = torch.randn(8, 64)
    assert torch.allclose(student(x), teacher(x), atol=1e-5)


class _Blocks(nn.Module):
    def __init__(self, width, depth):
        super().__init__()
        self.stem = nn.Linear(6, width)
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.Linear(width, width), nn.BatchNorm1d(width), nn.ReLU()) for _ in range(depth))
        self.head = nn.Linear(width, 3)

    def forward(self, x):
        x = self.stem(x)
        for block in self.blocks:
            x = x + block(x)
        return self.head(x)


def test_fewer_repeated_blocks():
    torch.manual_seed(0)
    report = inherit_weights(_Blocks(16, 4), _Blocks(8, 2))
    assert [m.teacher for m in report] == ["stem", "blocks.0.0", "blocks.0.1", "blocks.3.0",
                                           "blocks.3.1", "head"]
    assert [m.student for m in report][3] == "blocks.1.0"
    assert "blocks.1.0" in report.skipped_teacher_layers and "blocks.2.1" in report.skipped_teacher_layers
    assert report.to_dict()["layers"][0]["kept_out"] == 8


def test_pruned_student_gets_the_weights_under_its_mask():
    torch.manual_seed(0)
    teacher, student = DigitsCNN(16), DigitsCNN(8)
    prune.l1_unstructured(student.features[0], "weight", amount=0.5)
    report = inherit_weights(teacher, student)
    conv = student.features[0]
    expected = teacher.features[0].weight[report.layers[0].out_indices]
    assert torch.equal(conv.weight_orig, expected)
    student(torch.rand(1, 1, 8, 8))  # prune recomputes .weight in a forward pre-hook
    assert torch.equal(conv.weight, expected * conv.weight_mask)


@pytest.mark.parametrize("teacher,student,match", [
    (lambda: DigitsCNN(8), lambda: DigitsCNN(16), "wider"),
    (lambda: DigitsCNN(16), lambda: DigitsCNN(8, num_classes=5), "final layers"),
    (lambda: mlp([8, 16, 4]), lambda: mlp([8, 16, 16, 4]), "deeper"),
    (lambda: mlp([8, 16, 4]), lambda: mlp([6, 16, 4]), "first layers"),
    (lambda: nn.Sequential(nn.Conv2d(1, 8, 3), nn.Flatten(), nn.Linear(8 * 36, 2)),
     lambda: nn.Sequential(nn.Conv2d(1, 4, 5), nn.Flatten(), nn.Linear(4 * 16, 2)), "kernel_size"),
    (lambda: nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 2)),
     lambda: nn.Sequential(nn.Conv2d(4, 4, 1), nn.Linear(4, 2)), "types differ"),
    (lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2)),
     lambda: nn.Sequential(nn.Linear(4, 4), nn.LayerNorm(4), nn.Linear(4, 2)), "LayerNorm"),
    (lambda: mlp([8, 16, 4]), lambda: nn.Linear(8, 4), "types differ"),
])
def test_unmatchable_architectures_raise(teacher, student, match):
    with pytest.raises(ValueError, match=match):
        inherit_weights(teacher(), student())


def test_skipping_a_width_changing_layer_is_refused():
    student = DigitsCNN(8)
    del student.features[3:6]  # drop the middle conv block, so conv 2 would read conv 0's output
    with pytest.raises(ValueError, match="cannot tell which inputs"):
        inherit_weights(DigitsCNN(16), student)


@torch.no_grad()
def test_input_batchnorm_is_copied_whole():
    torch.manual_seed(0)
    def net(hidden):
        return nn.Sequential(nn.BatchNorm1d(6), nn.Linear(6, hidden), nn.BatchNorm1d(hidden), nn.ReLU(),
                             nn.Linear(hidden, 3))
    teacher, student = net(12), net(5)
    _randomise_batchnorm(teacher)
    report = inherit_weights(teacher, student)
    assert [m.kept_out for m in report] == [6, 5, 5, 3]
    assert torch.equal(student[0].running_var, teacher[0].running_var)
