"""The channel dependency analysis (nnslim.graph.channel_groups) on small graphs, one coupling each:
which channels become one unit, which stay, and that removing units computes what zeroing them does."""
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from nnslim.graph import capture, propagate_shapes
from nnslim.graph.channel_groups import analyze_channels
from nnslim.graph.record import record_graph

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "pruning"))
from structured_helpers import check_shrink_matches_zeroed  # noqa: E402


def _graph(model, x, recorded=False):
    if recorded:
        return analyze_channels([("", record_graph(model, (x,)))])
    gm = capture(model)
    propagate_shapes(gm, x)
    return analyze_channels([("", gm)])


def _units(graph, module, kind="out"):
    roots, _ = graph.classes()
    m = next(m for m in graph.members if m.module == module and m.kind == kind)
    return roots[m.ids]


class Split(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 1)
        self.l, self.r = nn.Conv2d(4, 2, 1), nn.Conv2d(4, 2, 1)

    def forward(self, x):
        left, right = torch.chunk(self.a(x), 2, dim=1)
        return self.l(F.relu(left)) + self.r(right)


class SqueezeExcite(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc1, self.fc2 = nn.Conv2d(8, 4, 1), nn.Conv2d(4, 8, 1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        y = F.relu(self.conv(x))
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(y, 1)))))
        return self.head(y * s)


class Grouped(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(3, 8, 1)
        self.g = nn.Conv2d(8, 8, 3, padding=1, groups=4)  # groups of 2 in, 2 out
        self.gn = nn.GroupNorm(2, 8)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.head(self.gn(self.g(self.a(x))))


class ChannelsLast(nn.Module):
    """ConvNeXt-style: conv, permute to NHWC, LayerNorm, Linear, back to NCHW, a view into a Linear."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.ln = nn.LayerNorm(8)
        self.fc1, self.fc2 = nn.Linear(8, 16), nn.Linear(16, 8)
        self.head = nn.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        y = self.conv(x).permute(0, 2, 3, 1)
        y = self.fc2(F.gelu(self.fc1(self.ln(y)))).permute(0, 3, 1, 2)
        return self.head(y.reshape(y.shape[0], -1))


def test_chunk_couples_position_j_of_every_piece_and_the_add_couples_the_outputs():
    g = _graph(Split(), torch.randn(1, 3, 4, 4))
    a = _units(g, "a")
    # chunk(2) re-cuts the shrunk tensor in halves, so each half must lose the same positions
    assert torch.equal(a[:4], a[4:]) and len(set(a.tolist())) == 4
    l_out, r_out = _units(g, "l"), _units(g, "r")
    assert torch.equal(l_out, r_out)  # their sum is the output: coupled and frozen


def test_squeeze_excite_multiply_couples_the_gate_with_the_feature_map():
    g = _graph(SqueezeExcite(), torch.randn(1, 3, 4, 4))
    assert torch.equal(_units(g, "conv"), _units(g, "fc2"))
    assert not set(_units(g, "fc1").tolist()) & set(_units(g, "conv").tolist())


def test_grouped_conv_and_group_norm_make_whole_groups_one_unit():
    g = _graph(Grouped(), torch.randn(1, 3, 4, 4))
    a = _units(g, "a").tolist()
    # conv groups of 2 channels, and GroupNorm(2, 8)'s groups of 4 merge them pairwise: two units
    assert a[:4] == [a[0]] * 4 and a[4:] == [a[4]] * 4 and a[0] != a[4]


def test_permute_layernorm_and_reshape_follow_the_channels():
    g = _graph(ChannelsLast(), torch.randn(1, 3, 4, 4))
    conv = _units(g, "conv")  # NCHW -> NHWC: the LayerNorm and fc1 read conv's channels on the last dim
    assert torch.equal(_units(g, "ln", "ln"), conv) and torch.equal(_units(g, "fc1", "in"), conv)
    head_in = _units(g, "head", "in")
    assert head_in.numel() == 128 and torch.equal(head_in[::16], _units(g, "fc2"))  # each channel owns 4x4


@pytest.mark.parametrize("cls", [Split, SqueezeExcite, Grouped])
def test_recorded_graph_finds_the_same_units_as_fx(cls):
    torch.manual_seed(0)
    model = cls().eval()
    x = torch.randn(1, 3, 4, 4)
    fx_g, rec_g = _graph(model, x), _graph(model, x, recorded=True)
    for m in fx_g.members:
        if m.kind == "out":
            a, b = _units(fx_g, m.module), _units(rec_g, m.module)
            # Same partition (root numbering may differ): positions equal in one are equal in the other.
            assert torch.equal(a[:, None] == a[None, :], b[:, None] == b[None, :])


@pytest.mark.parametrize("cls", [SqueezeExcite, Grouped, ChannelsLast])
def test_removing_units_computes_what_zeroing_them_computes(cls):
    torch.manual_seed(0)
    model = cls().eval()
    check_shrink_matches_zeroed(model, torch.randn(2, 3, 4, 4))  # LayerNorm widths stay (hidden_size off)


def test_an_unknown_op_freezes_the_channels_it_reads_and_names_itself():
    class Mix(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(4, 6), nn.Linear(6, 2)

        def forward(self, x):
            return self.b(torch.cumsum(self.a(x), dim=-1))

    g = _graph(Mix(), torch.randn(2, 4))
    _, frozen = g.classes()
    assert frozen[_units(g, "a")].all()
    assert any("cumsum" in r for r in g.unresolved)
