"""nnslim.compress: recipes in every form, the report, and bad recipes."""
import json

import pytest
import torch
import torch.nn as nn

import nnslim
from nnslim import datasets
from nnslim.nn import Int8Conv2d, Int8Linear


@pytest.fixture(scope="module")
def digits():
    torch.manual_seed(0)
    train, test = datasets.digits_loaders()
    teacher = datasets.train_classifier(datasets.DigitsCNN(8), train, epochs=1)
    return teacher, train, test


def test_compress_distill_prune_quantize(digits, tmp_path):
    teacher, train, test = digits
    recipe = [nnslim.DistillStage(student=lambda: datasets.DigitsCNN(4), config=nnslim.DistillConfig(epochs=1, progress=False)),
              nnslim.PruneStage(nnslim.PruneConfig(sparsity=0.5), finetune=nnslim.DistillConfig(epochs=1, progress=False)),
              nnslim.QuantizeStage("int8_static")]
    model, report = nnslim.compress(teacher, recipe, train_data=train, val_data=test, sweep=(0.5, 0.9))
    assert [s["sparsity"] for s in report.sweep] == [0.5, 0.9] and report.sweep[0]["metric"] > 0
    assert isinstance(model.features[0], Int8Conv2d) and isinstance(model.classifier[3], Int8Linear)
    assert report.metric_before is not None and report.metric_after is not None
    assert report.totals("after")["nonzeros"] < report.totals("before")["nonzeros"] / 4
    assert report.file_bytes_after < report.file_bytes_before
    assert report.latency_ms_before > 0 and report.latency_ms_after > 0
    assert [s["stage"] for s in report.stages] == ["DistillStage", "PruneStage", "QuantizeStage"]
    report.save_json(tmp_path / "r.json")
    d = json.loads((tmp_path / "r.json").read_text())
    assert d["totals_after"]["params"] > 0 and "speedup" in d
    text = report.table()
    assert "accuracy" in text and "features.0" in text
    assert [p.rsplit("/", 1)[1] for p in report.plot(str(tmp_path))] == ["latency_per_layer.png", "sparsity_sweep.png"]


def test_recipe_yaml_and_dict_forms(digits, tmp_path):
    teacher, train, test = digits
    yaml_text = """
stages:
  - prune: {config: {sparsity: 0.5, method: magnitude}, finetune: null}
  - quantize: {config: int8_dynamic}
"""
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml_text)
    model, report = nnslim.compress(teacher, str(path), train_data=train, val_data=test, measure_layers=False)
    assert isinstance(model.classifier[1], Int8Linear) and not model.classifier[1].static
    stages = nnslim.pipeline.parse_recipe({"stages": [{"qat": {"config": {"weights": "int8"}, "finetune": {"epochs": 1}}}]})
    assert isinstance(stages[0], nnslim.QATStage) and stages[0].finetune.epochs == 1


def test_eval_fn_metric(digits):
    teacher, train, test = digits
    calls = []

    def eval_fn(m):
        calls.append(1)
        return 42.0

    _, report = nnslim.compress(teacher, [nnslim.QuantizeStage("int8_dynamic")], train_data=train, eval_fn=eval_fn,
                                example_input=torch.rand(2, 1, 8, 8), measure_layers=False)
    assert report.metric_before == report.metric_after == 42.0 and len(calls) >= 2


def test_bad_recipes(digits):
    teacher, train, test = digits
    with pytest.raises(ValueError, match="unknown stage"):
        nnslim.compress(teacher, [{"shrink": {}}])
    with pytest.raises(ValueError, match="non-empty list"):
        nnslim.compress(teacher, [])
    with pytest.raises(ValueError, match="bad arguments"):
        nnslim.compress(teacher, [{"prune": {"nonsense": 1}}])
    with pytest.raises(ValueError, match="needs train_data"):
        nnslim.compress(teacher, [nnslim.DistillStage(config=nnslim.DistillConfig(epochs=1, progress=False))])
    with pytest.raises(ImportError, match="cannot import module"):
        nnslim.compress(teacher, [nnslim.DistillStage(student="no_such_pkg.mod:f")], train_data=train)
    with pytest.raises(TypeError, match="nn.Module"):
        nnslim.compress("model", [nnslim.QuantizeStage()])


def test_compress_channel_pruning_in_steps_on_a_residual_net_then_int8(digits):
    _, train, test = digits
    torch.manual_seed(0)
    model = datasets.train_classifier(datasets.DigitsResNet(8), train, epochs=1)
    recipe = [nnslim.PruneStage(nnslim.PruneConfig(sparsity=0.5, pattern="channel"), gradual_steps=2,
                                finetune=nnslim.DistillConfig(epochs=2, progress=False)),
              nnslim.QuantizeStage("int8_static")]
    pruned, report = nnslim.compress(model, recipe, train_data=train, val_data=test)
    assert report.totals("after")["params"] < report.totals("before")["params"] / 2
    assert report.metric_after is not None and "(2 step(s))" in report.stages[0]["notes"]
    x = next(iter(test))[0][:4]
    assert pruned(x).shape == (4, 10)


def test_compress_prune_blocks_quantize_then_sparsify_int8(digits):
    teacher, train, test = digits
    recipe = [nnslim.PruneStage(nnslim.PruneConfig(sparsity=0.8, pattern="4x1")),
              nnslim.QuantizeStage("int8_dynamic"),
              nnslim.SparsifyStage(dtype="int8")]
    model, report = nnslim.compress(teacher, recipe, train_data=train, val_data=test)
    linears = {n: type(m).__name__ for n, m in model.named_modules() if "Linear" in type(m).__name__}
    assert linears and set(linears.values()) <= {"Int8Linear", "SparseInt8Linear"}
    notes = {n: s.sparsify for n, s in report.layers_after.items() if s.sparsify}
    assert set(linears) <= set(notes)  # every layer considered says which form won and why
    assert all(notes[n].split(":")[0] in ("dense_int8", "sparse_int8") for n in linears)
    assert all(v.split(":")[0] in ("dense", "sparse_f32") for n, v in notes.items() if n not in linears)  # convs
    assert "layer(s):" in report.stages[-1]["notes"] and "sparsify" in report.table()
    assert report.metric_after is not None
