"""``PruneConfig``: every pruning choice in one validated, serialisable value."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, Union

from nnslim.pruning.schedule import OneShot, Schedule, schedule_from_dict

METHODS = ("magnitude", "gradient", "taylor", "random", "bn_scale")
TARGETS = ("channels", "macs", "params")
SCOPES = ("global", "layer")
CHANNEL_NORMS = ("l1", "l2")

# Fields that to_dict() writes; loss_fn is code, not data, so it never round-trips.
_SERIAL_FIELDS = ("sparsity", "method", "scope", "pattern", "channel_norm", "schedule", "skip",
                  "per_layer", "num_batches", "seed", "strict", "protect", "round_to", "target", "target_speedup",
                  "hidden_size", "speed_of")


def parse_nm(pattern: str) -> Optional[Tuple[int, int]]:
    """``"2:4"`` -> ``(2, 4)``; ``None`` for the named patterns. Raises on a malformed N:M."""
    if pattern in ("unstructured", "channel"):
        return None
    from nnslim.pruning.blocks import parse_block

    if parse_block(pattern) is not None:
        return None
    parts = pattern.split(":") if isinstance(pattern, str) else []
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(
            f"pattern: expected 'unstructured', 'channel', an 'N:M' string such as '2:4' or a block 'RxC' such as "
            f"'4x1', got {pattern!r}")
    n, m = int(parts[0]), int(parts[1])
    if not 1 <= n < m:
        raise ValueError(f"pattern {pattern!r}: N:M needs 1 <= N < M (N kept out of every M weights)")
    return n, m


def _check_fraction(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a number in [0, 1), got {value!r}")
    if not 0.0 <= value < 1.0:
        # 1.0 would delete a whole layer (or every weight), which is never what a user means.
        raise ValueError(f"{name}: must be in [0, 1), got {value!r}")
    return float(value)


@dataclass(frozen=True)
class PruneConfig:
    """What to prune, by which score, in which shape.

    sparsity      fraction of weights (unstructured), or of output channels (``pattern="channel"``)
                  to remove. For ``"N:M"`` it is implied (1 - N/M) and may be left ``None``.
    method        "magnitude" |w|, "gradient" |dL/dw|, "taylor" |w * dL/dw|, "random" (a baseline).
    scope         "global": one threshold across all selected layers; "layer": each layer alone.
    pattern       "unstructured", "N:M" (e.g. "2:4", along each layer's input dimension), "channel", or a
                  block "RxC" (e.g. "4x1": R consecutive output rows x C consecutive inputs of the weight
                  viewed as out x in*kh*kw; ragged edges form partial blocks).
    channel_norm  "l1" or "l2": how a channel's (or a block's) scores are combined.
    schedule      None / "oneshot", or a schedule object (used by ``Pruner``).
    skip          layer names or glob patterns to leave dense; "@first" / "@last" name the first / last
                  selected layer in registration order.
    per_layer     {name or glob: sparsity}; the first matching pattern wins, an exact name beats globs.
                  Such layers get their own threshold even under global scope.
    loss_fn       ``loss_fn(model, batch) -> scalar`` for gradient/taylor; default cross-entropy on
                  (inputs, targets) batches. Not serialised by ``to_dict``.
    num_batches   how many batches gradient/taylor scores accumulate over (None: the whole iterable).
    seed          for method="random".
    strict        N:M only: a layer whose input dimension is not divisible by M raises ValueError
                  (naming it) instead of being skipped with a warning, as NVIDIA ASP and torch.ao skip it.

    Channel pruning (``pattern="channel"``) only:
    protect       layers whose output channels stay, as names / globs / "@first_conv" / "@last"; by default
                  the stem conv and the classifier. Everything coupled to them stays too.
    round_to      kept channels per coupled group are a multiple of this (8 / 16 suit the int8 kernels).
    target        what ``sparsity`` is a fraction of: "channels" (coupled channels removed), "macs" or
                  "params" (removed from the whole model; needs ``example_input`` for "macs").
    target_speedup  prune until the model, timed on this machine after each step, is this much faster
                  (e.g. 2.0); ``sparsity`` is then the most it may remove. Needs ``example_input``.
    speed_of      what target_speedup times: "fp32" (the pruned float model) or "int8_static" (each candidate
                  converted with nnslim.quantize, calibrated on the example input: the deployed model).
    hidden_size   also prune channel groups that pass through a LayerNorm / RMSNorm (a transformer's
                  hidden size: embeddings, norms and every residual stream together). Off by default:
                  the norm's statistics change with its width, so fine-tune afterwards.
    method="bn_scale" ranks channels by their BatchNorm |gamma| (network slimming), magnitude elsewhere.
    """

    sparsity: Optional[float] = None
    method: str = "magnitude"
    scope: str = "global"
    pattern: str = "unstructured"
    channel_norm: str = "l1"
    schedule: Union[None, str, Schedule] = None
    skip: Tuple[str, ...] = ()
    per_layer: Tuple[Tuple[str, float], ...] = ()
    loss_fn: Optional[Callable] = field(default=None, compare=False)
    num_batches: Optional[int] = None
    seed: int = 0
    strict: bool = False
    protect: Tuple[str, ...] = ("@first_conv", "@last")
    round_to: int = 1
    target: str = "channels"
    target_speedup: Optional[float] = None
    hidden_size: bool = False
    speed_of: str = "fp32"

    def __post_init__(self):
        nm = parse_nm(self.pattern)
        if self.sparsity is None and self.target_speedup is not None and self.pattern == "channel":
            object.__setattr__(self, "sparsity", 0.9)  # the cap a speed target may prune up to
        if self.sparsity is None:
            if nm is None:
                raise ValueError(f"sparsity: required for pattern={self.pattern!r} (a number in [0, 1))")
            object.__setattr__(self, "sparsity", 1.0 - nm[0] / nm[1])
        else:
            object.__setattr__(self, "sparsity", _check_fraction("sparsity", self.sparsity))
            if nm is not None and not math.isclose(self.sparsity, 1.0 - nm[0] / nm[1], abs_tol=1e-9):
                raise ValueError(f"sparsity: pattern {self.pattern!r} implies sparsity {1 - nm[0] / nm[1]:g}, "
                                 f"got {self.sparsity:g}; leave sparsity unset for N:M")
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {self.method!r}")
        if self.scope not in SCOPES:
            raise ValueError(f"scope: expected one of {SCOPES}, got {self.scope!r}")
        if self.channel_norm not in CHANNEL_NORMS:
            raise ValueError(f"channel_norm: expected one of {CHANNEL_NORMS}, got {self.channel_norm!r}")
        if self.schedule is not None and self.schedule != "oneshot" and not isinstance(self.schedule, Schedule):
            raise ValueError(f"schedule: expected None, 'oneshot' or a schedule object "
                             f"(nnslim.pruning.schedules), got {self.schedule!r}")
        object.__setattr__(self, "skip", self._normalise_skip(self.skip))
        object.__setattr__(self, "per_layer", self._normalise_per_layer(self.per_layer, nm))
        if self.loss_fn is not None and not callable(self.loss_fn):
            raise ValueError(f"loss_fn: expected a callable loss_fn(model, batch), got {self.loss_fn!r}")
        if self.num_batches is not None and (isinstance(self.num_batches, bool)
                                             or not isinstance(self.num_batches, int) or self.num_batches < 1):
            raise ValueError(f"num_batches: expected None or an int >= 1, got {self.num_batches!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed: expected an int, got {self.seed!r}")
        if not isinstance(self.strict, bool):
            raise ValueError(f"strict: expected True or False, got {self.strict!r}")
        object.__setattr__(self, "protect", self._normalise_skip(self.protect, "protect"))
        if isinstance(self.round_to, bool) or not isinstance(self.round_to, int) or self.round_to < 1:
            raise ValueError(f"round_to: expected an int >= 1, got {self.round_to!r}")
        if self.target not in TARGETS:
            raise ValueError(f"target: expected one of {TARGETS}, got {self.target!r}")
        if self.target_speedup is not None and (isinstance(self.target_speedup, bool) or not isinstance(
                self.target_speedup, (int, float)) or not math.isfinite(self.target_speedup)
                or self.target_speedup <= 1.0):
            raise ValueError(f"target_speedup: expected None or a number > 1 (e.g. 2.0), got {self.target_speedup!r}")
        if self.speed_of not in ("fp32", "int8_static"):
            raise ValueError(f"speed_of: expected 'fp32' or 'int8_static', got {self.speed_of!r}")
        if self.speed_of != "fp32" and self.target_speedup is None:
            raise ValueError("speed_of: applies to target_speedup, which is not set")
        if not isinstance(self.hidden_size, bool):
            raise ValueError(f"hidden_size: expected True or False, got {self.hidden_size!r}")
        channel_only = {"round_to": self.round_to != 1, "target": self.target != "channels",
                        "target_speedup": self.target_speedup is not None, "hidden_size": self.hidden_size,
                        "method='bn_scale'": self.method == "bn_scale"}
        used = [k for k, v in channel_only.items() if v]
        if used and self.pattern != "channel":
            raise ValueError(f"{used[0]}: applies to pattern='channel' only, got pattern={self.pattern!r}")
        if self.target_speedup is not None and self.target != "channels":
            raise ValueError("target_speedup: measures the model itself; leave target='channels'")

    @staticmethod
    def _normalise_skip(skip, field_name: str = "skip") -> Tuple[str, ...]:
        # A bare string would otherwise be iterated character by character.
        items = (skip,) if isinstance(skip, str) else tuple(skip or ())
        for s in items:
            if not isinstance(s, str) or not s:
                raise ValueError(f"{field_name}: expected layer names or glob patterns (non-empty str), got {s!r}")
        return items

    @staticmethod
    def _normalise_per_layer(per_layer, nm) -> Tuple[Tuple[str, float], ...]:
        # Stored as pairs so the frozen config stays hashable and keeps the user's order.
        pairs = tuple(per_layer.items()) if isinstance(per_layer, Mapping) else tuple(per_layer or ())
        out = []
        for item in pairs:
            if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and item[0]):
                raise ValueError(f"per_layer: expected a mapping of name/glob -> sparsity, got entry {item!r}")
            out.append((item[0], _check_fraction(f"per_layer[{item[0]!r}]", item[1])))
        if out and nm is not None:
            raise ValueError("per_layer: N:M patterns fix the sparsity of every layer; use skip instead")
        return tuple(out)

    @property
    def nm(self) -> Optional[Tuple[int, int]]:
        return parse_nm(self.pattern)

    @property
    def block(self) -> Optional[Tuple[int, int]]:
        """(R, C) for a block pattern "RxC", else None."""
        from nnslim.pruning.blocks import parse_block

        return parse_block(self.pattern)

    @property
    def is_oneshot(self) -> bool:
        return self.schedule is None or self.schedule == "oneshot" or isinstance(self.schedule, OneShot)

    def replace(self, **changes) -> "PruneConfig":
        values = {k: getattr(self, k) for k in _SERIAL_FIELDS}
        values["loss_fn"] = self.loss_fn
        values.update(changes)
        return PruneConfig(**values)

    def to_dict(self) -> Dict[str, Any]:
        """Plain JSON/YAML-friendly dict; ``loss_fn`` is left out (pass it again to ``from_dict``)."""
        d = {k: getattr(self, k) for k in _SERIAL_FIELDS}
        d["skip"] = list(self.skip)
        d["protect"] = list(self.protect)
        d["per_layer"] = dict(self.per_layer)
        if isinstance(self.schedule, Schedule):
            d["schedule"] = self.schedule.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], loss_fn: Optional[Callable] = None) -> "PruneConfig":
        if not isinstance(d, Mapping):
            raise ValueError(f"from_dict: expected a mapping, got {type(d).__name__}")
        unknown = sorted(set(d) - set(_SERIAL_FIELDS) - {"loss_fn"})
        if unknown:
            raise ValueError(f"from_dict: unknown PruneConfig fields {unknown}")
        values = dict(d)
        if isinstance(values.get("schedule"), Mapping):
            values["schedule"] = schedule_from_dict(values["schedule"])
        if loss_fn is not None:
            values["loss_fn"] = loss_fn
        return cls(**values)
