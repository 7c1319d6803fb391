"""lower: runs a converted GraphModule from a flat plan of its nodes instead of its generated code.

The generated code reaches every submodule through a chain of nn.Module.__getattr__ calls
(getattr(getattr(self.features, "3").conv, "2")) and calls it through nn.Module.__call__; at batch
1 on an int8 MobileNet that Python costs ~3 us a node, 0.15-0.2 ms an image (measured, AMX Xeon).
The plan resolves each submodule through the _modules dicts on every call (so a swapped submodule is
always the one that runs) and calls ``forward`` directly unless the module or torch has hooks
registered, freeing each value after its last use as the generated code does. A module with an
``_int8_call`` (nnslim's int8 nodes) is handed its int8 edges as numpy arrays and may return one:
between two int8 nodes the kernels' arrays pass as they are, and become tensors only where anything
else reads them (other nodes, hooks, the output). A squeeze-excite block's four nodes (global pool,
fc1, fc2, the gate multiply: consecutive, each feeding only the next) are one step, handed to
nnslim.nn.squeeze_excite, which runs them in one kernel call, or one by one where it declines (other
modules swapped in, hooks); each run of Int8Conv2d nodes (every output but the last read only inside
the run) goes to nnslim.nn.conv_chain the same way. torch.compile / dynamo
tracing, TorchScript and keyword inputs run the generated code; gm.recompile() (after editing the
graph) drops the plan and puts the generated code back."""
from __future__ import annotations

import copy
from typing import Any, List, Tuple

import numpy as np
import torch
import torch.fx as fx
import torch.nn.modules.module as _module_mod

from nnslim.nn import _torch_ops
from nnslim.nn.conv_chain import conv_chain_int8_call
from nnslim.nn.int8_conv2d import Int8Conv2d
from nnslim.nn.squeeze_excite import squeeze_excite_int8_call

_IN, _CONST_ATTR, _MODULE, _FUNCTION, _METHOD, _SQUEEZE_EXCITE, _CONV_CHAIN = range(7)
_REQUIRED = object()  # an input without a default


def _torch_hooks() -> bool:
    return bool(_module_mod._global_forward_hooks or _module_mod._global_forward_pre_hooks or
                _module_mod._global_backward_hooks or _module_mod._global_backward_pre_hooks)


def _hooked(mod: torch.nn.Module) -> bool:
    return bool(mod._forward_hooks or mod._forward_pre_hooks or mod._backward_hooks or mod._backward_pre_hooks)


def _squeeze_excite_steps(nodes: List[fx.Node], steps: list, slot: dict) -> list:
    """steps with each squeeze-excite block's four module steps made one: nodes pool(x) -> fc1 -> fc2
    -> mul(x, fc2), consecutive, each of the first three read only by the next, no keyword arguments.
    Which modules they are is decided when the step runs (a submodule may be swapped after lowering)."""
    out, i = [], 0
    while i < len(steps):
        step = steps[i]
        run = steps[i:i + 4]
        if len(run) == 4 and all(s[0] == _MODULE for s in run) and _is_squeeze_excite([nodes[s[1]] for s in run]):
            pool = nodes[run[0][1]]
            frees = tuple(sorted({f for s in run for f in s[6]}))
            out.append((_SQUEEZE_EXCITE, run[3][1], tuple(s[2] for s in run), slot[pool.args[0]], None, tuple(run),
                        frees))
            i += 4
            continue
        out.append(step)
        i += 1
    return out


def _conv_chain_steps(gm: fx.GraphModule, nodes: List[fx.Node], steps: list, slot: dict) -> list:
    """steps with each run of two or more Int8Conv2d steps made one: each conv reads the previous
    one's output (and at most a residual: the run's input or an earlier conv's output), and every
    output but the last is read only inside the run. The types are those at lowering; the step checks
    them again when it runs."""
    def conv_step(step) -> bool:
        if step[0] != _MODULE or not step[3] or step[5] or not 1 <= len(step[4]) <= 2 or \
                not all(is_node for is_node, _ in step[4]):
            return False
        try:
            return type(gm.get_submodule(".".join(step[2]))) is Int8Conv2d
        except AttributeError:
            return False

    out, i = [], 0
    while i < len(steps):
        run = []  # (step, residual_from)
        j = i
        while j < len(steps) and conv_step(steps[j]):
            args = [v for _, v in steps[j][4]]
            if run and args[0] != run[-1][0][1]:
                break
            outs = [st[1] for st, _ in run]
            x_slot = steps[i][4][0][1]
            if len(args) == 1:
                r = -2
            elif args[1] == x_slot:
                r = -1
            elif args[1] in outs:
                r = outs.index(args[1])
            else:
                break
            run.append((steps[j], r))
            j += 1
        # Every output but the last read only inside the run: cut it where one escapes.
        while len(run) >= 2:
            inside = {nodes[st[1]] for st, _ in run}
            if all(set(nodes[st[1]].users) <= inside for st, _ in run[:-1]):
                break
            run.pop()
        if len(run) >= 2:
            subs = tuple(st for st, _ in run)
            frees = tuple(sorted({f for st in subs for f in st[6]}))
            out.append((_CONV_CHAIN, subs[-1][1], tuple(st[2] for st in subs), subs[0][4][0][1],
                        tuple(r for _, r in run), subs, frees))
            i += len(run)
            continue
        out.append(steps[i])
        i += 1
    return out


def _is_squeeze_excite(chain: List[fx.Node]) -> bool:
    pool, fc1, fc2, mul = chain
    if not all(n.op == "call_module" and not n.kwargs for n in chain) or len(pool.args) != 1 or \
            not isinstance(pool.args[0], fx.Node):
        return False
    x = pool.args[0]
    return fc1.args == (pool,) and fc2.args == (fc1,) and mul.args == (x, fc2) and \
        all(list(a.users) == [b] for a, b in ((pool, fc1), (fc1, fc2), (fc2, mul)))


def _resolve(root: torch.nn.Module, path: Tuple[str, ...]) -> torch.nn.Module:
    m = root
    for p in path:
        m = m._modules[p]
    return m


class _Plan:
    def __init__(self, gm: fx.GraphModule):
        nodes = list(gm.graph.nodes)
        slot = {n: i for i, n in enumerate(nodes)}
        self.size = len(nodes)
        self.steps: List[Tuple[Any, ...]] = []
        self.n_inputs = 0
        self.defaults: List[Tuple[str, Any]] = []  # per input: (name, default) or (name, _REQUIRED)
        last_use = {}
        for n in nodes:
            for a in n.all_input_nodes:
                last_use[a] = n
        frees = {}
        for a, user in last_use.items():
            frees.setdefault(user, []).append(slot[a])

        def flat(args):
            # Flat argument lists (the common case) become (is_node, slot_or_value) pairs; nested ones
            # (torch.cat([a, b])) are rebuilt by fx.node.map_arg on each call.
            if all(isinstance(a, fx.Node) or not isinstance(a, (tuple, list, dict)) for a in args):
                return True, tuple((True, slot[a]) if isinstance(a, fx.Node) else (False, a) for a in args)
            return False, args

        for n in nodes:
            if n.op == "placeholder":
                # An argument with a default (timm's ViT: forward(x, attn_mask=None)) holds it in args.
                self.defaults.append((n.target, n.args[0] if n.args else _REQUIRED))
                self.steps.append((_IN, slot[n], self.n_inputs))
                self.n_inputs += 1
            elif n.op == "get_attr":
                *mods, attr = n.target.split(".")
                self.steps.append((_CONST_ATTR, slot[n], tuple(mods), attr))
            elif n.op in ("call_module", "call_function", "call_method"):
                free = tuple(frees.get(n, ()))  # values whose last use is this node
                is_flat, args = flat(n.args)
                kwargs = dict(n.kwargs)
                if any(isinstance(v, (fx.Node, tuple, list, dict)) for v in kwargs.values()):
                    is_flat = False
                    args = n.args
                kind = {"call_module": _MODULE, "call_function": _FUNCTION, "call_method": _METHOD}[n.op]
                target = tuple(n.target.split(".")) if kind == _MODULE else n.target
                self.steps.append((kind, slot[n], target, is_flat, args, kwargs, free))
            elif n.op == "output":
                self.output = n.args[0]
        self.slot = slot
        self.steps = _conv_chain_steps(gm, nodes, _squeeze_excite_steps(nodes, self.steps, slot), slot)

    def run(self, gm: fx.GraphModule, inputs: tuple):
        if len(inputs) != self.n_inputs:
            inputs = self._with_defaults(inputs)
        env = [None] * self.size
        hooks = _torch_hooks()
        slot = self.slot
        for step in self.steps:
            kind = step[0]
            if kind == _IN:
                env[step[1]] = inputs[step[2]]
                continue
            if kind == _CONST_ATTR:
                env[step[1]] = getattr(_resolve(gm, step[2]), step[3])
                continue
            if kind == _SQUEEZE_EXCITE or kind == _CONV_CHAIN:  # several nodes, one kernel call
                _, out, targets, x_slot, residual_from, substeps, free = step
                y = NotImplemented
                if not hooks:
                    mods = [_resolve(gm, t) for t in targets]
                    if not any(map(_hooked, mods)):
                        x = env[x_slot]
                        if x.__class__ is torch.Tensor and x.dtype is torch.int8:
                            x = x.numpy()
                        y = squeeze_excite_int8_call(*mods, x) if kind == _SQUEEZE_EXCITE else \
                            conv_chain_int8_call(mods, residual_from, x)
                if y is NotImplemented:  # the nodes one by one
                    for sub in substeps:
                        self._run_step(gm, sub, env, hooks)
                    continue
                env[out] = y
                for i in free:
                    env[i] = None
                continue
            self._run_step(gm, step, env, hooks)
        return fx.node.map_arg(self.output, lambda a: _tensor(env[slot[a]]))

    def _with_defaults(self, inputs: tuple) -> tuple:
        missing = [name for name, d in self.defaults[len(inputs):] if d is _REQUIRED]
        if len(inputs) > self.n_inputs or missing:
            raise TypeError(f"forward() takes {self.n_inputs} inputs "
                            f"({', '.join(name for name, _ in self.defaults)}), got {len(inputs)}" +
                            (f"; missing {', '.join(missing)}" if missing else ""))
        return tuple(inputs) + tuple(d for _, d in self.defaults[len(inputs):])

    def _run_step(self, gm: fx.GraphModule, step, env: list, hooks: bool) -> None:
        """One module / function / method step: its value into env, then the values it last used out."""
        slot = self.slot
        kind, out, target, is_flat, args, kwargs, free = step
        if is_flat:
            vals = [env[v] if is_node else v for is_node, v in args]
        else:  # nested arguments: only modules' int8 hand-offs are arrays, never inside containers
            vals = fx.node.map_arg(args, lambda a: _tensor(env[slot[a]]))
            kwargs = fx.node.map_arg(kwargs, lambda a: _tensor(env[slot[a]]))
        if kind == _MODULE:
            mod = _resolve(gm, target)
            hooked = hooks or _hooked(mod)
            int8_call = None if hooked or kwargs else getattr(type(mod), "_int8_call", None)
            y = NotImplemented
            if int8_call is not None:
                # int8 edges between nnslim nodes travel as the kernels' numpy arrays: no
                # tensor <-> array wrapping or forward() checks per node (the kernel bindings check).
                y = int8_call(mod, *[v.numpy() if v.__class__ is torch.Tensor and v.dtype is torch.int8 else v
                                     for v in vals])
            if y is NotImplemented:
                vals = [_tensor(v) for v in vals]
                y = mod(*vals, **kwargs) if hooked else mod.forward(*vals, **kwargs)
            env[out] = y
        elif kind == _FUNCTION:
            env[out] = target(*[_tensor(v) for v in vals], **kwargs)
        else:
            vals = [_tensor(v) for v in vals]
            env[out] = getattr(vals[0], target)(*vals[1:], **kwargs)
        for i in free:
            env[i] = None


def _tensor(v):
    """A value as the graph's generated code would hold it: an int8 edge's numpy array as a tensor."""
    return torch.from_numpy(v) if v.__class__ is np.ndarray else v


def _lowered_forward(self, *args, **kwargs):
    cls = type(self)
    if kwargs or _torch_ops.compiling() or torch.jit.is_scripting():
        return cls._nnslim_fx_forward(self, *args, **kwargs)
    return cls._nnslim_plan.run(self, args)


def _lowered_reduce(self):
    # pickle / torch.save of the whole model. fx's GraphModule.__reduce__ recompiles, which puts the
    # generated forward back on the class: the model runs from a plan again afterwards. Its unpickling
    # re-traces the code into a new GraphModule whose meta (nnslim's graph record and report) starts
    # empty: the copy gets them back, and a plan of its own.
    # After gm.recompile() (a graph edit) the model runs its generated code, and so do both copies.
    lowered = type(self).forward is _lowered_forward
    fn, args = fx.GraphModule.__reduce__(self)
    if lowered:
        lower(self)
    return _unpickle_lowered, (fn, args, dict(self.meta), lowered)


def _unpickle_lowered(fn, args, meta, lowered=True):
    gm = fn(*args)
    gm.meta.update(meta)
    return lower(gm) if lowered else gm


def _lowered_deepcopy(self, memo):
    # fx's GraphModule.__deepcopy__ builds the copy on a class of its own, with the generated forward.
    res = fx.GraphModule.__deepcopy__(self, memo)
    for k, v in self.meta.items():
        res.meta.setdefault(k, copy.deepcopy(v, memo))
    return lower(res) if type(self).forward is _lowered_forward else res


def lower(gm: fx.GraphModule) -> fx.GraphModule:
    """Makes ``gm`` (a GraphModule whose class torch.fx made for it alone) run from the flat plan."""
    cls = type(gm)
    if cls is fx.GraphModule:  # a shared class: overriding forward would change every GraphModule
        return gm
    plan = _Plan(gm)
    if cls.forward is not _lowered_forward:
        cls._nnslim_fx_forward = cls.forward
    cls._nnslim_plan = plan
    cls.forward = _lowered_forward
    cls.__reduce__ = _lowered_reduce
    cls.__deepcopy__ = _lowered_deepcopy
    return gm
