import copy

import pytest
import torch
import torch.nn as nn
from hypothesis import given
from hypothesis import strategies as st

from pruning_helpers import SMALL, MLP
from nnslim.pruning import PruneConfig, get_mask, is_pruned, prune, remove_masks, sparsity_report


def _weights(model):
    return {n: m.weight.detach() for n, m in model.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}


@SMALL
@given(sparsity=st.floats(0.01, 0.99), sizes=st.lists(st.integers(1, 12), min_size=2, max_size=4),
       seed=st.integers(0, 100))
def test_layer_scope_prunes_the_smallest_of_each_layer(sparsity, sizes, seed):
    torch.manual_seed(seed)
    model = MLP(sizes)
    before = {n: w.clone() for n, w in _weights(model).items()}
    prune(model, PruneConfig(sparsity=sparsity, scope="layer"))
    for name, m in model.named_modules():
        if not isinstance(m, nn.Linear):
            continue
        mask = get_mask(m)
        assert int((mask == 0).sum()) == round(sparsity * mask.numel())
        w = before[name].abs()
        if 0 < mask.sum() < mask.numel():
            assert w[mask == 0].max() <= w[mask == 1].min()


@SMALL
@given(sparsity=st.floats(0.01, 0.99), scales=st.lists(st.floats(0.01, 100), min_size=3, max_size=3),
       seed=st.integers(0, 100))
def test_global_scope_uses_one_threshold(sparsity, scales, seed):
    torch.manual_seed(seed)
    model = MLP((8, 16, 12, 4), scales)
    before = torch.cat([w.abs().flatten() for w in _weights(model).values()])
    prune(model, PruneConfig(sparsity=sparsity, scope="global"))
    masks = torch.cat([get_mask(m).flatten() for m in model.layers])
    assert int((masks == 0).sum()) == round(sparsity * masks.numel())
    if 0 < masks.sum() < masks.numel():
        assert before[masks == 0].max() <= before[masks == 1].min()


def test_global_and_layer_scopes_differ_when_layer_scales_differ():
    model = MLP((8, 16, 12, 4), scales=(100.0, 1.0, 1.0))
    g, l = copy.deepcopy(model), copy.deepcopy(model)
    prune(g, sparsity=0.5, scope="global")
    prune(l, sparsity=0.5, scope="layer")
    rg = {x.name: x.sparsity for x in sparsity_report(g).layers}
    rl = {x.name: x.sparsity for x in sparsity_report(l).layers}
    assert all(abs(s - 0.5) < 0.02 for s in rl.values())
    assert rg["layers.0"] < 0.05 and rg["layers.1"] > 0.6  # the big layer survives a global threshold
    assert abs(sparsity_report(g).sparsity - 0.5) < 1e-3


def test_masked_forward_equals_dense_forward_with_zeroed_weights():
    model = MLP()
    prune(model, sparsity=0.7)
    ref = copy.deepcopy(model)
    remove_masks(ref)
    x = torch.randn(5, 8)
    torch.testing.assert_close(model(x), ref(x))
    for m in model.layers:
        assert torch.equal(m.weight == 0, get_mask(m) == 0) or (m.weight == 0).sum() >= (get_mask(m) == 0).sum()


def test_per_layer_overrides_skip_and_markers():
    model = MLP((8, 16, 12, 4))
    prune(model, PruneConfig(sparsity=0.5, per_layer={"layers.1": 0.25}, skip=["@last"]))
    r = {x.name: x for x in sparsity_report(model).layers}
    assert r["layers.1"].sparsity == pytest.approx(0.25, abs=1 / 192)
    assert not r["layers.2"].masked and r["layers.2"].sparsity == 0
    assert r["layers.0"].sparsity == pytest.approx(0.5, abs=1 / 128)

    model = MLP((8, 16, 12, 4))
    prune(model, PruneConfig(sparsity=0.5, skip=["@first", "layers.2"]))
    assert [is_pruned(m) for m in model.layers] == [False, True, False]

    model = MLP((8, 16, 12, 4))
    prune(model, sparsity=0.5, per_layer={"layers.*": 0.1})
    assert all(abs(x.sparsity - 0.1) < 0.02 for x in sparsity_report(model).layers)


def test_filter_fn_chooses_layers_and_typos_are_reported():
    model = MLP()
    prune(model, sparsity=0.5, filter_fn=lambda m, name: m.out_features > 10)
    assert [is_pruned(m) for m in model.layers] == [True, True, False]
    with pytest.raises(ValueError, match="per_layer"):
        prune(MLP(), sparsity=0.5, per_layer={"layer.0": 0.2})
    with pytest.warns(UserWarning, match="skip"):
        prune(MLP(), sparsity=0.5, skip=["nope"])
    with pytest.raises(ValueError, match="no prunable layers"):
        prune(MLP(), sparsity=0.5, skip=["layers.*"])
    with pytest.raises(ValueError, match="model"):
        prune("not a model", sparsity=0.5)
    odd = MLP()
    torch.nn.utils.parametrizations.weight_norm(odd.layers[1])
    with pytest.raises(ValueError, match="'layers.1'.*skip"):
        prune(odd, sparsity=0.5)
    prune(odd, sparsity=0.5, skip=["layers.1"])


def test_all_zero_layer_and_zero_sparsity():
    model = MLP()
    with torch.no_grad():
        model.layers[1].weight.zero_()
    prune(model, sparsity=0.6, scope="layer")
    r = sparsity_report(model)
    assert r.layers[1].sparsity == 1.0  # it had no nonzeros to begin with
    assert r.layers[0].sparsity == pytest.approx(0.6, abs=0.01)
    assert torch.isfinite(model(torch.randn(2, 8))).all()

    model = MLP()
    prune(model, sparsity=0.0)
    assert not any(is_pruned(m) for m in model.layers)


def test_random_method_is_seeded_and_counts_right():
    a, b = MLP(), MLP()
    b.load_state_dict(a.state_dict())
    prune(a, sparsity=0.5, method="random", seed=3)
    prune(b, sparsity=0.5, method="random", seed=3)
    assert all(torch.equal(get_mask(x), get_mask(y)) for x, y in zip(a.layers, b.layers))
    assert sparsity_report(a).sparsity == pytest.approx(0.5, abs=1e-3)


def test_repruning_keeps_pruned_weights_pruned():
    model = MLP()
    prune(model, sparsity=0.5)
    first = [get_mask(m).clone() for m in model.layers]
    with torch.no_grad():  # make the pruned weights look important now
        for m in model.layers:
            m.weight_orig.add_(100 * (1 - get_mask(m)))
    prune(model, sparsity=0.8)
    for m, old in zip(model.layers, first):
        assert not (get_mask(m)[old == 0]).any()
    assert sparsity_report(model).sparsity == pytest.approx(0.8, abs=1 / 368)


def test_remove_masks_bakes_plain_parameters():
    model = MLP()
    prune(model, sparsity=0.6)
    x = torch.randn(3, 8)
    y = model(x)
    remove_masks(model)
    assert not any(is_pruned(m) for m in model.layers)
    assert all(type(m.weight) is nn.Parameter for m in model.layers)
    assert set(model.state_dict()) == set(MLP().state_dict())
    torch.testing.assert_close(model(x), y)
    assert sparsity_report(model).sparsity == pytest.approx(0.6, abs=1e-3)
    assert get_mask(model.layers[0]) is None


def test_pruned_model_deepcopies_and_state_dict_round_trips():
    model = MLP()
    prune(model, sparsity=0.6)
    clone = copy.deepcopy(model)
    other = prune(MLP(), sparsity=0.1)
    other.load_state_dict(model.state_dict())
    x = torch.randn(3, 8)
    torch.testing.assert_close(clone(x), model(x))
    torch.testing.assert_close(other(x), model(x))


def test_conv_layers_are_pruned_too():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 4 * 4, 2))
    prune(model, sparsity=0.75)
    assert is_pruned(model[0]) and is_pruned(model[3])
    assert model(torch.randn(2, 3, 6, 6)).shape == (2, 2)
    assert sparsity_report(model).sparsity == pytest.approx(0.75, abs=1e-3)
