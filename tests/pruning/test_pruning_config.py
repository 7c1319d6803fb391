import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pruning_helpers import SMALL
from nnslim.pruning import Iterative, OneShot, Polynomial, PruneConfig


@SMALL
@given(st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0), st.just(math.nan), st.just(math.inf)))
def test_sparsity_outside_unit_interval_is_rejected(s):
    with pytest.raises(ValueError, match="sparsity"):
        PruneConfig(sparsity=s)


@pytest.mark.parametrize("bad", ["0.5", True, None])
def test_sparsity_must_be_a_number(bad):
    with pytest.raises(ValueError, match="sparsity"):
        PruneConfig(sparsity=bad)


@pytest.mark.parametrize("field,value", [("method", "l1"), ("scope", "model"), ("pattern", "blocks"),
                                         ("channel_norm", "linf"), ("num_batches", 0), ("schedule", "cubic"),
                                         ("seed", 1.5), ("loss_fn", 3)])
def test_unknown_choices_name_the_argument(field, value):
    with pytest.raises(ValueError, match=field):
        PruneConfig(sparsity=0.5, **{field: value})


@pytest.mark.parametrize("pattern", ["4:4", "5:4", "0:4", "2:", "a:b", "2:4:8", "2-4"])
def test_bad_nm_patterns(pattern):
    with pytest.raises(ValueError, match="pattern"):
        PruneConfig(pattern=pattern)


def test_nm_implies_sparsity_and_rejects_a_conflicting_one():
    assert PruneConfig(pattern="2:4").sparsity == 0.5
    assert PruneConfig(pattern="1:4", sparsity=0.75).nm == (1, 4)
    with pytest.raises(ValueError, match="sparsity"):
        PruneConfig(pattern="2:4", sparsity=0.9)
    with pytest.raises(ValueError, match="per_layer"):
        PruneConfig(pattern="2:4", per_layer={"fc": 0.1})


def test_unstructured_needs_a_sparsity():
    with pytest.raises(ValueError, match="sparsity"):
        PruneConfig()


def test_per_layer_and_skip_are_normalised_and_validated():
    c = PruneConfig(sparsity=0.5, skip="features.0", per_layer={"a.*": 0.2, "b": 0})
    assert c.skip == ("features.0",)
    assert c.per_layer == (("a.*", 0.2), ("b", 0.0))
    hash(c)  # frozen and hashable, usable as a cache key
    with pytest.raises(ValueError, match=r"per_layer\['x'\]"):
        PruneConfig(sparsity=0.5, per_layer={"x": 1.0})
    with pytest.raises(ValueError, match="skip"):
        PruneConfig(sparsity=0.5, skip=[""])
    with pytest.raises(Exception):
        c.sparsity = 0.1  # frozen


schedules = st.one_of(st.none(), st.just("oneshot"), st.builds(OneShot, at_step=st.integers(0, 50)),
                      st.builds(Iterative, amount=st.floats(0.01, 0.5), every=st.integers(1, 20),
                                relative=st.booleans()),
                      st.builds(Polynomial, end_step=st.integers(10, 100), begin_step=st.integers(0, 9),
                                frequency=st.integers(1, 10), initial_sparsity=st.floats(0, 0.3)))


@SMALL
@given(sparsity=st.floats(0, 0.99), method=st.sampled_from(["magnitude", "gradient", "taylor", "random"]),
       scope=st.sampled_from(["global", "layer"]), pattern=st.sampled_from(["unstructured", "channel"]),
       schedule=schedules, skip=st.lists(st.text("abc.*", min_size=1, max_size=5), max_size=3),
       per_layer=st.dictionaries(st.text("abc.", min_size=1, max_size=4), st.floats(0, 0.9), max_size=3),
       num_batches=st.one_of(st.none(), st.integers(1, 10)))
def test_to_dict_from_dict_round_trip(sparsity, method, scope, pattern, schedule, skip, per_layer, num_batches):
    c = PruneConfig(sparsity=sparsity, method=method, scope=scope, pattern=pattern, schedule=schedule,
                    skip=skip, per_layer=per_layer, num_batches=num_batches)
    d = c.to_dict()
    import json
    assert PruneConfig.from_dict(json.loads(json.dumps(d))) == c


def test_from_dict_rejects_unknown_fields_and_takes_loss_fn_separately():
    with pytest.raises(ValueError, match="sparsty"):
        PruneConfig.from_dict({"sparsty": 0.5})
    fn = lambda model, batch: 0  # noqa: E731
    c = PruneConfig.from_dict({"sparsity": 0.5, "method": "taylor"}, loss_fn=fn)
    assert c.loss_fn is fn and "loss_fn" not in c.to_dict()
    with pytest.raises(ValueError, match="schedule"):
        PruneConfig.from_dict({"sparsity": 0.5, "schedule": {"kind": "exp"}})
