import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from pruning_helpers import SMALL, MLP, batches
from nnslim.pruning import PruneConfig, Pruner, get_mask, prune, schedules, sparsity_report
from nnslim.pruning.masks import masked_weight


@SMALL
@given(t0=st.integers(0, 50), n=st.integers(1, 20), dt=st.integers(1, 10), s_i=st.floats(0, 0.5),
       s_f=st.floats(0.5, 0.99), t=st.integers(0, 400))
def test_polynomial_is_zhu_gupta_cubic(t0, n, dt, s_i, s_f, t):
    sch = schedules.Polynomial(begin_step=t0, end_step=t0 + n * dt, frequency=dt, initial_sparsity=s_i)
    got = sch.sparsity_at(t, s_f)
    if t < t0:
        assert got == 0.0
    elif t >= t0 + n * dt:
        assert got == pytest.approx(s_f)
    else:
        assert got == pytest.approx(s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** 3)
    assert sch.sparsity_at(t0, s_f) == pytest.approx(s_i)
    assert sch.sparsity_at(t + 1, s_f) >= got - 1e-12  # non-decreasing
    assert sch.is_pruning_step(t) == (t0 <= t <= t0 + n * dt and (t - t0) % dt == 0)


def test_polynomial_end_step_always_prunes_and_values():
    sch = schedules.Polynomial(begin_step=10, end_step=25, frequency=10)
    assert [t for t in range(40) if sch.is_pruning_step(t)] == [10, 20, 25]
    assert sch.sparsity_at(20, 0.9) == pytest.approx(0.9 - 0.9 * (1 - 10 / 15) ** 3)
    assert schedules.Polynomial(end_step=10, power=1).sparsity_at(5, 0.8) == pytest.approx(0.4)


def test_iterative_and_oneshot_values():
    it = schedules.Iterative(amount=0.2, every=10, begin_step=5)
    assert [round(it.sparsity_at(t, 0.7), 6) for t in (0, 4, 5, 14, 15, 25, 35, 100)] == \
        [0, 0, 0.2, 0.2, 0.4, 0.6, 0.7, 0.7]
    assert [t for t in range(30) if it.is_pruning_step(t)] == [5, 15, 25]
    rel = schedules.Iterative(amount=0.2, every=1, relative=True)
    assert [round(rel.sparsity_at(t, 0.9), 6) for t in range(3)] == [0.2, 0.36, 0.488]
    one = schedules.OneShot(at_step=3)
    assert [one.sparsity_at(t, 0.9) for t in (2, 3, 9)] == [0, 0.9, 0.9]
    assert [t for t in range(9) if one.is_pruning_step(t)] == [3]


@pytest.mark.parametrize("bad,match", [
    (lambda: schedules.Polynomial(begin_step=5, end_step=5), "end_step"),
    (lambda: schedules.Polynomial(end_step=10, frequency=0), "frequency"),
    (lambda: schedules.Polynomial(end_step=10, initial_sparsity=1.0), "initial_sparsity"),
    (lambda: schedules.Polynomial(end_step=10, power=0), "power"),
    (lambda: schedules.Iterative(amount=0), "amount"),
    (lambda: schedules.Iterative(every=0), "every"),
    (lambda: schedules.OneShot(at_step=-1), "at_step"),
])
def test_bad_schedule_arguments(bad, match):
    with pytest.raises(ValueError, match=match):
        bad()


def test_pruner_follows_the_schedule_while_training_with_adam():
    model, data = MLP(), batches()
    sch = schedules.Polynomial(begin_step=2, end_step=12, frequency=3)
    pruner = Pruner(model, PruneConfig(sparsity=0.8, scope="layer"), sch)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    dead = [torch.zeros_like(m.weight, dtype=torch.bool) for m in model.layers]
    applied = []
    for t in range(16):
        x, y = data[t % len(data)]
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if pruner.step():
            applied.append(t)
            assert pruner.current_sparsity == pytest.approx(sch.sparsity_at(t, 0.8))
            for m in model.layers:
                if pruner.current_sparsity == 0:  # the cubic starts at s_i = 0: nothing to mask yet
                    assert get_mask(m) is None
                    continue
                assert abs(1 - float(get_mask(m).mean()) - pruner.current_sparsity) < 1.5 / m.weight.numel() + 1e-6
        for i, m in enumerate(model.layers):
            mask = get_mask(m)
            if mask is not None:
                assert not (mask.bool() & dead[i]).any(), "a pruned weight came back"
                assert (masked_weight(m)[mask == 0] == 0).all()
                dead[i] |= mask == 0
    assert applied == [2, 5, 8, 11, 12]
    assert pruner.current_sparsity == pytest.approx(0.8)
    assert sparsity_report(model).sparsity == pytest.approx(0.8, abs=0.01)
    pruner.remove()
    assert sparsity_report(model).sparsity == pytest.approx(0.8, abs=0.01)
    state = pruner.state_dict()
    again = Pruner(MLP(), PruneConfig(sparsity=0.8), sch)
    again.load_state_dict(state)
    assert again.step_count == 16


def test_iterative_pruner_and_config_schedule():
    model = MLP()
    cfg = PruneConfig(sparsity=0.5, schedule=schedules.Iterative(amount=0.25, every=2))
    pruner = Pruner(model, cfg)
    seen, pruned = [], []
    for _ in range(6):
        pruned.append(pruner.step())
        seen.append(round(sparsity_report(model).sparsity, 2))
    assert seen == [0.25, 0.25, 0.5, 0.5, 0.5, 0.5]
    assert pruned == [True, False, True, False, False, False]  # at the target: no pointless re-scoring


def test_prune_rejects_schedules_and_pruner_rejects_channels():
    cfg = PruneConfig(sparsity=0.5, schedule=schedules.Polynomial(end_step=10))
    with pytest.raises(ValueError, match="schedule"):
        prune(MLP(), cfg)
    prune(MLP(), PruneConfig(sparsity=0.5, schedule=schedules.OneShot()))
    with pytest.raises(ValueError, match="pattern"):
        Pruner(MLP(), PruneConfig(sparsity=0.5, pattern="channel"))
    with pytest.raises(ValueError, match="schedule"):
        Pruner(MLP(), PruneConfig(pattern="2:4"), schedules.Polynomial(end_step=10))
    with pytest.raises(ValueError, match="initial_sparsity"):
        Pruner(MLP(), PruneConfig(sparsity=0.3), schedules.Polynomial(end_step=10, initial_sparsity=0.5))
    with pytest.raises(ValueError, match="schedule"):
        Pruner(MLP(), PruneConfig(sparsity=0.3), schedule="cubic")
