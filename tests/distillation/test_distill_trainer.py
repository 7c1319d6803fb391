import copy

import pytest
import torch
import torch.nn.utils.prune as prune
from torch.utils.data import DataLoader, TensorDataset

from nnslim.datasets import train_classifier
from nnslim.distillation import DistillConfig, DistillHistory, distill

from distill_testutils import blobs, mlp

FAST = dict(epochs=2, batch_size=32, progress=False, lr=1e-2)


@pytest.fixture(scope="module")
def teacher():
    torch.set_num_threads(1)
    t = mlp([8, 64, 4])
    return train_classifier(t, DataLoader(blobs(), batch_size=32, shuffle=True), epochs=5, seed=0)


def test_student_learns_and_teacher_is_untouched(teacher):
    teacher.train()
    before = copy.deepcopy(teacher.state_dict())
    student = mlp([8, 16, 4], seed=3)
    out, history = distill(teacher, student, blobs(), DistillConfig(**{**FAST, "epochs": 10}),
                           val_data=blobs(seed=1))
    assert out is student and not student.training
    assert teacher.training  # mode restored
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in before.items())
    assert isinstance(history, DistillHistory)
    assert len(history.train_loss) == len(history.val_score) == len(history.lr) == 10
    assert history.train_loss[-1] < history.train_loss[0]
    assert history.best_score >= 90 and history.best_score == max(history.val_score + [history.initial_score])
    assert history.to_dict()["best_epoch"] == history.best_epoch


def test_same_seed_same_result(teacher):
    runs = [distill(teacher, mlp([8, 8, 4], seed=3), blobs(), DistillConfig(**FAST))[0] for _ in range(2)]
    for a, b in zip(runs[0].parameters(), runs[1].parameters()):
        assert torch.equal(a, b)


def _scripted_eval(scores, snapshots):
    it = iter(scores)

    def eval_fn(model):
        snapshots.append(copy.deepcopy(model.state_dict()))
        return next(it)
    return eval_fn


@pytest.mark.parametrize("keep_best,scores,restored_call", [
    (True, [10, 50, 90, 20], 2),   # best after epoch 2 of 3
    (True, [99, 50, 60, 70], 0),   # nothing beat the starting weights
    (False, [10, 50, 90, 20], 3),  # keep the last
])
def test_keep_best_restores_the_best_checkpoint(teacher, keep_best, scores, restored_call):
    snapshots = []
    student, history = distill(teacher, mlp([8, 8, 4], seed=3), blobs(),
                               DistillConfig(**{**FAST, "epochs": 3, "keep_best": keep_best}),
                               eval_fn=_scripted_eval(scores, snapshots))
    assert history.best_score == max(scores) and history.initial_score == scores[0]
    for k, v in student.state_dict().items():
        assert torch.equal(v, snapshots[restored_call][k])


def test_label_free_distillation(teacher):
    xs = [x for x, _ in DataLoader(blobs(), batch_size=32)]  # a list of unlabeled batches
    student, history = distill(teacher, mlp([8, 8, 4]), xs, DistillConfig(**{**FAST, "alpha": 0.0}))
    assert len(history.train_loss) == 2
    with pytest.raises(ValueError, match="target"):
        distill(teacher, mlp([8, 8, 4]), xs, DistillConfig(**FAST))


@pytest.mark.parametrize("data", [
    TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long)),
    DataLoader(TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long)), batch_size=4),
    [],
])
def test_empty_train_data(teacher, data):
    with pytest.raises(ValueError, match="empty"):
        distill(teacher, mlp([8, 8, 4]), data, DistillConfig(**FAST))


def test_one_shot_iterator_is_caught(teacher):
    batches = iter(list(DataLoader(blobs(), batch_size=32)))
    with pytest.raises(ValueError, match="no batches in epoch 2"):
        distill(teacher, mlp([8, 8, 4]), batches, DistillConfig(**FAST))


def test_output_shape_mismatch(teacher):
    with pytest.raises(ValueError, match="teacher_logits shape"):
        distill(teacher, mlp([8, 8, 5]), blobs(), DistillConfig(**FAST))


def test_bad_arguments(teacher):
    with pytest.raises(ValueError, match="DistillConfig"):
        distill(teacher, mlp([8, 8, 4]), blobs(), {"epochs": 1})
    with pytest.raises(ValueError, match="train_data"):
        distill(teacher, mlp([8, 8, 4]), 42, DistillConfig(**FAST))
    with pytest.raises(ValueError, match="unknown teacher layer"):
        distill(teacher, mlp([8, 8, 4]), blobs(), DistillConfig(**FAST, hints={"9": "0"}))


def test_pruned_student_is_fine_tuned_under_its_mask(teacher):
    student = mlp([8, 16, 4], seed=3)
    prune.l1_unstructured(student[0], "weight", amount=0.75)
    orig = student[0].weight_orig.detach().clone()
    distill(teacher, student, blobs(), DistillConfig(**FAST))
    assert not torch.equal(orig, student[0].weight_orig)
    student(torch.zeros(1, 8))
    assert (student[0].weight[student[0].weight_mask == 0] == 0).all()


def test_hints_train_projections_and_leave_no_hooks(teacher):
    student = mlp([8, 8, 4], seed=3)
    config = DistillConfig(**FAST, hints={"0": "0", "1": "1"}, hint_weight=0.5)  # Linear, then ReLU (probed)
    _, history = distill(teacher, student, DataLoader(blobs(), batch_size=32), config)
    assert history.train_loss[-1] < history.train_loss[0]
    for m in list(teacher.modules()) + list(student.modules()):
        assert not m._forward_hooks


@pytest.mark.parametrize("optimizer,scheduler", [("sgd", "step"), ("adamw", "none"), ("adam", "cosine")])
def test_optimizers_and_schedules(teacher, optimizer, scheduler):
    config = DistillConfig(**{**FAST, "epochs": 3}, optimizer=optimizer, scheduler=scheduler,
                           weight_decay=1e-4)
    _, history = distill(teacher, mlp([8, 8, 4]), blobs(), config)
    expected = {"step": [1e-3, 1e-4, 1e-5], "none": [1e-2] * 3}.get(scheduler)
    if expected:
        assert history.lr == pytest.approx(expected)
    else:
        assert history.lr[-1] == pytest.approx(0.0, abs=1e-9)


def test_progress_bar_only_when_asked(teacher, capsys):
    distill(teacher, mlp([8, 8, 4]), blobs(), DistillConfig(**FAST))
    assert capsys.readouterr().err == ""
    distill(teacher, mlp([8, 8, 4]), blobs(), DistillConfig(**{**FAST, "progress": True}))
    assert "distill" in capsys.readouterr().err


def test_works_with_batchnorm_cnn_and_accuracy_default():
    from nnslim.datasets import DigitsCNN, load_digits_tensors
    train, test = load_digits_tensors()
    small = TensorDataset(*[t[:256] for t in train.tensors])
    teacher, student = DigitsCNN(8), DigitsCNN(4)
    _, history = distill(teacher, student, small, DistillConfig(**{**FAST, "epochs": 1}), val_data=test)
    assert 0 <= history.val_score[0] <= 100


def test_fine_tuning_after_nnslim_pruning_keeps_the_sparsity(teacher):
    pruning = pytest.importorskip("nnslim.pruning")
    student = mlp([8, 16, 4], seed=3)
    pruning.prune(student, pruning.PruneConfig(sparsity=0.5))
    zeros = [(pruning.masked_weight(m) == 0).sum().item() for m in student if isinstance(m, torch.nn.Linear)]
    _, history = distill(teacher, student, blobs(), DistillConfig(**{**FAST, "epochs": 3}))
    assert history.train_loss[-1] < history.train_loss[0]
    assert zeros == [(pruning.masked_weight(m) == 0).sum().item() for m in student
                     if isinstance(m, torch.nn.Linear)]


def test_failure_mid_run_cleans_up(teacher):
    teacher.train()
    student = mlp([8, 8, 4])
    xs = [x for x, _ in DataLoader(blobs(), batch_size=32)]  # no labels, but alpha > 0
    with pytest.raises(ValueError, match="target"):
        distill(teacher, student, xs, DistillConfig(**FAST, hints={"0": "0"}))
    assert teacher.training
    assert not any(m._forward_hooks for m in list(teacher.modules()) + list(student.modules()))


def test_kd_then_ce_moves_alpha_to_one_by_the_last_step(monkeypatch):
    """alpha_schedule="kd_then_ce": the cross-entropy weight goes linearly from alpha to 1."""
    import torch.nn as nn

    from nnslim.distillation import DistillConfig, distill
    from nnslim.distillation import losses

    seen = []
    real_forward = losses.KDLoss.forward

    def spy(self, s, t, y=None):
        seen.append(self.alpha)
        return real_forward(self, s, t, y)

    monkeypatch.setattr(losses.KDLoss, "forward", spy)
    torch.manual_seed(0)
    data = [(torch.randn(4, 6), torch.randint(0, 3, (4,))) for _ in range(5)]
    teacher, student = nn.Linear(6, 3), nn.Linear(6, 3)
    distill(teacher, student, data, DistillConfig(epochs=2, alpha=0.2, progress=False))
    assert len(seen) == 10 and seen[0] == pytest.approx(0.2) and seen[-1] == pytest.approx(1.0)
    assert all(a <= b for a, b in zip(seen, seen[1:]))
    seen.clear()
    distill(teacher, student, data, DistillConfig(epochs=2, alpha=0.2, alpha_schedule="constant", progress=False))
    assert seen == [pytest.approx(0.2)] * 10
