"""``distill``: train a student against a frozen teacher (single process or torch.distributed DDP)."""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import torch
import torch.distributed as dist
import torch.nn as nn
from tqdm.auto import tqdm

from nnslim.distillation.config import DistillConfig
from nnslim.distillation.data import eval_batches, known_len, split_batch, train_batches, world
from nnslim.distillation.hints import FeatureHints, WidthUnknownError
from nnslim.distillation.losses import KDLoss


@dataclass
class DistillHistory:
    """Per-epoch record of a :func:`distill` run.

    ``val_score[i]`` is the score after epoch ``i + 1``; ``initial_score`` is the score before
    training, which also competes for best (``best_epoch == 0`` means no epoch beat the start).
    """

    train_loss: List[float] = field(default_factory=list)
    val_score: List[float] = field(default_factory=list)
    lr: List[float] = field(default_factory=list)
    initial_score: Optional[float] = None
    best_score: Optional[float] = None
    best_epoch: Optional[int] = None
    restored_best: bool = False
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)


def _logits(out: Any) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, dict) and "logits" in out:
        return out["logits"]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    raise TypeError(f"cannot find logits in a model output of type {type(out).__name__}")


class _StudentStep(nn.Module):
    """Student plus hint projections as one module, so DDP also averages the projection gradients."""

    def __init__(self, student: nn.Module, hints: Optional[FeatureHints]):
        super().__init__()
        self.student = student
        self.hints = hints

    def forward(self, x):
        logits = _logits(self.student(x))
        return logits, (self.hints.loss() if self.hints is not None else None)


def _device(module: nn.Module, fallback: torch.device) -> torch.device:
    return next((p.device for p in module.parameters()), fallback)


def _make_optimizer(params, config: DistillConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


def _make_scheduler(opt, config: DistillConfig, steps_per_epoch: Optional[int]):
    """(scheduler, steps_each_batch). Cosine anneals per batch when the epoch length is known:
    short budgets would otherwise spend half their steps at a barely-decayed rate."""
    if config.scheduler == "cosine":
        per_batch = steps_per_epoch is not None
        t_max = config.epochs * steps_per_epoch if per_batch else config.epochs
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, t_max)), per_batch
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, config.epochs // 3), gamma=0.1), False
    return None, False


@torch.no_grad()
def _accuracy(model: nn.Module, batches: Iterable, device: torch.device) -> float:
    was_training = model.training
    model.eval()
    correct = total = 0
    try:
        for batch in batches:
            x, y = split_batch(batch)
            if y is None:
                raise ValueError("val_data has no labels; pass eval_fn to score the student instead")
            pred = _logits(model(x.to(device))).argmax(1)
            correct += (pred == y.to(device)).sum().item()
            total += y.numel()
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("val_data is empty")
    return 100.0 * correct / total


def _make_scorer(val_data, eval_fn, device) -> Optional[Callable[[nn.Module], float]]:
    if eval_fn is not None:
        if not callable(eval_fn):
            raise ValueError("eval_fn must be callable: eval_fn(model) -> float (higher is better)")
        return lambda m: float(eval_fn(m))
    if val_data is None:
        return None
    batches = eval_batches(val_data)
    return lambda m: _accuracy(m, batches, device)


def _agree(value: float, device: torch.device, ddp: bool) -> float:
    # Every rank scores the same weights, but rank 0's number decides so keep_best never diverges.
    if not ddp:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def _mean_over_ranks(value: torch.Tensor, ddp: bool) -> float:
    if ddp:
        value = value.clone()
        dist.all_reduce(value)
        value /= dist.get_world_size()
    return float(value.item())


def _sync_buffers(module: nn.Module) -> None:
    # BatchNorm running stats are updated from each rank's shard; hand every rank rank 0's copy so
    # all ranks return the same model.
    for buf in module.buffers():
        dist.broadcast(buf, src=0)


def _build_hints(teacher, student, config, batches, device) -> Optional[FeatureHints]:
    if not config.hints:
        return None
    try:
        return FeatureHints(teacher, student, config.hint_pairs, loss=config.hint_loss)
    except WidthUnknownError:
        # Only now pay for a probe pass over one batch (it advances the loader's shuffle RNG).
        x, _ = split_batch(next(iter(batches)))
        return FeatureHints(teacher, student, config.hint_pairs, loss=config.hint_loss,
                            example_input=x.to(device))


def _snapshot(module: nn.Module) -> Dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def distill(teacher: nn.Module, student: nn.Module, train_data: Any,
            config: Optional[DistillConfig] = None, val_data: Any = None,
            eval_fn: Optional[Callable[[nn.Module], float]] = None) -> Tuple[nn.Module, DistillHistory]:
    """Train ``student`` on ``train_data`` against ``teacher``'s soft targets (and hints).

    ``train_data``: a Dataset (batched with ``config.batch_size``/``shuffle``), a DataLoader, or any
    re-iterable of ``(x, y)`` / ``x`` batches. The teacher runs in eval mode under ``no_grad``; all
    ``student.parameters()`` that require grad are trained (masked or pruned layers included), plus
    the hint projections. After each epoch the student is scored with ``eval_fn(student)`` or, by
    default, top-1 accuracy on ``val_data``; with ``keep_best`` the best weights are restored at
    the end. Seeds torch's global RNG with ``config.seed``. Returns ``(student, history)`` with the
    student in eval mode.

    Under torch.distributed (``torchrun``), the student is wrapped in DistributedDataParallel and a
    Dataset or DataLoader is sharded with a DistributedSampler (per-rank batch = global batch /
    world size); validation data is not sharded and rank 0's score decides; only rank 0 shows
    progress. BatchNorm statistics come from each rank's shard (use SyncBatchNorm to match a
    single-process run exactly); rank 0's buffers are copied to all ranks at the end.
    """
    config = DistillConfig() if config is None else config
    if not isinstance(config, DistillConfig):
        raise ValueError(f"config must be a DistillConfig, got {type(config).__name__}")
    for name, m in (("teacher", teacher), ("student", student)):
        if not isinstance(m, nn.Module):
            raise ValueError(f"{name} must be an nn.Module, got {type(m).__name__}")
    params = [p for p in student.parameters() if p.requires_grad]
    if not params:
        raise ValueError("student has no trainable parameters")
    device = params[0].device
    teacher_device = _device(teacher, device)
    rank, world_size = world()
    ddp = world_size > 1
    batches, sampler = train_batches(train_data, config.batch_size, config.shuffle, config.seed)
    scorer = _make_scorer(val_data, eval_fn, device)

    torch.manual_seed(config.seed)
    teacher_was_training = teacher.training
    teacher.eval()
    history = DistillHistory()
    start = time.perf_counter()
    hints, bar = None, None
    try:
        hints = _build_hints(teacher, student, config, batches, device)
        step_module: nn.Module = _StudentStep(student, hints)
        if ddp:
            from torch.nn.parallel import DistributedDataParallel
            step_module = DistributedDataParallel(
                step_module, device_ids=[device] if device.type == "cuda" else None)
        kd = KDLoss(config.temperature, config.alpha)
        need_teacher = config.alpha < 1.0 or hints is not None
        total_steps = config.epochs * known_len(batches) if known_len(batches) else None
        step_index = 0
        opt = _make_optimizer([p for p in step_module.parameters() if p.requires_grad], config)
        steps = known_len(batches)
        sched, sched_per_batch = _make_scheduler(opt, config, steps)
        bar = tqdm(total=config.epochs * steps if steps else None, desc="distill", unit="batch",
                   disable=not config.progress or rank != 0, leave=False)
        best_state = None
        if scorer is not None:
            history.initial_score = history.best_score = _agree(scorer(student), device, ddp)
            history.best_epoch = 0
            best_state = _snapshot(student) if config.keep_best else None
        for epoch in range(1, config.epochs + 1):
            if sampler is not None:
                sampler.set_epoch(epoch - 1)
            step_module.train()
            loss_sum, n_batches = torch.zeros((), device=device), 0
            for batch in batches:
                x, y = split_batch(batch)
                x = x.to(device)
                y = None if y is None else y.to(device)
                t_logits = None
                if need_teacher:
                    with torch.no_grad():
                        t_logits = _logits(teacher(x.to(teacher_device))).to(device)
                s_logits, hint_loss = step_module(x)
                # alpha = 0 means label-free distillation: no schedule toward the labels then.
                if config.alpha_schedule == "kd_then_ce" and total_steps and config.alpha > 0 and y is not None:
                    kd.alpha = config.alpha + (1.0 - config.alpha) * min(1.0, step_index / max(1, total_steps - 1))
                step_index += 1
                loss = kd(s_logits, t_logits, y)
                if hint_loss is not None:
                    loss = loss + config.hint_weight * hint_loss
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None and sched_per_batch:
                    sched.step()
                if hints is not None:
                    hints.clear()
                loss_sum += loss.detach()
                n_batches += 1
                bar.update(1)
            if n_batches == 0:
                raise ValueError(f"train_data yielded no batches in epoch {epoch} (empty, or a one-shot "
                                 "iterator? pass a Dataset, a DataLoader or a list of batches)")
            if sched is not None and not sched_per_batch:
                sched.step()
            history.train_loss.append(_mean_over_ranks(loss_sum / n_batches, ddp))
            history.lr.append(opt.param_groups[0]["lr"])
            postfix = {"loss": f"{history.train_loss[-1]:.4f}"}
            if scorer is not None:
                score = _agree(scorer(student), device, ddp)
                history.val_score.append(score)
                postfix["val"] = f"{score:.4g}"
                if score > history.best_score:
                    history.best_score, history.best_epoch = score, epoch
                    best_state = _snapshot(student) if config.keep_best else None
            bar.set_postfix(postfix, refresh=False)
        if config.keep_best and best_state is not None and history.best_epoch != config.epochs:
            student.load_state_dict(best_state)
            history.restored_best = True
        if ddp:
            _sync_buffers(student)
    finally:
        if bar is not None:
            bar.close()
        if hints is not None:
            hints.remove()
        teacher.train(teacher_was_training)
    history.seconds = time.perf_counter() - start
    student.eval()
    return student, history
