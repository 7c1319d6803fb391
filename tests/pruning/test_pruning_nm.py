import pytest
import torch
import torch.nn as nn
from hypothesis import given
from hypothesis import strategies as st

from pruning_helpers import SMALL, batches
from nnslim.pruning import PruneConfig, get_mask, is_nm_sparse, prune
from nnslim.pruning.nm import nm_mask


def _groups(t, m):
    return t.movedim(1, -1).reshape(-1, m)


@st.composite
def nm_cases(draw):
    m = draw(st.sampled_from([2, 4, 8]))
    n = draw(st.integers(1, m - 1))
    out = draw(st.integers(1, 6))
    groups = draw(st.integers(1, 4))
    conv = draw(st.booleans())
    return n, m, out, groups * m, conv, draw(st.integers(0, 1000))


@SMALL
@given(nm_cases())
def test_every_group_keeps_exactly_n_of_the_largest(case):
    n, m, out, inp, conv, seed = case
    torch.manual_seed(seed)
    layer = nn.Conv2d(inp, out, 3) if conv else nn.Linear(inp, out)
    w = layer.weight.detach().clone()
    prune(nn.Sequential(layer), PruneConfig(pattern=f"{n}:{m}"))
    mask_g, w_g = _groups(get_mask(layer), m), _groups(w.abs(), m)
    assert ((mask_g != 0).sum(1) == n).all()
    assert ((_groups(layer.weight, m) != 0).sum(1) == n).all()  # random weights: no accidental zeros
    kept_min = w_g.masked_fill(mask_g == 0, float("inf")).min(1).values
    pruned_max = w_g.masked_fill(mask_g == 1, -1.0).max(1).values
    assert (kept_min >= pruned_max).all()
    assert is_nm_sparse(layer.weight, n, m)


def test_groups_run_along_the_input_dimension():
    layer = nn.Linear(8, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 9, 8, 2, 7, 1, 1, 6]]))
    prune(nn.Sequential(layer), pattern="2:4")
    assert get_mask(layer).tolist() == [[0, 1, 1, 0, 1, 0, 0, 1]]
    conv = torch.arange(8.0).reshape(1, 8, 1, 1)
    assert nm_mask(conv, 1, 4).flatten().tolist() == [0, 0, 0, 1, 0, 0, 0, 1]


def test_indivisible_input_dimension_is_skipped_with_a_warning_or_rejected_when_strict():
    model = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    with pytest.raises(ValueError, match=r"'0'.*input dimension 6.*M=4"):
        prune(model, pattern="2:4", strict=True)
    assert get_mask(model[0]) is None and get_mask(model[2]) is None  # strict: nothing pruned
    with pytest.warns(UserWarning, match=r"skipped 1 layer.*'0' \(input dimension 6\)"):
        prune(model, pattern="2:4")
    assert get_mask(model[0]) is None and is_nm_sparse(model[2].weight, 2, 4)
    fresh = nn.Sequential(nn.Linear(6, 4), nn.ReLU(), nn.Linear(4, 2))
    prune(fresh, pattern="2:4", skip=["0"])
    assert get_mask(fresh[0]) is None and is_nm_sparse(fresh[2].weight, 2, 4)
    with pytest.raises(ValueError, match="strict: expected True or False"):
        PruneConfig(pattern="2:4", strict="yes")


def test_nm_on_digits_cnn_skips_the_one_channel_stem():
    from nnslim.datasets import DigitsCNN

    model = DigitsCNN(8)
    with pytest.warns(UserWarning, match=r"'features.0' \(input dimension 1\)"):
        prune(model, PruneConfig(sparsity=0.5, pattern="2:4"))
    assert get_mask(model.features[0]) is None
    assert is_nm_sparse(model.features[3].weight, 2, 4) and is_nm_sparse(model.classifier[1].weight, 2, 4)


def test_nm_with_gradient_scores_and_all_zero_layer():
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    with torch.no_grad():
        model[2].weight.zero_()
    prune(model, PruneConfig(pattern="1:4", method="taylor"), data=batches())
    assert ((_groups(get_mask(model[0]), 4) != 0).sum(1) == 1).all()
    assert ((_groups(get_mask(model[2]), 4) != 0).sum(1) == 1).all()
    assert not is_nm_sparse(torch.ones(2, 4), 2, 4) and not is_nm_sparse(torch.ones(2, 3), 2, 4)
