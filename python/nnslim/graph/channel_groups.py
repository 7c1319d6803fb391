"""Channel dependency groups: which channels of which layers must be removed together.

Every output channel of a producer (Conv2d, Linear, Embedding) gets an integer id. Ids flow forward
through the captured graph along each tensor's channel dimension (a tensor of ids per position), and
ops that tie channels together merge their ids in a union-find:

  residual add / sub / mul (squeeze-excite), where two tensors meet position by position;
  depthwise and grouped convs (a whole group of in and out channels is one unit), GroupNorm groups;
  a module called twice (its weight columns see both inputs);
  cat / split / chunk only re-index (ids are concatenated or sliced), flatten repeats each id over
  the H*W features it owns, reshape / permute / transpose move the channel dimension when the mapping
  can be derived.

A *coupled channel* (one union-find class) is the unit of pruning: removing it removes that position
from every member (producer rows, consumer columns, BatchNorm / LayerNorm entries, grouped conv groups).
Ops whose effect on channels the analysis cannot derive, and the model's outputs, *freeze* the ids they
see: those channels are never removed (the caller warns with the node names).

The analysis only reads the model; ``shrink`` applies a decision.
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Set, Tuple

import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["Chan", "Member", "ChannelGraph", "analyze_channels", "register_channel_rule", "CHANNEL_RULES"]


@dataclass
class Chan:
    """The channel axis of one tensor: ``dim`` (negative, from the end), the id at each position along
    it, and the tensor's rank when known. ``unknown_block``: a flatten of unknown spatial size made each
    id stand for an unknown number of consecutive features (resolved by the consuming Linear)."""

    dim: int
    ids: torch.Tensor
    ndim: Optional[int] = None
    unknown_block: bool = False


@dataclass
class Member:
    """One module dimension that follows the channel ids: ``kind`` says which tensor dimension.

    out    weight dim 0 (+ bias) of Conv2d / Linear;     in   weight dim 1 of Conv2d (groups=1) / Linear
    gconv  grouped / depthwise Conv2d: out ids (weight dim 0), ``in_ids`` its input channels
    bn     BatchNorm params and running stats;  ln  LayerNorm over the last dim;  gn  GroupNorm
    emb    Embedding weight dim 1;  rule kinds registered by CHANNEL_RULES (attention heads)
    """

    module: str
    kind: str
    ids: torch.Tensor
    in_ids: Optional[torch.Tensor] = None
    extra: Dict[str, Any] = field(default_factory=dict)


class _UnionFind:
    def __init__(self):
        self.parent: List[int] = []

    def new(self, n: int) -> torch.Tensor:
        start = len(self.parent)
        self.parent.extend(range(start, start + n))
        return torch.arange(start, start + n)

    def find(self, i: int) -> int:
        p = self.parent
        root = i
        while p[root] != root:
            root = p[root]
        while p[i] != root:
            p[i], i = root, p[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)

    def union_all(self, ids: Sequence[int]) -> None:
        ids = list(ids)
        for j in ids[1:]:
            self.union(ids[0], j)

    def union_pairwise(self, a: torch.Tensor, b: torch.Tensor) -> None:
        for i, j in zip(a.tolist(), b.tolist()):
            self.union(i, j)

    def roots(self) -> torch.Tensor:
        return torch.tensor([self.find(i) for i in range(len(self.parent))], dtype=torch.long)


class ChannelGraph:
    """The result of the analysis: members, frozen ids with reasons, and the union-find."""

    def __init__(self):
        self.uf = _UnionFind()
        self.members: List[Member] = []
        self.frozen: Set[int] = set()
        self.reasons: List[Tuple[str, torch.Tensor]] = []   # (node description, ids it froze)
        self._module_out: Dict[str, torch.Tensor] = {}

    # -- building -----------------------------------------------------------------------------------
    def out_ids(self, name: str, n: int, kind: str = "out", **extra) -> torch.Tensor:
        """A module's output ids, allocated once however often it is called."""
        if name not in self._module_out:
            ids = self.uf.new(n)
            self._module_out[name] = ids
            self.members.append(Member(name, kind, ids, extra=extra))
        return self._module_out[name]

    def member(self, module: str, kind: str, ids: torch.Tensor, **extra) -> None:
        """Record that ``module``'s ``kind`` dimension follows ``ids``. A module called again sees another
        tensor through the same weights: position j of every call is one channel (merged)."""
        for m in self.members:
            if m.module == module and m.kind == kind:
                if len(m.ids) != len(ids):
                    self.freeze(Chan(-1, m.ids), f"{module} (called with inputs of different widths)")
                    self.freeze(Chan(-1, ids), None)
                else:
                    self.uf.union_pairwise(m.ids, ids)
                return
        self.members.append(Member(module, kind, ids, extra=extra))

    def freeze(self, chan: Optional[Chan], why: Optional[str]) -> None:
        if chan is None:
            return
        self.frozen.update(chan.ids.tolist())
        if why is not None:
            self.reasons.append((why, chan.ids))

    @property
    def unresolved(self) -> List[str]:
        """The nodes that froze channels, each once, in graph order."""
        return list(dict.fromkeys(why for why, _ in self.reasons))

    # -- reading ------------------------------------------------------------------------------------
    def classes(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """(root of every id, frozen flag per root id)."""
        roots = self.uf.roots()
        frozen = torch.zeros(len(roots), dtype=torch.bool)
        if self.frozen:
            frozen[roots[torch.tensor(sorted(self.frozen))]] = True
        return roots, frozen


# A rule takes (analysis, node, module) and returns the output Chan (a list of them for a tuple output,
# or None); it may add members (module names: analysis.prefix + ...) and freeze ids. Rules keyed by
# module type run before the built-in handling; analysis.chan(arg) reads an input's channels.
Rule = Callable[[Any, fx.Node, nn.Module], Any]
CHANNEL_RULES: Dict[type, Rule] = {}


def register_channel_rule(module_type: type, rule: Rule) -> None:
    """Teach the analysis a module it should treat as one node (e.g. an attention block)."""
    CHANNEL_RULES[module_type] = rule


_PASS_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.ELU, nn.Hardswish,
                 nn.Hardsigmoid, nn.Hardtanh, nn.Mish, nn.Softplus, nn.Identity, nn.Dropout, nn.AlphaDropout)
_SPATIAL_MODULES = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Dropout2d)
_PASS_FUNCS = {F.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, F.elu, F.hardswish, F.hardsigmoid, F.hardtanh,
               F.mish, F.softplus, F.dropout, F.sigmoid, F.tanh, torch.relu, torch.relu_, torch.sigmoid,
               torch.tanh, torch.clamp, F.relu_, torch.nn.functional.gelu, torch.neg, torch.abs, torch.exp}
_SPATIAL_FUNCS = {F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.dropout2d}
_PASS_METHODS = {"relu", "relu_", "sigmoid", "sigmoid_", "tanh", "tanh_", "clamp", "clamp_", "clamp_min",
                 "clamp_max", "contiguous", "detach", "clone", "float", "to", "type_as", "neg", "abs", "exp",
                 "gelu", "silu", "hardswish", "relu6"}
_BINARY = {operator.add, operator.sub, operator.mul, operator.truediv, operator.iadd, operator.isub,
           operator.imul, operator.itruediv, torch.add, torch.sub, torch.mul, torch.div, torch.maximum,
           torch.minimum, "add", "sub", "mul", "div", "add_", "sub_", "mul_", "div_", "maximum", "minimum"}
_CAT = {torch.cat, torch.concat}
_SPLIT = {torch.split, torch.chunk, torch.tensor_split, "split", "chunk", "tensor_split"}
_REDUCE = {torch.mean, torch.sum, torch.amax, "mean", "sum", "amax"}


def _shape(node: Any) -> Optional[torch.Size]:
    meta = getattr(node, "meta", {}).get("tensor_meta") if isinstance(node, fx.Node) else None
    return getattr(meta, "shape", None)


def _arg(node: fx.Node, i: int, name: str, default=None):
    if len(node.args) > i:
        return node.args[i]
    return node.kwargs.get(name, default)


def _describe(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        return f"{node.name} (module {node.target!r}, {type(gm.get_submodule(node.target)).__name__})"
    if node.op == "call_function":
        return f"{node.name} ({getattr(node.target, '__name__', node.target)}())"
    if node.op == "call_method":
        return f"{node.name} (.{node.target}())"
    return f"{node.name} ({node.op})"


def _pos_dim(chan: Chan, ndim: Optional[int]) -> Optional[int]:
    nd = ndim if ndim is not None else chan.ndim
    return None if nd is None else nd + chan.dim


def _norm_dim(d: int, ndim: Optional[int]) -> Optional[int]:
    """A user-given dim as a negative index; None when a positive one cannot be converted."""
    if d < 0:
        return d
    return None if ndim is None else d - ndim


class _Analysis:
    def __init__(self, gm: fx.GraphModule, graph: ChannelGraph, prefix: str):
        self.gm = gm
        self.g = graph
        self.prefix = prefix
        self.modules = dict(gm.named_modules())
        self.info: Dict[fx.Node, Any] = {}

    def run(self) -> ChannelGraph:
        for node in self.gm.graph.nodes:
            try:
                self.info[node] = self.visit(node)
            except _Freeze as f:
                for c in self.tracked_inputs(node):
                    self.g.freeze(c, f.why or self.prefix + _describe(node, self.gm))
                self.info[node] = None
            except Exception as exc:  # noqa: BLE001 - an argument form no rule expected: keep its channels
                for c in self.tracked_inputs(node):
                    self.g.freeze(c, f"{self.prefix}{_describe(node, self.gm)} ({type(exc).__name__}: {exc})")
                self.info[node] = None
        return self.g

    # -- helpers ------------------------------------------------------------------------------------
    def chan(self, a) -> Optional[Chan]:
        v = self.info.get(a) if isinstance(a, fx.Node) else None
        return v if isinstance(v, Chan) else None

    def tracked_inputs(self, node: fx.Node) -> List[Chan]:
        out = []
        for a in node.all_input_nodes:
            v = self.info.get(a)
            if isinstance(v, Chan):
                out.append(v)
            elif isinstance(v, list):
                out.extend(c for c in v if isinstance(c, Chan))
        return out

    def ndim(self, node) -> Optional[int]:
        s = _shape(node)
        if s is not None:
            return len(s)
        c = self.chan(node)
        return c.ndim if c is not None else None

    def passthrough(self, node: fx.Node, src) -> Optional[Chan]:
        c = self.chan(src)
        if c is None:
            return None
        return Chan(c.dim, c.ids, self.ndim(node) or c.ndim, c.unknown_block)

    # -- dispatch -----------------------------------------------------------------------------------
    def visit(self, node: fx.Node):
        if node.op in ("placeholder", "get_attr"):
            return None
        if node.op == "output":
            for c in self.tracked_inputs(node):
                self.g.freeze(c, None)
            return None
        ins = self.tracked_inputs(node)
        if node.op == "call_module":
            return self.visit_module(node, self.modules[node.target], ins)
        if not ins:
            return None  # shapes, constants, ops on untracked tensors
        return self.visit_call(node, node.target, ins)

    def visit_module(self, node: fx.Node, m: nn.Module, ins: List[Chan]):
        x = node.args[0] if node.args else None
        c = self.chan(x)
        rule = CHANNEL_RULES.get(type(m))
        if rule is not None:
            return rule(self, node, m)
        name = self.prefix + node.target
        extra = [t for t in ins if t is not c]
        if extra:  # e.g. conv(input=...) or a second tensor argument: not the input the rules follow
            for t in extra:
                self.g.freeze(t, self.prefix + _describe(node, self.gm))
        if type(m) is nn.Conv2d:
            return self.conv(node, name, m, c)
        if type(m) is nn.Linear:
            return self.linear(node, name, m, c)
        if type(m) is nn.Embedding:
            return Chan(-1, self.g.out_ids(name, m.embedding_dim, "emb"), self.ndim(node))
        if not ins:
            return None
        if len(ins) > 1 or c is None:
            raise _Freeze()
        if isinstance(m, _PASS_MODULES) or (isinstance(m, nn.PReLU) and m.num_parameters == 1) or (
                type(m).__module__ == "transformers.activations" and not list(m.parameters())):
            return self.passthrough(node, x)
        if isinstance(m, _SPATIAL_MODULES):
            return self.spatial(node, x, c)
        if type(m) in (nn.BatchNorm2d, nn.BatchNorm1d):
            return self.batchnorm(node, name, m, x, c)
        if type(m) is nn.LayerNorm:
            if len(m.normalized_shape) == 1 and c.dim == -1 and m.normalized_shape[0] == len(c.ids):
                self.g.member(name, "ln", c.ids)
                return self.passthrough(node, x)
            raise _Freeze()
        if type(m) is nn.GroupNorm:
            if _pos_dim(c, self.ndim(x)) == 1 and m.num_channels == len(c.ids):
                per = m.num_channels // m.num_groups
                for j in range(m.num_groups):
                    self.g.uf.union_all(c.ids[j * per:(j + 1) * per].tolist())
                self.g.member(name, "gn", c.ids, per_group=per)
                return self.passthrough(node, x)
            raise _Freeze()
        if type(m) is nn.Flatten:
            return self.flatten(node, x, c, m.start_dim, m.end_dim)
        raise _Freeze()

    def conv(self, node, name, m: nn.Conv2d, c: Optional[Chan]) -> Chan:
        nd = 4
        if m.groups == 1:
            out = self.g.out_ids(name, m.out_channels)
            if c is not None:
                if _pos_dim(c, self.ndim(node.args[0])) == 1 and len(c.ids) == m.in_channels:
                    self.g.member(name, "in", c.ids)
                else:
                    self.g.freeze(c, self.prefix + _describe(node, self.gm))
            return Chan(-3, out, nd)
        out = self.g.out_ids(name, m.out_channels, "gconv", groups=m.groups)
        mem = next(mm for mm in self.g.members if mm.module == name and mm.kind == "gconv")
        opg, ipg = m.out_channels // m.groups, m.in_channels // m.groups
        if c is None or _pos_dim(c, self.ndim(node.args[0])) != 1 or len(c.ids) != m.in_channels:
            # The input channels cannot follow a removed group: keep every group.
            self.g.freeze(Chan(-3, out), None)
            self.g.freeze(c, self.prefix + _describe(node, self.gm) if c is not None else None)
            return Chan(-3, out, nd)
        for j in range(m.groups):
            self.g.uf.union_all(c.ids[j * ipg:(j + 1) * ipg].tolist() + out[j * opg:(j + 1) * opg].tolist())
        if mem.in_ids is None:
            mem.in_ids = c.ids
        else:  # called again: the same weights read both inputs
            self.g.uf.union_pairwise(mem.in_ids, c.ids)
        return Chan(-3, out, nd)

    def linear(self, node, name, m: nn.Linear, c: Optional[Chan]) -> Chan:
        out = self.g.out_ids(name, m.out_features)
        nd = self.ndim(node)
        if c is not None:
            ids = c.ids
            if c.unknown_block and c.dim == -1 and len(ids) and m.in_features % len(ids) == 0:
                ids = ids.repeat_interleave(m.in_features // len(ids))
            if c.dim == -1 and len(ids) == m.in_features:
                self.g.member(name, "in", ids)
            else:
                self.g.freeze(c, self.prefix + _describe(node, self.gm))
        return Chan(-1, out, nd)

    def batchnorm(self, node, name, m, x, c: Chan) -> Chan:
        if _pos_dim(c, self.ndim(x)) == 1 and m.num_features == len(c.ids):
            self.g.member(name, "bn", c.ids)
            return self.passthrough(node, x)
        raise _Freeze()

    def spatial(self, node, x, c: Chan) -> Chan:
        if _pos_dim(c, self.ndim(x)) == 1:
            return self.passthrough(node, x)
        raise _Freeze()

    def flatten(self, node, x, c: Chan, start: int, end: int) -> Optional[Chan]:
        nd = self.ndim(x)
        pd = _pos_dim(c, nd)
        shape = _shape(x)
        if nd is None or pd is None:
            if start == 1 and end == -1 and c.dim == -3:  # the classic N,C,H,W -> N,C*H*W
                return Chan(-1, c.ids, 2, unknown_block=True)
            raise _Freeze()
        s, e = start % nd, end % nd
        if pd < s or pd > e:  # channel dim untouched: it moves by the dims merged before it
            new_pd = pd if pd < s else pd - (e - s)
            return Chan(new_pd - (nd - (e - s)), c.ids, nd - (e - s))
        if pd == s:
            if shape is None:
                if e == nd - 1:
                    return Chan(-1, c.ids, nd - (e - s), unknown_block=True)
                raise _Freeze()
            block = 1
            for d in range(s + 1, e + 1):
                block *= shape[d]
            new_nd = nd - (e - s)
            return Chan(s - new_nd, c.ids.repeat_interleave(block), new_nd)
        raise _Freeze()

    def visit_call(self, node: fx.Node, target, ins: List[Chan]):
        fn = target
        is_method = node.op == "call_method"
        x = node.args[0] if node.args else None
        c = self.chan(x)
        if fn is getattr:
            if node.args[1] in ("shape", "dtype", "device", "ndim", "is_cuda", "requires_grad"):
                return None
            raise _Freeze()  # .T, .mT, .data ... : a tensor the rules do not map
        if fn in ("size", "dim"):
            return None
        if fn is operator.getitem and isinstance(self.info.get(x), list):
            idx = node.args[1]
            if isinstance(idx, int):
                return self.info[x][idx]
            raise _Freeze()  # a slice of the pieces: where they go is not followed
        if fn is operator.getitem and c is not None and len(ins) == 1:
            return self.index(node, x, c, node.args[1])
        if (fn in _PASS_FUNCS or (is_method and fn in _PASS_METHODS and fn not in _BINARY)) and c is not None \
                and len(ins) == 1:
            if not self.others_broadcast(node, x, c):
                raise _Freeze()  # e.g. clamp(x, min=per_channel_tensor): that tensor would not shrink
            return self.passthrough(node, x)
        if fn in _SPATIAL_FUNCS and c is not None and len(ins) == 1:
            return self.spatial(node, x, c)
        if fn in _BINARY:
            return self.binary(node, ins)
        if fn in _CAT:
            return self.cat(node)
        if fn in _SPLIT and c is not None:
            return self.split(node, c, fn)
        if fn in (torch.flatten, "flatten") and c is not None:
            return self.flatten(node, x, c, _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1))
        if fn in ("view", "reshape", torch.reshape) and c is not None:
            return self.reshape(node, x, c)
        if fn in ("permute", torch.permute) and c is not None:
            dims = node.args[1:] if is_method else node.args[1]
            if is_method and len(dims) == 1 and isinstance(dims[0], (tuple, list)):
                dims = dims[0]
            return self.permute(node, x, c, list(dims))
        if fn in ("transpose", torch.transpose) and c is not None:
            return self.transpose(node, x, c, _arg(node, 1, "dim0"), _arg(node, 2, "dim1"))
        if fn in _REDUCE and c is not None and len(ins) == 1:
            return self.reduce(node, x, c)
        raise _Freeze()

    def others_broadcast(self, node: fx.Node, x, c: Chan) -> bool:
        """Every tensor argument besides ``x`` is size 1 (or absent) along the channel dim."""
        for a in list(node.args[1:]) + list(node.kwargs.values()):
            if isinstance(a, fx.Node) and a is not x and not _is_scalar_node(a):
                s = _shape(a)
                if s is None or (-c.dim <= len(s) and s[len(s) + c.dim] != 1):
                    return False
        return True

    def binary(self, node: fx.Node, ins: List[Chan]) -> Optional[Chan]:
        tensors = [a for a in list(node.args) + list(node.kwargs.values()) if isinstance(a, fx.Node)]
        tracked = [self.chan(a) for a in tensors if self.chan(a) is not None]
        if not tracked:
            raise _Freeze()
        nd_out = self.ndim(node)
        ref = tracked[0]
        pinned = False
        for a in tensors:
            ca = self.chan(a)
            if ca is None:
                # An untracked tensor is fine where it broadcasts over the channel dim (size 1 / missing);
                # one with the same channel extent (a learned position embedding, a constant) pins them.
                s = _shape(a)
                if s is None:
                    raise _Freeze()
                if -ref.dim <= len(s) and s[len(s) + ref.dim] != 1:
                    if s[len(s) + ref.dim] != len(ref.ids):
                        raise _Freeze()
                    pinned = True
                continue
            if ca.dim != ref.dim or len(ca.ids) != len(ref.ids) or ca.unknown_block != ref.unknown_block:
                raise _Freeze()
        for ca in tracked[1:]:
            self.g.uf.union_pairwise(ref.ids, ca.ids)
        if pinned:
            self.g.freeze(ref, self.prefix + _describe(node, self.gm) + " with a tensor that is not a layer output")
        return Chan(ref.dim, ref.ids, nd_out or ref.ndim, ref.unknown_block)

    def cat(self, node: fx.Node) -> Optional[Chan]:
        tensors = _arg(node, 0, "tensors")
        dim = _arg(node, 1, "dim", 0)
        chans = [self.chan(t) for t in tensors]
        nd = self.ndim(node) or next((ch.ndim for ch in chans if ch is not None and ch.ndim), None)
        d = _norm_dim(dim, nd)
        known = [ch for ch in chans if ch is not None]
        if d is None or any(ch.unknown_block for ch in known):
            raise _Freeze()
        if all(ch is not None and ch.dim == d for ch in chans):
            return Chan(d, torch.cat([ch.ids for ch in chans]), nd)
        if known and all(ch.dim == d for ch in known):
            # Untracked pieces get fresh ids that never move (their size from shape propagation).
            pieces = []
            for t, ch in zip(tensors, chans):
                if ch is not None:
                    pieces.append(ch.ids)
                    continue
                s = _shape(t)
                if s is None:
                    raise _Freeze()
                fresh = self.g.uf.new(s[d])
                self.g.frozen.update(fresh.tolist())
                pieces.append(fresh)
            return Chan(d, torch.cat(pieces), nd)
        if known and all(ch.dim != d and ch.dim == known[0].dim and len(ch.ids) == len(known[0].ids)
                         for ch in known):
            for ch in known[1:]:  # concatenated along another dim: the channel positions meet
                self.g.uf.union_pairwise(known[0].ids, ch.ids)
            if len(known) < len(chans):  # e.g. a learned class token: its channels cannot follow
                self.g.freeze(known[0], self.prefix + _describe(node, self.gm) + " with a tensor that is not a layer output")
            return Chan(known[0].dim, known[0].ids, nd)
        raise _Freeze()

    def split(self, node: fx.Node, c: Chan, fn) -> List[Optional[Chan]]:
        nd = self.ndim(node.args[0])
        is_chunk = fn in (torch.chunk, "chunk")
        dim = _arg(node, 2, "dim", 0)
        d = _norm_dim(dim, nd)
        arg = node.args[1] if len(node.args) > 1 else node.kwargs.get(
            "chunks" if is_chunk else "split_size_or_sections", node.kwargs.get("split_size"))
        if d is None or c.unknown_block or not isinstance(arg, (int, list, tuple)):
            raise _Freeze()
        if d != c.dim:  # split along another dim: every piece carries all the channels
            pieces = [u for u in node.users if u.target is operator.getitem and isinstance(u.args[1], int)]
            k = max((u.args[1] for u in pieces), default=-1) + 1
            return [Chan(c.dim, c.ids, nd) for _ in range(max(k, arg if is_chunk else 0))]
        n = len(c.ids)
        if not is_chunk or not isinstance(arg, int) or arg < 1 or n % arg:
            # Explicit sizes are constants in the user's code: after a shrink they would cut elsewhere.
            raise _Freeze()
        size = n // arg
        pieces = [c.ids[i * size:(i + 1) * size] for i in range(arg)]
        for p in pieces[1:]:  # chunk(k) re-cuts in k equal parts: each part must lose the same positions
            self.g.uf.union_pairwise(pieces[0], p)
        return [Chan(c.dim, p, nd) for p in pieces]

    def reshape(self, node: fx.Node, x, c: Chan) -> Optional[Chan]:
        out = self._reshape(node, x, c)
        sizes = node.args[1:] if node.op == "call_method" else node.args[1:2]
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = sizes[0]
        e = out.ndim + out.dim if out.ndim is not None else None
        if (not isinstance(self.gm, fx.GraphModule) or e is None or e >= len(sizes)
                or not isinstance(sizes[e], int) or sizes[e] == -1):
            return out
        # view(-1, 16 * 5 * 5): the channel count is a literal that a shrink would not update.
        raise _Freeze()

    def _reshape(self, node: fx.Node, x, c: Chan) -> Optional[Chan]:
        s_in, s_out = _shape(x), _shape(node)
        if s_in is None or s_out is None:
            # x.view(x.size(0), -1) / x.reshape(B, -1): the classic flatten, without shapes.
            args = node.args[1:]
            if len(args) == 2 and args[1] == -1 and c.dim == -3:
                return Chan(-1, c.ids, 2, unknown_block=True)
            raise _Freeze()
        pd = len(s_in) + c.dim
        prefix = 1
        for d in range(pd):
            prefix *= s_in[d]
        acc = 1
        for e, size in enumerate(s_out):
            if acc == prefix:
                if size == s_in[pd]:
                    return Chan(e - len(s_out), c.ids, len(s_out))
                rest, k = s_in[pd], pd + 1
                while rest < size and k < len(s_in):  # channel merged with the dims after it
                    rest *= s_in[k]
                    k += 1
                if rest == size:
                    return Chan(e - len(s_out), c.ids.repeat_interleave(size // s_in[pd]), len(s_out))
                # no match here; size-1 dims (a batch of one) can make the same prefix appear again
            acc *= size
            if acc > prefix:
                break
        raise _Freeze()

    def index(self, node, x, c: Chan, idx) -> Chan:
        """x[..., :, 0] style indexing that leaves the channel dim whole: the channels move with it."""
        nd = self.ndim(x)
        items = list(idx) if isinstance(idx, tuple) else [idx]
        if nd is None or c.unknown_block or not all(
                i is None or i is Ellipsis or isinstance(i, (int, slice)) for i in items):
            raise _Freeze()
        if Ellipsis in items:
            e = items.index(Ellipsis)
            fill = nd - sum(1 for i in items if i is not None and i is not Ellipsis)
            items = items[:e] + [slice(None)] * fill + items[e + 1:]
        items += [slice(None)] * (nd - sum(1 for i in items if i is not None))
        pd, src, out_pos, new_pd = nd + c.dim, 0, 0, None
        for i in items:
            if i is None:
                out_pos += 1
                continue
            if src == pd:
                if i != slice(None):
                    raise _Freeze()
                new_pd = out_pos
            if not isinstance(i, int):
                out_pos += 1
            src += 1
        return Chan(new_pd - out_pos, c.ids, out_pos)

    def permute(self, node, x, c: Chan, dims: List[int]) -> Chan:
        nd = len(dims)
        pd = nd + c.dim
        new = [d % nd for d in dims].index(pd)
        return Chan(new - nd, c.ids, nd)

    def transpose(self, node, x, c: Chan, a, b) -> Chan:
        if not isinstance(a, int) or not isinstance(b, int):
            raise _Freeze()
        nd = self.ndim(x)
        if nd is None and (a < 0) != (b < 0):
            raise _Freeze()
        a_, b_ = (_norm_dim(a, nd), _norm_dim(b, nd))
        if a_ is None or b_ is None:
            raise _Freeze()
        d = b_ if c.dim == a_ else a_ if c.dim == b_ else c.dim
        return Chan(d, c.ids, nd)

    def reduce(self, node, x, c: Chan) -> Optional[Chan]:
        dims = _arg(node, 1, "dim", None)
        keep = _arg(node, 2, "keepdim", False)
        nd = self.ndim(x)
        if dims is None or nd is None:
            raise _Freeze()
        dims = [dims] if isinstance(dims, int) else list(dims)
        dims = [d % nd for d in dims]
        pd = nd + c.dim
        if pd in dims:
            raise _Freeze()
        if keep:
            return Chan(c.dim, c.ids, nd)
        new_nd = nd - len(dims)
        new_pd = pd - sum(1 for d in dims if d < pd)
        return Chan(new_pd - new_nd, c.ids, new_nd)


def _is_scalar_node(a: fx.Node) -> bool:
    s = _shape(a)
    return s is not None and len(s) == 0


class _Freeze(Exception):
    def __init__(self, why: Optional[str] = None):
        super().__init__(why)
        self.why = why


def analyze_channels(pieces: Sequence[Tuple[str, fx.GraphModule]]) -> ChannelGraph:
    """Channel groups of captured (and, for reshapes, shape-propagated) GraphModules: the whole model as
    ``[("", gm)]``, or the traceable parts of a model whose own forward cannot be traced, each with its
    module-name prefix (their inputs are not followed and their outputs stay)."""
    graph = ChannelGraph()
    for prefix, gm in pieces:
        _Analysis(gm, graph, prefix).run()
    return graph
