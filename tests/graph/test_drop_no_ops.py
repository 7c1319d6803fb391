"""drop_no_ops on timm-style blocks: Identity placeholders between conv, norm and activation, eval
Dropout, F.dropout(training=False) and torch._assert rank checks. What it removes, what it must keep,
and that BatchNorm folding and activation fusion then reach through."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.graph import capture, drop_no_ops, fold_batchnorm, fuse_conv_activation, propagate_shapes
from nnslim.models import randomize_batchnorm


class BatchNormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d in miniature: an asserted rank, F.batch_norm, an Identity, the activation."""

    def __init__(self, c):
        super().__init__(c)
        self.drop, self.act = nn.Identity(), nn.ReLU()

    def forward(self, x):
        torch._assert(x.ndim == 4, f"expected 4D input (got {x.ndim}D input)")
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.1, self.eps)
        return self.act(self.drop(x))


class TimmStyleBlock(nn.Module):
    def __init__(self, c=8):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, c, 3, padding=1, bias=False), BatchNormAct(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.drop_block, self.aa, self.act2 = nn.Identity(), nn.Identity(), nn.ReLU()
        self.conv3, self.drop = nn.Conv2d(c, c, 1), nn.Dropout(0.3)

    def forward(self, x):
        y = self.bn1(self.conv1(x))
        torch._assert(y.shape[1] == 8, "channels")
        y = self.act2(self.aa(self.drop_block(self.bn2(self.conv2(y)))))
        y = F.dropout(y, 0.2, training=False)
        return self.drop(self.conv3(y))


def _graph(model, x):
    gm = capture(copy.deepcopy(model))
    propagate_shapes(gm, x)
    return gm


def _ops(gm):
    return [n.target if n.op != "call_module" else type(gm.get_submodule(n.target)).__name__
            for n in gm.graph.nodes if n.op not in ("placeholder", "output", "get_attr")]


def test_drop_no_ops_removes_identities_dropouts_and_asserts():
    m = randomize_batchnorm(TimmStyleBlock()).eval()
    x = torch.randn(2, 3, 10, 10)
    gm = _graph(m, x)
    drop_no_ops(gm)
    ops = _ops(gm)
    assert "Identity" not in ops and "Dropout" not in ops and F.dropout not in ops
    assert torch._assert not in ops and getattr not in ops  # the asserts and their x.ndim / shape reads
    # 3 identities, 2 dropouts, 2 asserts, their conditions: ndim ==, shape [1] ==
    assert gm.nnslim_no_ops_dropped == 3 + 2 + 2 + 2 + 3
    torch.testing.assert_close(gm(x), m(x))


def test_fold_and_fuse_reach_through_once_no_ops_are_gone():
    m = randomize_batchnorm(TimmStyleBlock()).eval()
    x = torch.randn(2, 3, 10, 10)
    before = _graph(m, x)
    fold_batchnorm(before)
    fuse_conv_activation(before)
    assert before.nnslim_folded == 1  # bn2 only: the assert also reads conv1's output
    assert "FusedConv2d" not in _ops(before)  # the Identities sit between bn2 and act2, bn1 and its act
    gm = _graph(m, x)
    for p in (drop_no_ops, fold_batchnorm, fuse_conv_activation):
        p(gm)
    assert gm.nnslim_folded == 2
    assert _ops(gm) == ["FusedConv2d", "FusedConv2d", "Conv2d"]
    torch.testing.assert_close(gm(x), m(x), rtol=1e-4, atol=1e-5)


class KeepThese(nn.Module):
    """What is not a no-op: F.dropout left at its default training=True, an assert-free shape read
    the output uses, a Dropout in training mode."""

    def __init__(self):
        super().__init__()
        self.conv, self.drop = nn.Conv2d(3, 4, 1), nn.Dropout(0.5)

    def forward(self, x):
        y = self.conv(x)
        return F.dropout(y, 0.5) * y.shape[1] + self.drop(y)


def test_drop_no_ops_keeps_what_computes():
    m = KeepThese().eval()
    m.drop.train()
    gm = _graph(m, torch.randn(1, 3, 4, 4))
    drop_no_ops(gm)
    ops = _ops(gm)
    assert F.dropout in ops and "Dropout" in ops and getattr in ops
    assert gm.nnslim_no_ops_dropped == 0


def test_timm_style_block_converts_fused_and_reloads(tmp_path):
    m = randomize_batchnorm(TimmStyleBlock()).eval()
    calib = [torch.randn(1, 3, 16, 16) for _ in range(4)]
    q = nnslim.quantize(m, nnslim.Int8StaticConfig(progress=False), calibration_data=calib)
    rows = q.meta["nnslim_report"]
    assert [r["runs"] for r in rows if r["op"] == "Int8Conv2d"] == ["int8"] * 3
    assert "fused relu" in rows[1]["why"] and "fused relu" in rows[2]["why"]  # after the entry
    assert not any(r["op"] in ("ReLU", "Identity", "Dropout", "_assert") for r in rows)
    x = torch.randn(1, 3, 16, 16)
    with torch.no_grad():
        ref, y = m(x), q(x)
    assert torch.nn.functional.cosine_similarity(ref.flatten(), y.flatten(), dim=0) > 0.999
    nnslim.save(q, tmp_path / "m.nns")
    with torch.no_grad():
        assert torch.equal(nnslim.load(tmp_path / "m.nns", TimmStyleBlock())(x), y)
