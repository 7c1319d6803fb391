"""Structured channel pruning with a real shape shrink, on the graph layer's channel groups.

``plan_channels`` captures the model (nnslim.graph), propagates shapes with the example input and asks
``analyze_channels`` which channels are coupled (residual adds, cat / split, depthwise and grouped convs,
norms, flatten -> Linear, attention heads). Each coupled channel is one unit: it is scored over all of
its members, ranked, and removed from all of them at once by ``shrink``. Channels the analysis cannot
follow stay, with one warning naming the nodes: a wrong shape or a silently changed function is never
the price of a prunable layer.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

import torch
import torch.fx as fx
import torch.nn as nn

from nnslim.graph.capture import GraphCaptureError, capture, propagate_shapes
from nnslim.graph.channel_groups import ChannelGraph, Member, analyze_channels
from nnslim.pruning.masks import is_pruned

__all__ = ["PruningGraphError", "ChannelPlan", "plan_channels", "class_scores", "removal_order", "shrink"]

PRODUCER_KINDS = ("out", "gconv", "emb")


class PruningGraphError(ValueError):
    """The model's graph cannot be channel-pruned (untraceable, or a layer that must not change is masked)."""


@dataclass
class ChannelPlan:
    """The coupled channels of a model: ``roots[id]`` is the unit an id belongs to; ``prunable`` the units
    that may go; ``groups`` the units sharing the same producers (ranked together under scope='layer')."""

    graph: ChannelGraph
    roots: torch.Tensor
    prunable: List[int]
    groups: Dict[FrozenSet[str], List[int]]
    group_of: Dict[int, FrozenSet[str]]
    modules: Dict[str, nn.Module]
    notes: List[str]  # what could not be traced, and the nodes that froze channels nothing else kept

    @property
    def members(self) -> List[Member]:
        return self.graph.members


def _example_args(example_input) -> Tuple[tuple, dict]:
    if example_input is None:
        return (), {}
    if isinstance(example_input, dict):
        return (), dict(example_input)
    if isinstance(example_input, (tuple, list)):
        return tuple(example_input), {}
    if torch.is_tensor(example_input):
        return (example_input,), {}
    raise ValueError(f"example_input: expected a tensor, a tuple of positional arguments or a dict of keyword "
                     f"arguments, got {type(example_input).__name__}")


def _builtin_leaf(m: nn.Module) -> bool:
    return type(m).__module__.startswith("torch.nn.modules") and not isinstance(
        m, (nn.Sequential, nn.ModuleList, nn.ModuleDict))


def _pieces(model: nn.Module, leaf_types: tuple, prefix: str, out: List[Tuple[str, nn.Module, fx.GraphModule]],
            failed: List[str]) -> None:
    if prefix and _builtin_leaf(model):
        return  # a lone Linear / Conv2d has no channels of its own to follow
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gm = capture(model, leaf_types)
        for w in caught:
            failed.append("untraceable " + str(w.message).replace("nnslim.graph: ", ""))
        out.append((prefix, model, gm))
    except GraphCaptureError as exc:
        why = str(exc).split(": ", 1)[-1][:200]
        children = [(n, c) for n, c in model.named_children()
                    if any(True for _ in c.parameters()) and not _builtin_leaf(c)]
        if not children:
            failed.append(f"untraceable {prefix.rstrip('.') or type(model).__name__}: {why}")
            return
        failed.append(f"untraceable {prefix.rstrip('.') or type(model).__name__} ({why}; its parts are "
                      "analysed one by one)")
        for name, child in children:
            _pieces(child, leaf_types, f"{prefix}{name}.", out, failed)


def capture_for_pruning(model: nn.Module, example_input=None, leaf_modules: Sequence[type] = ()):
    """[(prefix, GraphModule)] covering the model: the whole model when it traces, else its traceable
    parts (channels entering or leaving a part stay); and the notes on what could not be traced."""
    from nnslim.pruning.attention import attention_leaf_types

    leaf_modules = tuple(leaf_modules)
    if not all(isinstance(t, type) and issubclass(t, nn.Module) for t in leaf_modules):
        raise ValueError(f"leaf_modules: expected nn.Module subclasses, got {leaf_modules!r}")
    pieces: List[Tuple[str, nn.Module, fx.GraphModule]] = []
    notes: List[str] = []
    leaf_types = leaf_modules + attention_leaf_types(model)
    _pieces(model, leaf_types, "", pieces, notes)
    args, kwargs = _example_args(example_input)
    if (args or kwargs) and (len(pieces) != 1 or pieces[0][0] != "" or notes):
        # fx could not see the whole model: one run with the example input records what it computes.
        from nnslim.graph.capture import _nnslim_leaf_types
        from nnslim.graph.record import record_graph

        try:
            recorded = record_graph(model, args, kwargs, leaf_types + _nnslim_leaf_types())
        except Exception as exc:  # noqa: BLE001 - the user's forward can raise anything
            raise ValueError(f"example_input: running the model on it failed ({type(exc).__name__}: {exc})") from exc
        return [("", recorded)], []
    if not pieces:
        raise PruningGraphError(
            f"pattern='channel': {type(model).__name__} cannot be traced by torch.fx ({'; '.join(notes)}). "
            f"Channel pruning needs the graph to know which layers consume each channel: pass "
            f"example_input=... (one run records the graph), leaf_modules=[...] (module types to keep as "
            f"single nodes; their channels stay), prune a traceable sub-module, or use pattern='unstructured' "
            f"/ 'N:M'")
    if args or kwargs:
        _propagate(model, pieces, args, kwargs)
    return [(p, gm) for p, _, gm in pieces], notes


def _propagate(model, pieces, args, kwargs) -> None:
    """Shape propagation per piece, with the inputs each piece sees when the whole model runs."""
    seen: Dict[int, Tuple[tuple, dict]] = {}
    hooks = []
    for i, (_, mod, _) in enumerate(pieces):
        def grab(m, a, kw, i=i):
            seen.setdefault(i, (a, kw))
        hooks.append(mod.register_forward_pre_hook(grab, with_kwargs=True))
    try:
        with torch.no_grad():
            model(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - the user's forward can raise anything
        raise ValueError(f"example_input: running the model on it failed ({type(exc).__name__}: {exc})") from exc
    finally:
        for h in hooks:
            h.remove()
    for i, (_, _, gm) in enumerate(pieces):
        if i not in seen:
            continue
        a, kw = seen[i]
        try:
            propagate_shapes(gm, *_placeholder_args(gm, a, kw))
        except Exception:  # noqa: BLE001 - without shapes the analysis is only more conservative
            pass


def _placeholder_args(gm: fx.GraphModule, args: tuple, kwargs: dict) -> list:
    names = [n for n in gm.graph.nodes if n.op == "placeholder"]
    out = list(args)[:len(names)]
    for n in names[len(out):]:
        if n.target in kwargs:
            out.append(kwargs[n.target])
        elif n.args:  # the default value the tracer recorded
            out.append(n.args[0])
        else:
            out.append(None)
    return out


def plan_channels(model: nn.Module, active: Iterable[str], example_input=None, leaf_modules: Sequence[type] = (),
                  hidden_size: bool = False, warn: bool = True) -> ChannelPlan:
    """Analyse ``model``; units whose producers are all in ``active`` (layer names) may be removed."""
    pieces, notes = capture_for_pruning(model, example_input, leaf_modules)
    graph = analyze_channels(pieces)
    modules = dict(model.named_modules())
    roots, frozen = graph.classes()
    active = set(active)
    # Units that stay for a stated reason (model output, protected or skipped layer, hidden size off).
    kept = torch.zeros(len(roots), dtype=torch.bool)
    silent = set(graph.frozen) - {i for _, ids in graph.reasons for i in ids.tolist()}
    if silent:
        kept[roots[torch.tensor(sorted(silent))]] = True
    producers: Dict[int, Set[str]] = {}
    for m in graph.members:
        for root in set(roots[m.ids].tolist()):
            if m.kind in PRODUCER_KINDS:
                producers.setdefault(root, set()).add(m.module)
                if m.module not in active:
                    kept[root] = True
            if m.kind == "ln" and not hidden_size:
                kept[root] = True  # a LayerNorm's statistics change with its width: opt-in only
    masked = sorted({m.module for m in graph.members if is_pruned(modules[m.module])})
    if masked:
        raise PruningGraphError(f"pattern='channel': {masked} carry weight masks; channel-prune before "
                                "unstructured/N:M pruning, or call remove_masks() first")
    blocked = frozen | kept
    prunable = [r for r in sorted(producers) if not blocked[r]]
    # Warn only about nodes that cost something: channels nothing else would have kept anyway.
    costly = {why for why, ids in graph.reasons if not bool(kept[roots[ids]].all())}
    notes = notes + [n for n in graph.unresolved if n in costly]
    groups: Dict[FrozenSet[str], List[int]] = {}
    group_of = {}
    for r in prunable:
        key = frozenset(producers[r])
        groups.setdefault(key, []).append(r)
        group_of[r] = key
    if warn and notes:
        warnings.warn("pattern='channel': the channels reaching these nodes stay (the analysis cannot tell how "
                      "they map them): " + "; ".join(notes[:12])
                      + (f"; and {len(notes) - 12} more" if len(notes) > 12 else ""),
                      UserWarning, stacklevel=4)
    return ChannelPlan(graph, roots, prunable, groups, group_of, modules, notes)


# -- importance ---------------------------------------------------------------------------------------

def _reduce(t: torch.Tensor, dim: int, norm: str) -> torch.Tensor:
    t = t.movedim(dim, 0).reshape(t.shape[dim], -1)
    return t.abs().sum(1) if norm == "l1" else t.pow(2).sum(1).sqrt()


def _member_vector(m: Member, module: nn.Module, weight_score: Optional[torch.Tensor], norm: str,
                   method: str) -> Optional[torch.Tensor]:
    """A channel's importance is what its producers write into it: their weight rows (or Taylor / gradient
    scores of them); with method='bn_scale' the |gamma| of the BatchNorms it passes through."""
    if method == "bn_scale":
        w = getattr(module, "weight", None) if m.kind == "bn" else None
        return None if w is None else w.detach().abs().float()
    if weight_score is None:
        return None
    if m.kind in ("out", "gconv"):
        return _reduce(weight_score, 0, norm)
    if m.kind == "emb":
        return _reduce(weight_score, 1, norm)
    return None


def class_scores(plan: ChannelPlan, weight_scores: Dict[str, torch.Tensor], norm: str,
                 method: str) -> Dict[int, float]:
    """One score per prunable unit: the mean over its members of each member's score normalised by that
    member's mean (raw norms grow with fan-in; normalised they compare across layers and groups). Units
    that method='bn_scale' cannot score (no BatchNorm) fall back to their producers' magnitude."""
    def accumulate(kind_method):
        total = torch.zeros(len(plan.roots), dtype=torch.float64)
        count = torch.zeros(len(plan.roots), dtype=torch.float64)
        for m in plan.members:
            vec = _member_vector(m, plan.modules[m.module], weight_scores.get(m.module), norm, kind_method)
            if vec is None or vec.numel() != len(m.ids):
                continue
            vec = vec.double().cpu()
            mean = vec.mean()
            vec = vec / mean if mean > 0 else vec
            r = plan.roots[m.ids]
            total.index_add_(0, r, vec)
            count.index_add_(0, r, torch.ones_like(vec))
        return total, count

    total, count = accumulate("magnitude")
    if method == "bn_scale":
        bn_total, bn_count = accumulate("bn_scale")
        use = bn_count > 0
        total, count = torch.where(use, bn_total, total), torch.where(use, bn_count, count)
    score = total / count.clamp_min(1)
    return {r: float(score[r]) for r in plan.prunable}


def removal_order(plan: ChannelPlan, scores: Dict[int, float], targets: Dict[FrozenSet[str], Optional[float]],
                  sparsity: float, scope: str, round_to: int) -> List[int]:
    """The units to remove, lowest score first, honouring per-group targets, scope and ``round_to``; every
    group keeps at least ``max(1, round_to)`` units (no layer is left with zero channels)."""
    removed: List[int] = []
    pool: List[int] = []
    floor = {}
    for key, units in plan.groups.items():
        floor[key] = min(len(units), max(1, round_to))
        frac = targets.get(key)
        if frac is None and scope == "global":
            pool.extend(units)
            continue
        frac = sparsity if frac is None else frac
        ranked = sorted(units, key=lambda r: (scores[r], r))
        k = min(int(round(frac * len(units))), len(units) - floor[key])
        removed.extend(ranked[:k])
    if pool:
        k = int(round(sparsity * len(pool)))
        alive = {key: len(plan.groups[key]) for key in plan.groups}
        for r in sorted(pool, key=lambda r: (scores[r], r)):
            if k <= 0:
                break
            key = plan.group_of[r]
            if alive[key] > floor[key]:
                alive[key] -= 1
                removed.append(r)
                k -= 1
    if round_to > 1:
        removed = _round_groups(plan, scores, removed, round_to)
    return removed


def _round_groups(plan: ChannelPlan, scores, removed: List[int], round_to: int) -> List[int]:
    """Give back the best removed units of each group until its kept count is a multiple of round_to."""
    by_group: Dict[FrozenSet[str], List[int]] = {}
    for r in removed:
        by_group.setdefault(plan.group_of[r], []).append(r)
    out = []
    for key, rs in by_group.items():
        total = len(plan.groups[key])
        kept = total - len(rs)
        want = min(total, int(math.ceil(kept / round_to)) * round_to)
        rs = sorted(rs, key=lambda r: (scores[r], r))
        out.extend(rs[: len(rs) - (want - kept)])
    return out


# -- shrink -------------------------------------------------------------------------------------------

def _replace(module: nn.Module, name: str, value: torch.Tensor) -> None:
    old = getattr(module, name, None)
    if old is None:
        return
    if isinstance(old, nn.Parameter):
        setattr(module, name, nn.Parameter(value.contiguous().clone(), requires_grad=old.requires_grad))
    else:
        setattr(module, name, value.contiguous().clone())


def _take(module: nn.Module, attr: str, dim: int, keep: torch.Tensor) -> None:
    t = getattr(module, attr, None)
    if t is not None:
        _replace(module, attr, t.index_select(dim, keep.to(t.device)))


@torch.no_grad()
def shrink(plan: ChannelPlan, removed: Iterable[int]) -> Dict[str, Tuple[int, int]]:
    """Remove the given units from every member; returns {producer: (channels before, after)}."""
    gone = torch.zeros(len(plan.roots), dtype=torch.bool)
    removed = list(removed)
    if not removed:
        return {}
    gone[torch.tensor(removed, dtype=torch.long)] = True
    by_module: Dict[str, List[Member]] = {}
    for m in plan.members:
        by_module.setdefault(m.module, []).append(m)
    changed = {}
    for name, members in by_module.items():
        module = plan.modules[name]
        keeps = {}
        for m in members:
            if m.kind not in keeps:
                keeps[m.kind] = (m, (~gone[plan.roots[m.ids]]).nonzero().flatten())
        if all(len(k) == len(m.ids) for m, k in keeps.values()):
            continue
        before = _width(module)
        _shrink_module(name, module, keeps)
        if any(kind in PRODUCER_KINDS for kind in keeps):
            changed[name] = (before, _width(module))
    return changed


def _width(module: nn.Module) -> int:
    for attr in ("out_channels", "out_features", "embedding_dim", "num_features", "num_channels"):
        if hasattr(module, attr):
            return int(getattr(module, attr))
    return 0


def _shrink_rows_cols(module: nn.Module, keeps, out_attr: str, in_attr: str) -> None:
    """Weight rows (+ bias) follow the "out" member, weight columns the "in" member."""
    if "out" in keeps:
        _, keep = keeps["out"]
        _take(module, "weight", 0, keep)
        _take(module, "bias", 0, keep)
        setattr(module, out_attr, len(keep))
    if "in" in keeps:
        _, keep = keeps["in"]
        _take(module, "weight", 1, keep)
        setattr(module, in_attr, len(keep))


def _shrink_module(name: str, module: nn.Module, keeps: Dict[str, Tuple[Member, torch.Tensor]]) -> None:
    if "heads" in keeps:
        m, keep = keeps["heads"]
        m.extra["shrink"](module, keep, {k: v for k, v in keeps.items() if k != "heads"})
        if len(keeps) == 1:
            return
        keeps = {k: v for k, v in keeps.items() if k != "heads"}
    if isinstance(module, nn.Conv2d):
        if "gconv" in keeps:
            m, keep = keeps["gconv"]
            opg = module.out_channels // module.groups
            ipg = module.in_channels // module.groups
            groups = len(keep) // opg
            if groups * opg != len(keep):
                raise AssertionError(f"{name}: grouped conv lost a partial group")  # the analysis unions groups
            _take(module, "weight", 0, keep)
            _take(module, "bias", 0, keep)
            module.out_channels, module.groups, module.in_channels = len(keep), groups, groups * ipg
            return
        _shrink_rows_cols(module, keeps, "out_channels", "in_channels")
        return
    if isinstance(module, nn.Linear):
        _shrink_rows_cols(module, keeps, "out_features", "in_features")
        return
    if isinstance(module, nn.Embedding):
        _, keep = keeps["emb"]
        _take(module, "weight", 1, keep)
        module.embedding_dim = len(keep)
        return
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        _, keep = keeps["bn"]
        for attr in ("weight", "bias", "running_mean", "running_var"):
            _take(module, attr, 0, keep)
        module.num_features = len(keep)
        return
    if isinstance(module, nn.LayerNorm):
        _, keep = keeps["ln"]
        _take(module, "weight", 0, keep)
        _take(module, "bias", 0, keep)
        module.normalized_shape = (len(keep),)
        return
    if isinstance(module, nn.GroupNorm):
        m, keep = keeps["gn"]
        per = m.extra["per_group"]
        _take(module, "weight", 0, keep)
        _take(module, "bias", 0, keep)
        module.num_channels, module.num_groups = len(keep), len(keep) // per
        return
    if "ln" in keeps:  # RMS-style norms (a weight over the last dim)
        _, keep = keeps["ln"]
        _take(module, "weight", 0, keep)
        _take(module, "bias", 0, keep)
        for attr in ("normalized_shape", "hidden_size", "dim"):
            if isinstance(getattr(module, attr, None), int):
                setattr(module, attr, len(keep))
            elif isinstance(getattr(module, attr, None), tuple) and len(getattr(module, attr)) == 1:
                setattr(module, attr, (len(keep),))
        return
    raise AssertionError(f"{name}: no shrink rule for {type(module).__name__}")
