"""Sparsity schedules: how the target sparsity grows with the training step.

A schedule knows only timing and shape; the final sparsity comes from ``PruneConfig.sparsity`` (or a
``per_layer`` override), so one schedule serves every layer. ``Pruner`` asks two things per step:
``is_pruning_step(t)`` and ``sparsity_at(t, final)``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Dict, Mapping

__all__ = ["Schedule", "OneShot", "Iterative", "Polynomial", "schedule_from_dict"]


def _int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return value


def _frac(name: str, value: Any, low_open: bool = False) -> float:
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)
    if not ok or not ((0.0 < value) if low_open else (0.0 <= value)) or value >= 1.0:
        raise ValueError(f"{name}: expected a number in {'(0' if low_open else '[0'}, 1), got {value!r}")
    return float(value)


class Schedule:
    kind: ClassVar[str] = ""

    def sparsity_at(self, step: int, final: float) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def is_pruning_step(self, step: int) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_dict(self) -> Dict[str, Any]:
        return {"kind": self.kind, **asdict(self)}


@dataclass(frozen=True)
class OneShot(Schedule):
    """Jump to the final sparsity at ``at_step`` (then fine-tune)."""

    kind: ClassVar[str] = "oneshot"
    at_step: int = 0

    def __post_init__(self):
        _int("at_step", self.at_step, 0)

    def sparsity_at(self, step: int, final: float) -> float:
        return final if step >= self.at_step else 0.0

    def is_pruning_step(self, step: int) -> bool:
        return step == self.at_step


@dataclass(frozen=True)
class Iterative(Schedule):
    """Prune ``amount`` more every ``every`` steps from ``begin_step`` until the final sparsity.

    ``relative=False`` adds ``amount`` sparsity points each time (0.1 -> 10%, 20%, ...);
    ``relative=True`` removes ``amount`` of the weights still alive (lottery-ticket style:
    1 - (1 - amount)^k after k rounds).
    """

    kind: ClassVar[str] = "iterative"
    amount: float = 0.1
    every: int = 100
    begin_step: int = 0
    relative: bool = False

    def __post_init__(self):
        _frac("amount", self.amount, low_open=True)
        _int("every", self.every, 1)
        _int("begin_step", self.begin_step, 0)
        if not isinstance(self.relative, bool):
            raise ValueError(f"relative: expected a bool, got {self.relative!r}")

    def _rounds(self, step: int) -> int:
        return 0 if step < self.begin_step else (step - self.begin_step) // self.every + 1

    def sparsity_at(self, step: int, final: float) -> float:
        k = self._rounds(step)
        s = 1.0 - (1.0 - self.amount) ** k if self.relative else k * self.amount
        return min(final, s)

    def is_pruning_step(self, step: int) -> bool:
        return step >= self.begin_step and (step - self.begin_step) % self.every == 0


@dataclass(frozen=True)
class Polynomial(Schedule):
    """Gradual pruning of Zhu & Gupta (2017), "To prune, or not to prune".

    s_t = s_f + (s_i - s_f) * (1 - (t - t0) / (n * dt)) ** power for t0 <= t <= t0 + n*dt, where
    t0 = ``begin_step``, n*dt = ``end_step - begin_step``, dt = ``frequency`` and power 3 is the
    paper's cubic: prune fast while redundancy is plentiful, slowly near the target.
    """

    kind: ClassVar[str] = "polynomial"
    end_step: int = 1000
    begin_step: int = 0
    frequency: int = 100
    initial_sparsity: float = 0.0
    power: float = 3.0

    def __post_init__(self):
        _int("begin_step", self.begin_step, 0)
        _int("end_step", self.end_step, 1)
        if self.end_step <= self.begin_step:
            raise ValueError(f"end_step: must be > begin_step ({self.begin_step}), got {self.end_step}")
        _int("frequency", self.frequency, 1)
        _frac("initial_sparsity", self.initial_sparsity)
        if isinstance(self.power, bool) or not isinstance(self.power, (int, float)) or not self.power > 0:
            raise ValueError(f"power: expected a number > 0, got {self.power!r}")

    def sparsity_at(self, step: int, final: float) -> float:
        if step < self.begin_step:
            return 0.0
        progress = min(1.0, (step - self.begin_step) / (self.end_step - self.begin_step))
        return final + (self.initial_sparsity - final) * (1.0 - progress) ** self.power

    def is_pruning_step(self, step: int) -> bool:
        if not self.begin_step <= step <= self.end_step:
            return False
        # The end step always prunes, so the final sparsity is reached even when dt does not divide n*dt.
        return (step - self.begin_step) % self.frequency == 0 or step == self.end_step


_KINDS = {cls.kind: cls for cls in (OneShot, Iterative, Polynomial)}


def schedule_from_dict(d: Mapping[str, Any]) -> Schedule:
    d = dict(d)
    kind = d.pop("kind", None)
    if kind not in _KINDS:
        raise ValueError(f"schedule: unknown kind {kind!r}; expected one of {sorted(_KINDS)}")
    try:
        return _KINDS[kind](**d)
    except TypeError as exc:
        raise ValueError(f"schedule {kind!r}: {exc}") from None
