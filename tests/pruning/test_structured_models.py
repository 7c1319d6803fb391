"""Channel pruning of the reference CNNs (torchvision layouts): coupled channels through residual adds,
depthwise convs and squeeze-excite; the shrunk model computes what the original does with the removed
channels zeroed; it saves, reloads and quantizes."""
import warnings

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim import models
from nnslim.pruning import PruneConfig, prune
from structured_helpers import check_shrink_matches_zeroed

MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_large"]


def _model(name):
    torch.manual_seed(0)
    m = getattr(models, name)(num_classes=10).eval()
    models.randomize_batchnorm(m)
    return m


@pytest.mark.parametrize("name", MODELS)
def test_shrunk_model_equals_the_original_with_removed_channels_zeroed(name):
    model = _model(name)
    plan, removed = check_shrink_matches_zeroed(model, torch.randn(2, 3, 64, 64))
    # Every residual stream is one group: e.g. ResNet's layer1 convs that write into it lose the same channels.
    if name == "resnet18":
        blocks = [model.layer1[0].conv2, model.layer1[1].conv2]
        assert blocks[0].out_channels == blocks[1].out_channels == model.conv1.out_channels
        assert model.layer2[0].downsample[0].out_channels == model.layer2[1].conv2.out_channels


@pytest.mark.parametrize("name", MODELS)
def test_half_the_channels_go_and_the_file_reloads_identically(name, tmp_path):
    model = _model(name)
    x = torch.randn(1, 3, 64, 64)
    params = sum(p.numel() for p in model.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing in these models is beyond the analysis
        changed = prune(model, PruneConfig(sparsity=0.5, pattern="channel", round_to=8), example_input=x)
    assert model(x).shape == (1, 10)
    assert sum(p.numel() for p in model.parameters()) < 0.5 * params
    assert model.fc.out_features == 10 if hasattr(model, "fc") else True
    stem = model.conv1 if hasattr(model, "conv1") else model.features[0][0]
    assert stem.out_channels == (64 if hasattr(model, "conv1") else stem.out_channels)  # protected by default
    path = tmp_path / "pruned.nnslim"
    nnslim.save(model, path)
    fresh = getattr(models, name)(num_classes=10).eval()
    loaded = nnslim.load(path, fresh)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    del changed


def test_round_to_keeps_multiples_of_it_per_group():
    model = _model("resnet18")
    prune(model, PruneConfig(sparsity=0.6, pattern="channel", round_to=16), example_input=torch.randn(1, 3, 64, 64))
    convs = [m for n, m in model.named_modules() if isinstance(m, nn.Conv2d) and n != "conv1"]
    assert all(c.out_channels % 16 == 0 for c in convs)


@pytest.mark.parametrize("target", ["macs", "params"])
def test_mac_and_parameter_budgets(target):
    from nnslim.pruning.channel_prune import count_macs, count_params

    model = _model("mobilenet_v2")
    x = torch.randn(1, 3, 64, 64)
    measure = (lambda m: count_macs(m, x)) if target == "macs" else count_params
    before = measure(model)
    prune(model, PruneConfig(sparsity=0.4, pattern="channel", target=target), example_input=x)
    after = measure(model)
    assert after <= 0.6 * before and after > 0.45 * before  # the shortest cut that meets the budget


def test_target_speedup_needs_an_example_input():
    with pytest.raises(ValueError, match="example_input"):
        prune(_model("resnet18"), PruneConfig(pattern="channel", target_speedup=2.0))


def test_target_speedup_stops_when_the_measured_model_is_fast_enough():
    model = _model("resnet18")
    x = torch.randn(1, 3, 96, 96)
    before = sum(p.numel() for p in model.parameters())
    prune(model, PruneConfig(pattern="channel", target_speedup=1.2, sparsity=0.8), example_input=x)
    after = sum(p.numel() for p in model.parameters())
    assert after < before and model(x).shape == (1, 10)


def test_pruned_then_int8_static_runs_on_nnslim_kernels():
    model = _model("resnet18")
    x = torch.randn(1, 3, 64, 64)
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", round_to=8), example_input=x)
    want = model(x)
    q = nnslim.quantize(model, "int8_static", calibration_data=[torch.randn(2, 3, 64, 64) for _ in range(4)])
    got = q(x)
    cos = torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0)
    assert cos > 0.98


def test_bn_scale_ranks_channels_by_gamma():
    model = nn.Sequential(nn.Conv2d(3, 3, 1), nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    with torch.no_grad():
        model[2].weight.copy_(torch.tensor([0.1, 2.0, 0.2, 3.0]))
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", method="bn_scale", scope="layer"),
          example_input=torch.randn(1, 3, 4, 4))
    assert model[2].weight.tolist() == [2.0, 3.0]


def test_loading_into_another_architecture_names_the_first_mismatch(tmp_path):
    model = _model("resnet18")
    prune(model, PruneConfig(sparsity=0.5, pattern="channel"), example_input=torch.randn(1, 3, 32, 32))
    nnslim.save(model, tmp_path / "r18.nnslim")
    with pytest.raises(ValueError, match="does not match the model"):
        nnslim.load(tmp_path / "r18.nnslim", models.mobilenet_v2(num_classes=10))


@pytest.mark.parametrize("kwargs,match", [
    ({"example_input": "an image"}, "example_input: expected a tensor"),
    ({"example_input": torch.randn(1, 5, 8, 8)}, "example_input: running the model on it failed"),
    ({"leaf_modules": ["Conv2d"]}, "leaf_modules: expected nn.Module subclasses"),
    ({"round_to": 0}, "round_to"),
    ({"sparsity": 1.0}, "sparsity"),
    ({"target": "flops"}, "target"),
    ({"target_speedup": 0.5}, "target_speedup"),
    ({"per_layer": {"layer1.*": 1.5}}, "per_layer"),
])
def test_bad_arguments_raise_naming_them(kwargs, match):
    model = _model("resnet18")
    kw = {"sparsity": 0.5, **kwargs}
    with pytest.raises(ValueError, match=match):
        prune(model, pattern="channel", **kw)


def test_a_near_total_per_layer_target_still_leaves_every_layer_a_channel():
    model = _model("resnet18")
    x = torch.randn(1, 3, 32, 32)
    prune(model, PruneConfig(sparsity=0.5, pattern="channel", per_layer={"layer4.*": 0.999}), example_input=x)
    assert min(m.out_channels for m in model.modules() if isinstance(m, nn.Conv2d)) >= 1
    assert model(x).shape == (1, 10)


def test_target_speedup_warns_when_the_cap_is_not_enough(monkeypatch):
    import nnslim.pruning.channel_prune as cp

    monkeypatch.setattr(cp, "measure_latency", lambda models, x, rounds=5: [1.0, 1.0])  # a machine that never speeds up
    model = _model("resnet18")
    with pytest.warns(UserWarning, match=r"target_speedup=3.0: the sparsity cap gives only 1.00x"):
        prune(model, PruneConfig(pattern="channel", target_speedup=3.0, sparsity=0.3),
              example_input=torch.randn(1, 3, 32, 32))


def test_target_speedup_can_time_the_int8_model(monkeypatch):
    import nnslim.pruning.channel_prune as cp

    seen = []

    def fake(models, x, rounds=5):
        seen.append(isinstance(models[1], torch.fx.GraphModule))
        return [1.0, 0.4]

    monkeypatch.setattr(cp, "measure_latency", fake)
    model = _model("resnet18")
    prune(model, PruneConfig(pattern="channel", target_speedup=2.0, speed_of="int8_static"),
          example_input=torch.randn(1, 3, 32, 32))
    assert seen and all(seen)  # each candidate timed as its whole-model int8 graph
