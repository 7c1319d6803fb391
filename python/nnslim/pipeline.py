"""nnslim.compress: recipes that chain the public stages (distill -> prune -> quantize / sparsify)
and measure the result. Every stage calls the same function a user would call alone."""
from __future__ import annotations

import copy
import dataclasses
import importlib
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.fx
import torch.nn as nn

from nnslim.distillation import DistillConfig, distill, inherit_weights
from nnslim.pruning import PruneConfig, prune
from nnslim.quantization import QATConfig, convert, prepare_qat, quantize
from nnslim.report import (CompressionReport, file_bytes, interleaved_latency, layer_stats, per_layer_latency)


def import_object(spec: str):
    """"pkg.module:attr" -> the object; clear errors for bad specs."""
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError(f"expected 'package.module:name', got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as exc:
        raise ImportError(f"cannot import module {mod_name!r} (from {spec!r}): {exc}") from exc
    try:
        return getattr(mod, attr)
    except AttributeError:
        raise ImportError(f"module {mod_name!r} has no attribute {attr!r}") from None


@dataclass
class _Context:
    train_data: Any
    val_data: Any
    eval_fn: Optional[Callable[[nn.Module], float]]
    calibration: List[torch.Tensor]
    sparsify_decisions: List[Any] = field(default_factory=list)

    def metric(self, model: nn.Module) -> Optional[float]:
        if self.eval_fn is not None:
            return float(self.eval_fn(model))
        if self.val_data is None:
            return None
        from nnslim.datasets import accuracy

        return accuracy(model, self.val_data)

    def need_train(self, stage: str):
        if self.train_data is None:
            raise ValueError(f"{stage}: needs train_data")
        return self.train_data


@dataclass(frozen=True)
class DistillStage:
    """Distil the current model into a smaller student (``student``: a module factory or
    "pkg.module:factory"); ``inherit=True`` starts the student from the teacher's most important weights."""

    student: Union[Callable[[], nn.Module], str, None] = None
    inherit: bool = True
    config: DistillConfig = DistillConfig(epochs=5)

    def run(self, model: nn.Module, ctx: _Context) -> Tuple[nn.Module, str]:
        factory = import_object(self.student) if isinstance(self.student, str) else self.student
        student = factory() if factory is not None else copy.deepcopy(model)
        notes = ""
        if self.inherit and factory is not None:
            rep = inherit_weights(model, student)
            notes = f"inherited {len(rep)} layers; "
        student, hist = distill(model, student, ctx.need_train("distill"), self.config, val_data=ctx.val_data,
                                eval_fn=ctx.eval_fn)
        return student, notes + f"{self.config.epochs} epochs, T={self.config.temperature}, alpha={self.config.alpha}"


def _polynomial(i: int, n: int, final: float) -> float:
    """Zhu & Gupta cubic ramp from 0 to ``final`` over n steps."""
    return final * (1.0 - (1.0 - i / n) ** 3)


@dataclass(frozen=True)
class PruneStage:
    """Prune, then recover with knowledge distillation from the pre-pruning model. ``gradual_steps``
    > 1 ramps the sparsity cubically (Zhu & Gupta), fine-tuning after each step."""

    config: PruneConfig = PruneConfig(sparsity=0.8)
    finetune: Optional[DistillConfig] = DistillConfig(epochs=3)
    gradual_steps: int = 1

    def __post_init__(self):
        if self.gradual_steps < 1:
            raise ValueError(f"gradual_steps: expected >= 1, got {self.gradual_steps}")

    def run(self, model: nn.Module, ctx: _Context) -> Tuple[nn.Module, str]:
        teacher = copy.deepcopy(model).eval()
        data = ctx.train_data if self.config.method in ("gradient", "taylor") else None
        steps = self.gradual_steps
        channel = self.config.pattern == "channel"
        example = ctx.calibration[0][:1] if channel and ctx.calibration else None
        done = 0.0
        for i in range(1, steps + 1):
            target = _polynomial(i, steps, self.config.sparsity) if steps > 1 else self.config.sparsity
            # Removed channels are gone: each channel step takes its share of what is left.
            step = 1.0 - (1.0 - target) / (1.0 - done) if channel else target
            prune(model, dataclasses.replace(self.config, sparsity=max(0.0, step)), data=data, example_input=example)
            done = target
            if self.finetune is not None:
                ft = dataclasses.replace(self.finetune, epochs=max(1, self.finetune.epochs // steps))
                model, _ = distill(teacher, model, ctx.need_train("prune finetune"), ft, val_data=ctx.val_data,
                                   eval_fn=ctx.eval_fn)
        return model, f"{self.config.pattern} {self.config.method} to {self.config.sparsity:.0%} ({steps} step(s))"


@dataclass(frozen=True)
class QuantizeStage:
    """Post-training quantization: a preset name, a QuantConfig, or a per-layer mapping."""

    config: Any = "int8_static"

    def run(self, model: nn.Module, ctx: _Context) -> Tuple[nn.Module, str]:
        from nnslim.pruning import remove_masks

        remove_masks(model)
        model.eval()
        model = quantize(model, self.config, calibration_data=ctx.calibration)
        desc = f"{self.config if isinstance(self.config, str) else type(self.config).__name__}"
        rows = getattr(model, "meta", {}).get("nnslim_report") if isinstance(model, torch.fx.GraphModule) else None
        if rows:  # whole-graph conversion: say how much of the graph runs int8 (nnslim.graph_report has the rest)
            int8 = sum(r["runs"] == "int8" for r in rows)
            islands = sorted({r["why"] for r in rows if r["runs"] == "fp32" and "no int8 kernel" in r["why"]})
            desc += f" (graph: {int8} of {len(rows)} nodes int8" + (f"; fp32: {', '.join(islands)}" if islands else "") + ")"
        return model, desc


@dataclass(frozen=True)
class QATStage:
    """Quantization-aware fine-tuning with distillation from the float model, then conversion."""

    config: QATConfig = QATConfig()
    finetune: DistillConfig = DistillConfig(epochs=2)

    def run(self, model: nn.Module, ctx: _Context) -> Tuple[nn.Module, str]:
        from nnslim.pruning import remove_masks

        teacher = copy.deepcopy(model).eval()
        remove_masks(model)
        prepare_qat(model, self.config)
        model, _ = distill(teacher, model, ctx.need_train("qat"), self.finetune, val_data=ctx.val_data,
                           eval_fn=ctx.eval_fn)
        return convert(model), f"QAT {self.config.weights}, {self.finetune.epochs} epochs"


@dataclass(frozen=True)
class SparsifyStage:
    """Pruned Linear / Conv2d -> sparse drop-ins where the sparse kernel is faster. ``dtype="int8"``
    (after a quantize stage, or on fp32 layers) picks per linear layer the fastest of dense int8,
    block-sparse int8 and fp32 CSR, timed on a calibration batch when there is one."""

    min_sparsity: float = 0.5
    dtype: str = "float32"

    def run(self, model: nn.Module, ctx: _Context) -> Tuple[nn.Module, str]:
        from nnslim.sparsify import sparsify

        example = ctx.calibration[0] if self.dtype == "int8" and ctx.calibration else None
        decisions: List[Any] = []
        model = sparsify(model, min_sparsity=self.min_sparsity, dtype=self.dtype, example_input=example,
                         decisions=decisions)
        ctx.sparsify_decisions.extend(decisions)
        counts: Dict[str, int] = {}
        for d in decisions:
            counts[d.form] = counts.get(d.form, 0) + 1
        forms = ", ".join(f"{n} {form.replace('_', ' ')}" for form, n in sorted(counts.items()))
        return model, f"{len(decisions)} layer(s): {forms}" if decisions else "no candidate layers"


STAGES = {"distill": DistillStage, "prune": PruneStage, "quantize": QuantizeStage, "qat": QATStage,
          "sparsify": SparsifyStage}


def _stage_from_dict(d: Dict[str, Any]):
    if not isinstance(d, dict) or len(d) != 1:
        raise ValueError(f"recipe: each stage must be a one-key mapping like {{'prune': {{...}}}}, got {d!r}")
    (kind, args), = d.items()
    if kind not in STAGES:
        raise ValueError(f"recipe: unknown stage {kind!r}; expected one of {sorted(STAGES)}")
    args = dict(args or {})
    # quantize's dict config stays as is: a QuantConfig dict form or a per-layer mapping.
    builders = {"config": {"distill": DistillConfig.from_dict, "prune": PruneConfig.from_dict,
                           "qat": lambda d: QATConfig(**d)}.get(kind),
                "finetune": DistillConfig.from_dict}
    for key, build in builders.items():
        if build is not None and isinstance(args.get(key), dict):
            args[key] = build(args[key])
    try:
        return STAGES[kind](**args)
    except TypeError as exc:
        raise ValueError(f"recipe: bad arguments for stage {kind!r}: {exc}") from exc


def parse_recipe(recipe) -> List[Any]:
    """A list of stage objects, a dict {"stages": [...]}, a list of one-key dicts, or a YAML path / string."""
    if isinstance(recipe, str):
        import os

        import yaml

        text = open(recipe).read() if os.path.exists(recipe) else recipe
        recipe = yaml.safe_load(text)
    if isinstance(recipe, dict):
        recipe = recipe.get("stages")
    if not isinstance(recipe, (list, tuple)) or not recipe:
        raise ValueError("recipe: expected a non-empty list of stages")
    return [s if hasattr(s, "run") else _stage_from_dict(s) for s in recipe]


def _calibration_batches(data, n: int = 8) -> List[torch.Tensor]:
    from nnslim.quantization.calibrate import batch_input

    out = []
    if data is None:
        return out
    for batch in data:
        out.append(batch_input(batch))
        if len(out) >= n:
            break
    return out


def sparsity_sweep(model: nn.Module, sparsities: Sequence[float] = (0.5, 0.7, 0.8, 0.9, 0.95),
                   val_data=None, eval_fn: Optional[Callable[[nn.Module], float]] = None,
                   config: PruneConfig = PruneConfig(sparsity=0.5), train_data=None,
                   finetune: Optional[DistillConfig] = None) -> List[Dict[str, float]]:
    """Metric of ``model`` pruned to each sparsity (on copies; optionally KD-fine-tuned from the
    original): the accuracy-vs-sparsity curve of a CompressionReport."""
    ctx = _Context(train_data, val_data, eval_fn, [])
    if val_data is None and eval_fn is None:
        raise ValueError("sparsity_sweep: needs val_data or eval_fn")
    teacher = copy.deepcopy(model).eval()
    out = []
    for s in sparsities:
        m = copy.deepcopy(model)
        prune(m, dataclasses.replace(config, sparsity=float(s)),
              data=train_data if config.method in ("gradient", "taylor") else None)
        if finetune is not None:
            m, _ = distill(teacher, m, ctx.need_train("sparsity_sweep finetune"), finetune, val_data=val_data,
                           eval_fn=eval_fn)
        out.append({"sparsity": float(s), "metric": ctx.metric(m.eval())})
    return out


def compress(model: nn.Module, recipe, train_data=None, val_data=None,
             eval_fn: Optional[Callable[[nn.Module], float]] = None, example_input: Optional[torch.Tensor] = None,
             measure_layers: bool = True, sweep: Optional[Sequence[float]] = None) -> Tuple[nn.Module, CompressionReport]:
    """Runs the recipe's stages on a copy of ``model``; returns ``(compressed_model, report)``.

    ``sweep``: sparsities at which to also measure the original model's metric after one-shot
    magnitude pruning (no fine-tuning), stored in ``report.sweep`` and plotted by ``report.plot``."""
    from nnslim import cpu_info

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    stages = parse_recipe(recipe)
    ctx = _Context(train_data, val_data, eval_fn, _calibration_batches(train_data))
    if example_input is None and val_data is not None:
        example_input = _calibration_batches(val_data, 1)[0]
    original = copy.deepcopy(model).eval()
    report = CompressionReport(metric_name="eval_fn" if eval_fn else "accuracy %",
                               kernels=cpu_info().get("selected"))
    report.metric_before = ctx.metric(original)
    report.layers_before = layer_stats(original)
    if sweep:
        report.sweep = sparsity_sweep(original, sweep, val_data=val_data, eval_fn=eval_fn)
    current = copy.deepcopy(model)
    for stage in stages:
        t = time.perf_counter()
        current, notes = stage.run(current, ctx)
        report.stages.append({"stage": type(stage).__name__, "seconds": time.perf_counter() - t,
                              "metric": ctx.metric(current), "notes": notes})
    current.eval()
    report.metric_after = ctx.metric(current)
    report.layers_after = layer_stats(current)
    for d in ctx.sparsify_decisions:
        if d.name in report.layers_after:
            report.layers_after[d.name].sparsify = f"{d.form}: {d.reason}"
    report.file_bytes_before, report.file_bytes_after = file_bytes(original), file_bytes(current)
    if example_input is not None:
        tb, ta = interleaved_latency(original, current, example_input)
        report.latency_ms_before, report.latency_ms_after = tb * 1e3, ta * 1e3
        if measure_layers:
            lb, la = per_layer_latency(original, example_input), per_layer_latency(current, example_input)
            for name, stats in report.layers_after.items():
                stats.latency_us_before = lb.get(name)
                stats.latency_us_after = la.get(name)
    return current, report
