"""Weight inheritance: start a narrower / shallower student from the teacher's most important units."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.conv import _ConvNd

_BATCHNORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)
_WEIGHTED = (nn.Linear, _ConvNd)
_LEAVES = _WEIGHTED + _BATCHNORM


@dataclass
class LayerMapping:
    """One teacher layer copied into one student layer."""

    teacher: str
    student: str
    kind: str
    teacher_shape: Tuple[int, ...]
    student_shape: Tuple[int, ...]
    kept_out: int
    kept_in: int
    out_indices: List[int] = field(repr=False, default_factory=list)


@dataclass
class InheritReport:
    """What :func:`inherit_weights` did: ``layers`` in module order, and the teacher layers it skipped
    (depth reduction). Iterating yields the :class:`LayerMapping` rows."""

    layers: List[LayerMapping]
    skipped_teacher_layers: List[str]

    def __iter__(self):
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.layers)

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        rows = [("teacher", "student", "kind", "teacher shape", "student shape", "kept out/in")]
        rows += [(m.teacher, m.student, m.kind, "x".join(map(str, m.teacher_shape)),
                  "x".join(map(str, m.student_shape)), f"{m.kept_out}/{m.kept_in}") for m in self.layers]
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        if self.skipped_teacher_layers:
            lines.append("skipped teacher layers: " + ", ".join(self.skipped_teacher_layers))
        return "\n".join(lines)


# ---- structural matching ----------------------------------------------------------------------

def _kind(m: nn.Module) -> str:
    return type(m).__name__


def _has_weights(m: nn.Module) -> bool:
    return isinstance(m, _LEAVES) or any(True for _ in m.parameters())


def _units(module: nn.Module, prefix: str) -> List[List[Tuple[str, nn.Module]]]:
    """Children that carry weights, grouped so a BatchNorm stays with the layer before it.

    Grouping makes depth reduction pick whole conv+bn units instead of splitting them.
    """
    units: List[List[Tuple[str, nn.Module]]] = []
    for name, child in module.named_children():
        if not _has_weights(child):
            continue
        full = f"{prefix}.{name}" if prefix else name
        if isinstance(child, _BATCHNORM) and units:
            units[-1].append((full, child))
        else:
            units.append([(full, child)])
    return units


def _signature(unit: Sequence[Tuple[str, nn.Module]]) -> Tuple[str, ...]:
    return tuple(_kind(m) for _, member in unit for m in member.modules() if isinstance(m, _LEAVES))


def _evenly_spaced(n_teacher: int, n_student: int) -> List[int]:
    if n_student == 1:
        return [0]
    # Round half up (not Python's banker's rounding) so the spacing is symmetric and predictable.
    return [int(i * (n_teacher - 1) / (n_student - 1) + 0.5) for i in range(n_student)]


def _leaf_names(unit) -> List[str]:
    return [f"{name}.{sub}" if sub else name for name, member in unit
            for sub, m in member.named_modules() if isinstance(m, _LEAVES)]


def _match(t: nn.Module, s: nn.Module, t_name: str, s_name: str, pairs: list, skipped: list) -> None:
    t_label, s_label = t_name or "<teacher>", s_name or "<student>"
    if isinstance(t, _LEAVES) or isinstance(s, _LEAVES):
        if type(t) is not type(s):
            raise ValueError(f"cannot match teacher layer {t_label} ({_kind(t)}) with student layer "
                             f"{s_label} ({_kind(s)}): layer types differ")
        pairs.append((t_name, t, s_name, s))
        return
    for label, m in ((t_label, t), (s_label, s)):
        if any(True for _ in m.parameters(recurse=False)):
            raise ValueError(f"{label} ({_kind(m)}) holds its own parameters; inherit_weights handles "
                             "Conv, Linear and BatchNorm layers (and containers of them)")
    t_units, s_units = _units(t, t_name), _units(s, s_name)
    if len(s_units) > len(t_units):
        raise ValueError(f"student {s_label} has {len(s_units)} weight blocks but teacher {t_label} has "
                         f"{len(t_units)}: the student must not be deeper than the teacher")
    if len(s_units) == len(t_units):
        chosen = list(range(len(t_units)))
    else:
        chosen = _evenly_spaced(len(t_units), len(s_units))
        for ti, su in zip(chosen, s_units):
            if _signature(t_units[ti]) != _signature(su):
                raise ValueError(
                    f"depth reduction in {s_label}: student block {su[0][0]} {_signature(su)} does not "
                    f"match the evenly spaced teacher block {t_units[ti][0][0]} {_signature(t_units[ti])}")
        for ti, unit in enumerate(t_units):
            if ti not in chosen:
                skipped.extend(_leaf_names(unit))
    for ti, s_unit in zip(chosen, s_units):
        t_unit = t_units[ti]
        if len(t_unit) != len(s_unit):
            raise ValueError(f"cannot match teacher block {[n for n, _ in t_unit]} with student block "
                             f"{[n for n, _ in s_unit]}: different numbers of layers")
        for (tn, tm), (sn, sm) in zip(t_unit, s_unit):
            _match(tm, sm, tn, sn, pairs, skipped)


# ---- channel selection and copying ------------------------------------------------------------

def _writable(module: nn.Module, name: str) -> Optional[torch.Tensor]:
    # torch.nn.utils.prune keeps the trainable tensor as <name>_orig and recomputes <name> from a mask.
    return getattr(module, name + "_orig", getattr(module, name, None))


def _check_conv(tn: str, t: _ConvNd, sn: str, s: _ConvNd) -> None:
    for attr in ("kernel_size", "stride", "padding", "dilation", "padding_mode", "transposed"):
        if getattr(t, attr) != getattr(s, attr):
            raise ValueError(f"cannot match teacher {tn} with student {sn}: {attr} differs "
                             f"({getattr(t, attr)} vs {getattr(s, attr)})")
    if t.transposed or t.groups != 1 or s.groups != 1:
        raise ValueError(f"{tn} -> {sn}: transposed and grouped convolutions are not supported")


class _Walk:
    """Carries the teacher channels kept by the previous layer into the next layer's input slice."""

    def __init__(self):
        self.keep: Optional[torch.Tensor] = None
        self.width = 0
        self.spatial = False
        self.name = ""

    def input_indices(self, tn: str, t: nn.Module, sn: str, s: nn.Module) -> torch.Tensor:
        t_in, s_in = t.weight.shape[1], s.weight.shape[1]
        device = t.weight.device
        if self.keep is None:
            if s_in != t_in:
                raise ValueError(f"the first layers take different inputs: teacher {tn} {t_in}, "
                                 f"student {sn} {s_in}")
            return torch.arange(t_in, device=device)
        if t_in == self.width:
            if s_in != len(self.keep):
                raise ValueError(f"student {sn} takes {s_in} inputs but the previous student layer "
                                 f"produces {len(self.keep)}")
            return self.keep
        if isinstance(t, nn.Linear) and self.spatial and t_in % self.width == 0:
            # Flatten before a Linear: each channel owns a contiguous group of H*W columns.
            group = t_in // self.width
            if s_in != len(self.keep) * group:
                raise ValueError(f"student {sn} takes {s_in} inputs; after flattening "
                                 f"{len(self.keep)} channels of spatial size {group} it should take "
                                 f"{len(self.keep) * group} (different input resolution?)")
            return (self.keep[:, None] * group + torch.arange(group, device=device)).flatten()
        raise ValueError(f"cannot tell which inputs of teacher {tn} ({t_in}) come from the "
                         f"{self.width} outputs of {self.name}; skipped or reshaping layers change the width")


def _copy(dst: Optional[torch.Tensor], src: Optional[torch.Tensor], where: str) -> None:
    if (dst is None) != (src is None):
        raise ValueError(f"{where}: one side has the tensor and the other does not (bias=True/False?)")
    if dst is not None:
        if dst.shape != src.shape:
            raise ValueError(f"{where}: shape {tuple(dst.shape)} cannot take {tuple(src.shape)}")
        dst.copy_(src)


@torch.no_grad()
def inherit_weights(teacher: nn.Module, student: nn.Module) -> InheritReport:
    """Initialise ``student`` in place from ``teacher``; both must share a layout up to width/depth.

    Layers (Conv, Linear, BatchNorm) are paired in module order, which is assumed to be the forward
    order. Each hidden Conv/Linear keeps the teacher's output units with the largest L1 filter norm
    (in original order) and the input slice that matches the units the previous layer kept; a Linear
    after a flatten takes the columns of the kept channels' spatial groups; BatchNorm follows its
    conv; the last Conv/Linear keeps all outputs. Where a container has fewer weight blocks in the
    student, evenly spaced teacher blocks (first and last included) are used. Residual additions
    and concatenations are not traced. Raises ``ValueError`` when the models cannot be matched.
    """
    if not isinstance(teacher, nn.Module) or not isinstance(student, nn.Module):
        raise ValueError("inherit_weights needs two nn.Module instances")
    pairs: list = []
    skipped: List[str] = []
    _match(teacher, student, "", "", pairs, skipped)
    weighted = [i for i, p in enumerate(pairs) if isinstance(p[1], _WEIGHTED)]
    if not weighted:
        raise ValueError("found no Conv or Linear layers to inherit")
    last = weighted[-1]
    walk, report = _Walk(), []
    for i, (tn, t, sn, s) in enumerate(pairs):
        tn, sn = tn or "<teacher>", sn or "<student>"
        if isinstance(t, _BATCHNORM):
            if walk.keep is None and s.num_features == t.num_features:
                # A BatchNorm on the raw input: nothing was narrowed yet, keep every feature.
                device = next(iter(list(t.parameters()) + list(t.buffers())), torch.empty(0)).device
                idx = torch.arange(t.num_features, device=device)
            elif walk.keep is None or t.num_features != walk.width:
                raise ValueError(f"BatchNorm {tn} does not follow a layer of width {t.num_features}")
            else:
                idx = walk.keep
            if s.num_features != len(idx):
                raise ValueError(f"student BatchNorm {sn} has {s.num_features} features, its conv "
                                 f"produces {len(idx)}")
            for name in ("weight", "bias", "running_mean", "running_var"):
                src = getattr(t, name)
                _copy(_writable(s, name), None if src is None else src[idx], f"{tn} -> {sn} {name}")
            if t.num_batches_tracked is not None and s.num_batches_tracked is not None:
                s.num_batches_tracked.copy_(t.num_batches_tracked)
            report.append(LayerMapping(tn, sn, _kind(t), (t.num_features,), (s.num_features,),
                                       len(idx), len(idx), idx.tolist()))
            continue
        if isinstance(t, _ConvNd):
            _check_conv(tn, t, sn, s)
        t_w, s_w = t.weight, s.weight
        if s_w.shape[0] > t_w.shape[0] or s_w.shape[1] > t_w.shape[1]:
            raise ValueError(f"student {sn} {tuple(s_w.shape)} is wider than teacher {tn} "
                             f"{tuple(t_w.shape)}; inherit_weights only narrows")
        in_idx = walk.input_indices(tn, t, sn, s)
        if i == last:
            if s_w.shape[0] != t_w.shape[0]:
                raise ValueError(f"the final layers must have the same outputs: teacher {tn} "
                                 f"{t_w.shape[0]}, student {sn} {s_w.shape[0]}")
            out_idx = torch.arange(t_w.shape[0], device=t_w.device)
        else:
            importance = t_w.detach().abs().flatten(1).sum(1)
            out_idx = torch.topk(importance, s_w.shape[0]).indices.sort().values
        _copy(_writable(s, "weight"), t_w[out_idx][:, in_idx], f"{tn} -> {sn} weight")
        _copy(_writable(s, "bias"), None if t.bias is None else t.bias[out_idx], f"{tn} -> {sn} bias")
        report.append(LayerMapping(tn, sn, _kind(t), tuple(t_w.shape), tuple(s_w.shape),
                                   len(out_idx), len(in_idx), out_idx.tolist()))
        walk.keep, walk.width, walk.name = out_idx, t_w.shape[0], tn
        walk.spatial = isinstance(t, _ConvNd)
    return InheritReport(report, skipped)
