import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from pruning_helpers import MLP, batches
from nnslim.pruning import PruneConfig, Pruner, get_mask, prune


def _dead_input_model():
    """Column 0 has the largest weights, but input feature 0 is always zero in the data."""
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        model[0].weight[:, 0] = 10.0
    g = torch.Generator().manual_seed(0)
    data = []
    for _ in range(3):
        x = torch.randn(16, 4, generator=g)
        x[:, 0] = 0
        data.append((x, torch.randint(0, 2, (16,), generator=g)))
    return model, data


@pytest.mark.parametrize("method", ["gradient", "taylor"])
def test_gradient_scores_come_from_the_data(method):
    model, data = _dead_input_model()
    prune(model, PruneConfig(sparsity=0.25, method=method, scope="layer", skip=["2"]), data=data)
    assert get_mask(model[0])[:, 0].sum() == 0  # dL/dw = 0 for a dead input, despite |w| = 10
    model, _ = _dead_input_model()
    prune(model, PruneConfig(sparsity=0.25, method="magnitude", scope="layer", skip=["2"]))
    assert get_mask(model[0])[:, 0].sum() == 3


def test_different_data_gives_different_masks_and_num_batches_is_respected():
    calls = []

    def loss_fn(model, batch):
        calls.append(1)
        x, y = batch
        return F.cross_entropy(model(x), y)

    a, b = MLP(), MLP()
    b.load_state_dict(a.state_dict())
    prune(a, PruneConfig(sparsity=0.5, method="gradient", loss_fn=loss_fn, num_batches=2), data=batches(seed=1))
    assert len(calls) == 2
    prune(b, PruneConfig(sparsity=0.5, method="gradient"), data=batches(seed=2))
    assert any(not torch.equal(get_mask(x), get_mask(y)) for x, y in zip(a.layers, b.layers))


def test_scoring_has_no_side_effects_on_bn_mode_or_grads():
    model = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))
    model.train()
    stats = model[1].running_mean.clone()
    prune(model, PruneConfig(sparsity=0.5, method="taylor"), data=batches())
    assert torch.equal(model[1].running_mean, stats) and model.training
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("method", ["gradient", "taylor"])
def test_gradient_methods_need_data(method):
    with pytest.raises(ValueError, match="data"):
        prune(MLP(), sparsity=0.5, method=method)
    with pytest.raises(ValueError, match="data.*no batches"):
        prune(MLP(), sparsity=0.5, method=method, data=[])
    with pytest.raises(ValueError, match="data"):
        Pruner(MLP(), PruneConfig(sparsity=0.5, method=method))


def test_default_loss_needs_xy_batches_and_custom_loss_must_be_scalar():
    with pytest.raises(ValueError, match="loss_fn"):
        prune(MLP(), sparsity=0.5, method="gradient", data=[torch.randn(4, 8)])
    with pytest.raises(ValueError, match="scalar"):
        prune(MLP(), sparsity=0.5, method="gradient", data=[torch.randn(4, 8)],
              loss_fn=lambda model, x: model(x))
    with pytest.raises(ValueError, match="loss_fn.*depend"):
        prune(MLP(), sparsity=0.5, method="gradient", data=[torch.randn(4, 8)],
              loss_fn=lambda model, x: model(x).detach().sum())
    model = MLP()
    prune(model, sparsity=0.5, method="taylor", data=[torch.randn(4, 8)],
          loss_fn=lambda model, x: model(x).pow(2).mean())
    assert get_mask(model.layers[0]) is not None
