import dataclasses
import json

import pytest

from nnslim.distillation import DistillConfig


def test_defaults():
    c = DistillConfig()
    assert (c.temperature, c.alpha, c.optimizer, c.scheduler) == (2.0, 0.5, "adam", "cosine")
    assert c.alpha_schedule == "kd_then_ce"
    with pytest.raises(ValueError, match="alpha_schedule must be one of"):
        DistillConfig(alpha_schedule="cosine")
    assert c.keep_best and c.progress and c.hints is None


def test_round_trip_through_json():
    c = DistillConfig(epochs=3, lr=0.01, optimizer="SGD", hints={"a.b": "c"}, hint_loss="cosine")
    d = json.loads(json.dumps(c.to_dict()))
    assert DistillConfig.from_dict(d) == c
    assert c.optimizer == "sgd" and d["hints"] == {"a.b": "c"}
    assert c.hint_pairs == {"a.b": "c"}
    hash(c)  # frozen and hashable, hints included


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DistillConfig().alpha = 0.1
    assert DistillConfig().replace(alpha=0.1).alpha == 0.1


@pytest.mark.parametrize("field,value", [
    ("temperature", 0), ("temperature", -2.0), ("alpha", 1.01), ("alpha", -0.5), ("epochs", 0),
    ("epochs", 2.5), ("lr", 0.0), ("optimizer", "rmsprop"), ("scheduler", "linear"),
    ("weight_decay", -1e-4), ("batch_size", 0), ("hint_weight", -1.0), ("hint_loss", "l1"),
    ("seed", -1), ("progress", "yes"), ("keep_best", 1), ("hints", 5), ("lr", True),
])
def test_validation_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        DistillConfig(**{field: value})


def test_from_dict_rejects_unknown_keys():
    with pytest.raises(ValueError, match="tempreature"):
        DistillConfig.from_dict({"tempreature": 2.0})
    with pytest.raises(ValueError):
        DistillConfig.from_dict([("alpha", 0.1)])
