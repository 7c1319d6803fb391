"""Graphs a review found mis-pruned: each must now either prune soundly (the shrunk model equals the
original with the removed channels zeroed) or keep the channels it cannot follow; never crash or
silently compute something else."""
import warnings

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import nnslim
from nnslim.pruning import PruneConfig, prune
from structured_helpers import check_shrink_matches_zeroed, plan_and_remove


class SharedConv(nn.Module):  # one conv reads two different producers
    def __init__(s):
        super().__init__()
        s.a, s.b, s.c, s.o = nn.Conv2d(3, 8, 1), nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 1), nn.Conv2d(8, 4, 1)

    def forward(s, x):
        return s.o(s.c(s.a(x)) + s.c(s.b(x)))


class SharedBN(nn.Module):
    def __init__(s):
        super().__init__()
        s.a, s.b, s.bn = nn.Conv2d(3, 8, 1), nn.Conv2d(3, 8, 1), nn.BatchNorm2d(8)
        s.p, s.q = nn.Conv2d(8, 4, 1), nn.Conv2d(8, 4, 1)

    def forward(s, x):
        return s.p(s.bn(s.a(x))) + s.q(s.bn(s.b(x)))


class ChunkTwo(nn.Module):
    def __init__(s):
        super().__init__()
        s.a, s.p, s.q = nn.Conv2d(3, 8, 1), nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)

    def forward(s, x):
        u, v = s.a(x).chunk(2, dim=1)
        return s.p(u) + s.q(v)


@pytest.mark.parametrize("cls", [SharedConv, SharedBN, ChunkTwo])
def test_now_sound(cls):
    torch.manual_seed(0)
    model = cls().eval()
    if cls is SharedBN:
        with torch.no_grad():
            model.bn.running_mean.uniform_()
            model.bn.running_var.uniform_(0.5, 2)
    check_shrink_matches_zeroed(model, torch.randn(2, 3, 5, 5))


def _split_sizes(s, x):
    u, v = torch.split(s.a(x), [2, 6], dim=1)
    return s.p(u).sum() + s.q(v).sum()


def _split_int(s, x):
    u, v = s.a(x).split(4, dim=1)
    return s.p(u).sum() + s.q(v).sum()


def _view_literal(s, x):
    return s.l(s.a(x).view(x.shape[0], 8, -1).mean(-1))


def _slice_pieces(s, x):
    ps = s.a(x).chunk(4, 1)
    return s.b(torch.cat(ps[:2], 1))


def _mT(s, x):
    return s.l(s.a(x).flatten(2).mT)


def _clamp(s, x):
    return s.b8(torch.clamp(s.a(x), min=s.lo))


def _tuple_add(s, x):
    ps = s.a(x).chunk(2, 1)
    return s.b((ps + (x,))[0])


def _transpose_kw(s, x):
    return s.l25(s.a(x).flatten(2).transpose(dim0=-1, dim1=-2).flatten(1))


class Case(nn.Module):
    def __init__(s, fn):
        super().__init__()
        s.fn = fn
        s.a = nn.Conv2d(3, 8, 1)
        s.p, s.q = nn.Conv2d(2, 4, 1), nn.Conv2d(6, 4, 1)
        if fn is _split_int:
            s.p, s.q = nn.Conv2d(4, 4, 1), nn.Conv2d(4, 4, 1)
        s.l, s.b, s.b8 = nn.Linear(8, 4), nn.Conv2d(4, 4, 1), nn.Conv2d(8, 4, 1)
        s.l25 = nn.Linear(8 * 25, 4)
        s.lo = nn.Parameter(torch.randn(8, 1, 1))

    def forward(s, x):
        return s.fn(s, x)


@pytest.mark.parametrize("fn", [_split_sizes, _split_int, _view_literal, _slice_pieces, _mT, _clamp, _tuple_add,
                                _transpose_kw])
@pytest.mark.parametrize("with_input", [True, False])
def test_unfollowable_channels_stay_and_the_model_still_runs(fn, with_input):
    model = Case(fn).eval()
    x = torch.randn(2, 3, 5, 5)
    want = model(x).shape
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prune(model, PruneConfig(sparsity=0.5, pattern="channel", protect=()), example_input=x if with_input else None)
    assert model(x).shape == want
    assert model.a.out_channels == 8  # every reader of a's channels was beyond the rules


def test_a_constant_size_the_recorded_graph_cannot_see_is_caught_on_a_copy():
    class LeNetish(nn.Module):  # untraceable by fx (data-dependent branch), so the graph is recorded
        def __init__(s):
            super().__init__()
            s.a, s.b, s.l = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 16, 1), nn.Linear(16 * 3 * 3, 4)

        def forward(s, x):
            if x.sum() > 1e9:
                x = -x
            return s.l(s.b(F.relu(s.a(x))).view(-1, 16 * 3 * 3))

    model = LeNetish().eval()
    x = torch.randn(2, 3, 5, 5)
    with pytest.warns(UserWarning, match="fails after shrinking"):
        prune(model, PruneConfig(sparsity=0.5, pattern="channel", protect=()), example_input=x)
    assert model(x).shape == (2, 4) and model.b.out_channels == 16 and model.a.out_channels < 8


def test_reload_keeps_dtype(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 4, 1)).double().eval()
    x = torch.randn(1, 3, 4, 4, dtype=torch.double)
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", protect=()), example_input=x)
    nnslim.save(model, tmp_path / "d.nnslim")
    fresh = nn.Sequential(nn.Conv2d(3, 8, 1), nn.ReLU(), nn.Conv2d(8, 4, 1)).double().eval()
    loaded = nnslim.load(tmp_path / "d.nnslim", fresh)
    assert loaded[0].weight.dtype == torch.double
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)


def test_plan_helper_is_deterministic():
    a = plan_and_remove(SharedConv().eval(), 0.5, torch.randn(1, 3, 4, 4))[1]
    b = plan_and_remove(SharedConv().eval(), 0.5, torch.randn(1, 3, 4, 4))[1]
    assert a == b
