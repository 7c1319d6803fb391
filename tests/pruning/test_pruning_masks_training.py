"""Masks must survive the user's own training loop: momentum, weight decay and Adam state included."""
import copy
import io
import pickle

import pytest
import torch
import torch.nn.functional as F
from torch.nn.utils import prune as torch_prune

from pruning_helpers import MLP, batches
from nnslim.pruning import PruneConfig, get_mask, is_pruned, prune, remove_masks, sparsity_report
from nnslim.pruning.masks import masked_weight

OPTIMIZERS = {
    "sgd_momentum_wd": lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-2, nesterov=True),
    "adam_wd": lambda p: torch.optim.Adam(p, lr=1e-2, weight_decay=1e-2),
    "adamw": lambda p: torch.optim.AdamW(p, lr=1e-2, weight_decay=0.1),
}


def _train(model, opt, data, steps):
    for i in range(steps):
        x, y = data[i % len(data)]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_pruned_weights_stay_zero_through_optimizer_steps(name):
    model, data = MLP(), batches()
    # The optimizer exists before pruning and has momentum on every weight: the hard case.
    opt = OPTIMIZERS[name](model.parameters())
    _train(model, opt, data, 5)
    prune(model, PruneConfig(sparsity=0.8, pattern="unstructured"))
    masks = [get_mask(m).clone() for m in model.layers]
    before = [masked_weight(m).detach().clone() for m in model.layers]
    for _ in range(4):
        _train(model, opt, data, 5)
        for m, mask in zip(model.layers, masks):
            assert torch.equal(get_mask(m), mask)
            assert (masked_weight(m)[mask == 0] == 0).all()
            assert (m.weight_orig.grad[mask == 0] == 0).all()  # no gradient to revive them
    # Training did happen on the kept weights.
    assert any(not torch.equal(masked_weight(m), b) for m, b in zip(model.layers, before))
    x = data[0][0]
    y = model(x)
    assert all((m.weight[mask == 0] == 0).all() for m, mask in zip(model.layers, masks))
    remove_masks(model)
    torch.testing.assert_close(model(x), y)
    assert sparsity_report(model).sparsity >= 0.8 - 1 / 368
    # Training on after remove_masks is the user's choice; before it, zeros are guaranteed.


def test_model_called_twice_before_backward():
    model, data = MLP(), batches()
    prune(model, sparsity=0.5)
    x, y = data[0]
    loss = F.cross_entropy(model(x), y) + F.cross_entropy(model(x * 2), y)
    loss.backward()  # re-masking in place between the calls would break autograd here
    assert all((m.weight_orig.grad[get_mask(m) == 0] == 0).all() for m in model.layers)


def test_pickle_deepcopy_and_torch_prune_interop():
    model = MLP()
    prune(model, sparsity=0.5)
    x = torch.randn(2, 8)
    buf = io.BytesIO()
    torch.save(model, buf)
    buf.seek(0)
    loaded = torch.load(buf, weights_only=False)
    torch.testing.assert_close(loaded(x), model(x))
    clone = copy.deepcopy(model)
    remove_masks(clone)  # must not disturb the original
    torch.testing.assert_close(model(x), clone(x))
    assert is_pruned(model.layers[0]) and not is_pruned(clone.layers[0])
    pickle.dumps(model)
    # torch's own helpers see our masks, and we see theirs.
    assert torch_prune.is_pruned(model)
    torch_prune.remove(model.layers[0], "weight")
    assert not is_pruned(model.layers[0])
    other = MLP()
    torch_prune.l1_unstructured(other.layers[1], "weight", amount=0.5)
    assert is_pruned(other.layers[1]) and float(get_mask(other.layers[1]).mean()) == pytest.approx(0.5, abs=0.01)
    prune(other, sparsity=0.75, scope="layer")
    assert float(get_mask(other.layers[1]).mean()) == pytest.approx(0.25, abs=0.01)


def test_frozen_and_other_params_untouched():
    model = MLP()
    model.layers[0].weight.requires_grad_(False)
    grads = {}
    for n, p in model.named_parameters():
        p.grad = torch.full_like(p, 7.0)
        grads[n] = p.grad
    prune(model, PruneConfig(sparsity=0.5, method="gradient", num_batches=2), data=batches())
    assert not model.layers[0].weight_orig.requires_grad
    assert all(torch.equal(g, torch.full_like(g, 7.0)) for g in grads.values())
