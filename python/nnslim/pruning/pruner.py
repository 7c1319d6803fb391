"""``Pruner``: prune on a schedule while the user trains."""
from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, Optional, Sequence

import torch.nn as nn

from nnslim.pruning.api import FilterFn, as_config, prune_step
from nnslim.pruning.masks import remove_masks
from nnslim.pruning.schedule import OneShot, Polynomial, Schedule

__all__ = ["Pruner"]


class Pruner:
    """Call ``.step()`` once per training step, after ``optimizer.step()``.

    At each pruning step of the schedule, every selected layer is re-scored on its current weights
    and pruned to the scheduled sparsity; weights pruned earlier stay pruned (they rank lowest), so
    sparsity only grows. ``current_sparsity`` is the global target applied last.

        pruner = Pruner(model, PruneConfig(sparsity=0.9), schedules.Polynomial(end_step=600, frequency=50))
        for x, y in loader:
            opt.zero_grad(); loss_fn(model(x), y).backward(); opt.step()
            pruner.step()
        pruner.remove()   # bake masks into the weights

    ``pattern="channel"`` shrinks the model at each pruning step (channels removed are gone, so the
    schedule's sparsity is reached step by step as a fraction of the original channels); pass
    ``on_shrink=lambda model: ...`` to rebuild the optimizer, and ``example_input`` where the graph needs it.
    """

    def __init__(self, model: nn.Module, config: Any = None, schedule: Optional[Schedule] = None,
                 data: Optional[Iterable] = None, filter_fn: Optional[FilterFn] = None,
                 on_shrink: Optional[Callable[[nn.Module], None]] = None, example_input: Any = None,
                 leaf_modules: Sequence[type] = (), **overrides):
        self.model = model
        self.config = as_config(config, **overrides)
        schedule = self.config.schedule if schedule is None else schedule
        if schedule is None or schedule == "oneshot":
            schedule = OneShot()
        if not isinstance(schedule, Schedule):
            raise ValueError(f"schedule: expected a schedule object (nnslim.pruning.schedules), got {schedule!r}")
        if self.config.pattern == "channel" and not callable(on_shrink):
            raise ValueError("on_shrink: pattern='channel' changes parameter shapes under the optimizer at every "
                             "pruning step; pass on_shrink=lambda model: ... that rebuilds it (and the LR scheduler)")
        if self.config.nm is not None and not isinstance(schedule, OneShot):
            raise ValueError(f"schedule: pattern {self.config.pattern!r} has a fixed sparsity; use OneShot")
        if isinstance(schedule, Polynomial) and schedule.initial_sparsity > self.config.sparsity:
            raise ValueError(f"schedule: initial_sparsity {schedule.initial_sparsity} exceeds the target "
                             f"sparsity {self.config.sparsity}; pruned weights never come back")
        if self.config.method in ("gradient", "taylor") and data is None:
            raise ValueError(f"data: method={self.config.method!r} needs data (an iterable of batches)")
        self.schedule = schedule
        self.data = data
        self.filter_fn = filter_fn
        self.on_shrink = on_shrink
        self.example_input = example_input
        self.leaf_modules = tuple(leaf_modules)
        self.step_count = 0
        self.current_sparsity = 0.0
        self.last_result: Dict[str, Any] = {}
        self._applied: Optional[tuple] = None

    def step(self) -> bool:
        """Advance one training step; returns True when this step pruned."""
        t = self.step_count
        self.step_count += 1
        if not self.schedule.is_pruning_step(t):
            return False
        target = self.schedule.sparsity_at(t, self.config.sparsity)
        # Every distinct final target (global + per_layer) mapped through the schedule at t: when none
        # moved since the last pass (e.g. an iterative schedule that reached its target), re-scoring
        # would cost a pass (a data pass for gradient/taylor) and change nothing.
        applied = tuple(self.schedule.sparsity_at(t, f) for f in self._finals())
        if applied == self._applied:
            return False
        if self.config.pattern == "channel":
            # Channels already removed are gone from the model: each step removes the share of what is
            # left that brings the total (as a fraction of the original) to the scheduled value.
            done = self.current_sparsity
            self.last_result = prune_step(
                self.model, self.config, self.data, self.filter_fn,
                sparsity_of=lambda final: max(0.0, 1.0 - (1.0 - self.schedule.sparsity_at(t, final)) / (1.0 - done)),
                example_input=self.example_input, leaf_modules=self.leaf_modules)
            self._applied = applied
            self.current_sparsity = max(self.current_sparsity, target)
            if self.last_result:
                self.on_shrink(self.model)
            return True
        self._applied = applied
        self.last_result = prune_step(self.model, self.config, self.data, self.filter_fn,
                                      sparsity_of=lambda final: self.schedule.sparsity_at(t, final))
        self.current_sparsity = max(self.current_sparsity, target)
        return True

    def _finals(self):
        return (self.config.sparsity,) + tuple(s for _, s in self.config.per_layer)

    def remove(self) -> nn.Module:
        """Bake the masks into the weights (after the last fine-tuning step)."""
        return remove_masks(self.model)

    def state_dict(self) -> Dict[str, Any]:
        # Masks live in the model's state_dict; this is only the position in the schedule.
        return {"step_count": self.step_count, "current_sparsity": self.current_sparsity}

    def load_state_dict(self, state: Dict[str, Any]) -> None:
        self.step_count = int(state["step_count"])
        self.current_sparsity = float(state["current_sparsity"])
        self._applied = None  # the first pruning step after a resume re-applies (a no-op on masks)

    def __repr__(self) -> str:
        return (f"Pruner(step={self.step_count}, current_sparsity={self.current_sparsity:.3f}, "
                f"target={self.config.sparsity:.3f}, schedule={self.schedule!r})")
