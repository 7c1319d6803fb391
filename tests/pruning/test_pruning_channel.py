
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from pruning_helpers import SMALL, MLP, batches
from nnslim.datasets import DigitsCNN
from nnslim.pruning import PruneConfig, PruningGraphError, prune, sparsity_report


@torch.no_grad()
def _kill_channels(model, frac, seed=0):
    """Zero a random ``frac`` of each non-final producer's channels so they contribute exactly nothing.

    A zero filter alone is not enough: BatchNorm would turn 0 into beta - mean * gamma / std, so the
    channel's BN bias and running mean are zeroed too (eval mode). Returns {layer: killed indices}.
    """
    g = torch.Generator().manual_seed(seed)
    mods = list(model.named_modules())
    producers = [(i, n, m) for i, (n, m) in enumerate(mods) if isinstance(m, (nn.Conv2d, nn.Linear))]
    killed = {}
    for i, name, m in producers[:-1]:
        if isinstance(m, nn.Conv2d) and m.groups > 1:
            continue
        c = m.weight.shape[0]
        idx = torch.randperm(c, generator=g)[: round(frac * c)]
        m.weight[idx] = 0
        if m.bias is not None:
            m.bias[idx] = 0
        # Followers up to the next producer: BN and depthwise convs.
        for _, f in mods[i + 1:]:
            if isinstance(f, (nn.BatchNorm1d, nn.BatchNorm2d)):
                f.bias[idx] = 0
                f.running_mean[idx] = 0
            elif isinstance(f, nn.Conv2d) and f.groups > 1:
                f.weight[idx] = 0
                if f.bias is not None:
                    f.bias[idx] = 0
            elif isinstance(f, (nn.Conv2d, nn.Linear)):
                break
        killed[name] = idx
    return killed


def _randomize_bn(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.normal_()
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2)


@SMALL
@given(width=st.sampled_from([4, 8]), frac=st.sampled_from([0.25, 0.5, 0.75]), seed=st.integers(0, 50))
def test_digits_cnn_shrinks_and_computes_the_same_function(width, frac, seed):
    torch.manual_seed(seed)
    model = DigitsCNN(width).eval()
    _randomize_bn(model)
    killed = _kill_channels(model, frac, seed)
    x = torch.randn(6, 1, 8, 8)
    ref = model(x)
    params = sparsity_report(model).params
    prune(model, PruneConfig(sparsity=frac, pattern="channel", scope="layer", protect=()))
    torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)
    f = model.features
    keep = {n: width * k - len(killed[n]) for n, k in (("features.0", 1), ("features.3", 2), ("features.7", 4))}
    assert (f[0].out_channels, f[1].num_features, f[3].in_channels) == (keep["features.0"],) * 3
    assert (f[3].out_channels, f[4].num_features, f[7].in_channels) == (keep["features.3"],) * 3
    assert f[7].out_channels == f[8].running_var.numel() == keep["features.7"]
    assert model.classifier[1].in_features == keep["features.7"] * 16  # flatten: 4x4 block per channel
    assert model.classifier[3].out_features == 10  # the model output never shrinks
    assert model.classifier[3].in_features == model.classifier[1].out_features
    assert sparsity_report(model).params < params


def test_kept_channels_keep_their_activations():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
                          nn.Conv2d(8, 4, 3, padding=1)).eval()
    _randomize_bn(model)
    norms = model[0].weight.detach().abs().sum((1, 2, 3))
    keep = norms.argsort()[3:].sort().values
    x = torch.randn(2, 3, 5, 5)
    before = model[:3](x)
    prune(model, sparsity=3 / 8, pattern="channel", scope="layer", protect=())
    torch.testing.assert_close(model[:3](x), before[:, keep])
    assert model(x).shape == (2, 4, 5, 5)


def test_functional_forward_and_depthwise_blocks():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.pw1 = nn.Conv2d(3, 8, 1)
            self.bn1 = nn.BatchNorm2d(8)
            self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
            self.bn2 = nn.BatchNorm2d(8)
            self.pw2 = nn.Conv2d(8, 6, 1)
            self.fc1 = nn.Linear(6 * 2 * 2, 12)
            self.fc2 = nn.Linear(12, 3)

        def forward(self, x):
            x = F.relu6(self.bn1(self.pw1(x)))
            x = F.relu(self.bn2(self.dw(x)))
            x = F.max_pool2d(torch.sigmoid(self.pw2(x)) * 2.0, 2)
            x = x.view(x.size(0), -1)
            return self.fc2(F.dropout(F.relu(self.fc1(x)), 0.1, self.training))

    model = Net().eval()
    _randomize_bn(model)
    killed = _kill_channels(model, 0.5)
    model.pw2.bias.data[killed["pw2"]] = -1e4  # sigmoid(-1e4) * 2 == 0: the channel is truly dead
    x = torch.randn(3, 3, 4, 4)
    ref = model(x)
    prune(model, sparsity=0.5, pattern="channel", scope="layer", protect=())
    torch.testing.assert_close(model(x), ref, rtol=1e-5, atol=1e-5)
    assert (model.dw.in_channels, model.dw.out_channels, model.dw.groups) == (4, 4, 4)
    assert model.fc1.in_features == 3 * 4 and model.fc2.in_features == 6


def test_last_layer_keeps_its_outputs_and_bias_follows():
    model = MLP((8, 16, 12, 4))
    killed = _kill_channels(model, 0.5)
    x = torch.randn(5, 8)
    ref = model(x)
    prune(model, sparsity=0.5, pattern="channel", scope="layer")
    assert [tuple(m.weight.shape) for m in model.layers] == [(8, 8), (6, 8), (4, 6)]
    assert model.layers[0].bias.shape == (8,)
    torch.testing.assert_close(model(x), ref)
    assert set(killed) == {"layers.0", "layers.1"}


def test_l1_and_l2_norms_rank_channels_differently():
    def build():
        model = nn.Sequential(nn.Linear(4, 2, bias=False), nn.ReLU(), nn.Linear(2, 1))
        with torch.no_grad():
            model[0].weight.copy_(torch.tensor([[1.0, 1, 1, 1], [3, 0, 0, 0]]))  # l1: 4 vs 3, l2: 2 vs 3
        return model

    l1 = prune(build(), sparsity=0.5, pattern="channel", channel_norm="l1")
    l2 = prune(build(), sparsity=0.5, pattern="channel", channel_norm="l2")
    assert l1[0].weight.tolist() == [[1, 1, 1, 1]] and l2[0].weight.tolist() == [[3, 0, 0, 0]]


def test_global_channel_scope_keeps_every_layer_alive():
    model = DigitsCNN(8)
    prune(model, sparsity=0.95, pattern="channel", scope="global", protect=())
    shapes = [l.shape[0] for l in sparsity_report(model).layers]
    assert all(s >= 1 for s in shapes) and shapes[-1] == 10
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    model = DigitsCNN(8)
    prune(model, sparsity=0.5, pattern="channel", scope="global", per_layer={"features.0": 0.0}, protect=())
    assert model.features[0].out_channels == 8
    assert sum(l.shape[0] for l in sparsity_report(model).layers[1:-1]) == 40  # (16 + 32 + 32) / 2


@pytest.mark.parametrize("method", ["gradient", "taylor", "random"])
def test_channel_pruning_with_other_scores(method):
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", method=method), data=batches())
    assert model[0].out_features == 8 and model(torch.randn(2, 8)).shape == (2, 4)


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        x = F.relu(self.stem(x))
        x = F.relu(x + self.conv2(F.relu(self.conv1(x))))
        return self.head(F.adaptive_avg_pool2d(x, 1).flatten(1))


def test_residual_add_prunes_both_sides_together_and_skip_keeps_the_group():
    model = _Residual().eval()
    x = torch.randn(2, 3, 6, 6)
    prune(model, sparsity=0.5, pattern="channel", protect=(), scope="layer")
    # stem and conv2 write into the same sum: they lose the same channels, conv1 and head follow.
    assert model.stem.out_channels == model.conv2.out_channels == model.conv1.in_channels == 4
    assert model.head.in_features == 4 and model(x).shape == (2, 2)
    model = _Residual()
    prune(model, sparsity=0.5, pattern="channel", protect=(), skip=["stem"], scope="layer")  # the group stays, conv1 shrinks
    assert model.stem.out_channels == model.conv2.out_channels == 8 and model.conv1.out_channels == 4
    assert model(x).shape == (2, 2)


class _Cat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 1), nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.head(torch.cat([self.a(x), self.b(x)], 1))


class _Mixing(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(torch.softmax(self.a(x), dim=-1))


class _Untraceable(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.head = nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        if x.sum() > 0:
            x = -x
        return self.head(self.a(x))


class _Shared(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.head = nn.Linear(4, 4), nn.Linear(4, 4), nn.Linear(4, 2)

    def forward(self, x):
        return self.head(self.b(self.b(self.a(x))))


def test_concatenated_and_shared_layers_prune():
    model = _Cat()
    prune(model, sparsity=0.5, pattern="channel", protect=(), scope="layer")
    assert (model.a.out_channels, model.b.out_channels, model.head.in_channels) == (2, 2, 4)
    assert model(torch.randn(1, 3, 4, 4)).shape == (1, 2, 4, 4)
    model = _Shared()  # b(b(.)): b's rows and columns are the same channels, and so are a's rows
    prune(model, sparsity=0.5, pattern="channel", protect=())
    assert model.a.out_features == model.b.in_features == model.b.out_features == model.head.in_features == 2


def test_an_op_that_mixes_channels_keeps_them_with_a_warning_naming_it():
    model = _Mixing()
    with pytest.warns(UserWarning, match=r"softmax"):
        prune(model, sparsity=0.5, pattern="channel", protect=())
    assert model.a.out_features == 4


def test_an_untraceable_model_raises_naming_it_and_suggesting_leaf_modules():
    with pytest.raises(PruningGraphError, match=r"(?s)_Untraceable.*leaf_modules"):
        prune(_Untraceable(), sparsity=0.5, pattern="channel")


@pytest.mark.parametrize("model", [
    nn.Sequential(nn.Conv2d(4, 8, 1, groups=2), nn.Conv2d(8, 2, 1)),   # groups read the model input
    nn.Sequential(nn.Linear(4, 8), nn.LayerNorm(8), nn.Linear(8, 2)),  # hidden size: opt-in
])
def test_groups_that_cannot_move_leave_the_model_unchanged_with_a_warning(model):
    before = [p.shape for p in model.parameters()]
    with pytest.warns(UserWarning, match="no channel can be removed"):
        prune(model, sparsity=0.5, pattern="channel", protect=())
    assert [p.shape for p in model.parameters()] == before


def test_masked_layers_must_be_channel_pruned_first():
    model = MLP()
    prune(model, sparsity=0.5)
    with pytest.raises(PruningGraphError, match="remove_masks"):
        prune(model, sparsity=0.5, pattern="channel")
    # The other order is the supported one: shrink channels, then mask what is left.
    model = prune(MLP(), sparsity=0.5, pattern="channel")
    prune(model, sparsity=0.5)
    assert model(torch.randn(2, 8)).shape == (2, 4)
