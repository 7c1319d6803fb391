"""Channel rules for attention blocks and RMS-style norms, so that heads prune as units.

Attention is not element-wise in its projections' output channels: q and k meet in a dot product over
each head's dims, and the context comes out head by head in v's layout. Tracing into it would show
views, transposes and matmuls that the generic analysis must refuse. Instead the block stays one graph
node and a rule says what it does: the hidden input feeds q / k / v (their weight columns follow it),
and each head (with grouped-query attention: each key/value head with the query heads that share it) is
one unit across q, k, v and the output projection's columns. The HF modules read the head count from
the tensor (``view(..., -1, head_dim)``), so removing whole heads needs only the projections shrunk and
the head-count attributes updated.

Recognised by structure, not by class name, so BERT / RoBERTa / ViT (``query/key/value``,
``attention_head_size``) and Llama / Mistral / Qwen (``q_proj/k_proj/v_proj/o_proj``, ``head_dim``,
``num_key_value_groups``) share the two rules.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn as nn

from nnslim.graph.channel_groups import Chan, Member, register_channel_rule

__all__ = ["attention_leaf_types", "is_qkv_attention", "is_proj_attention", "is_rms_norm"]


def _linear(m: nn.Module, name: str) -> Optional[nn.Linear]:
    child = getattr(m, name, None)
    return child if type(child) is nn.Linear else None


def is_qkv_attention(m: nn.Module) -> bool:
    """BERT-style self attention: query / key / value Linears, head size attribute, no output projection."""
    return (all(_linear(m, n) is not None for n in ("query", "key", "value"))
            and isinstance(getattr(m, "attention_head_size", None), int))


def is_proj_attention(m: nn.Module) -> bool:
    """Llama-style attention: q / k / v / o projections inside, ``head_dim``."""
    return (all(_linear(m, n) is not None for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
            and isinstance(getattr(m, "head_dim", None), int))


def is_rms_norm(m: nn.Module) -> bool:
    w = getattr(m, "weight", None)
    return (type(m).__name__.endswith("RMSNorm") and isinstance(w, nn.Parameter) and w.dim() == 1
            and not list(m.children()))


def attention_leaf_types(model: nn.Module) -> Tuple[type, ...]:
    """The attention / norm classes present in ``model``; their rules are registered on the way."""
    found = []
    for m in model.modules():
        t = type(m)
        if t in found:
            continue
        if is_qkv_attention(m):
            register_channel_rule(t, _qkv_rule)
            found.append(t)
        elif is_proj_attention(m):
            register_channel_rule(t, _proj_rule)
            found.append(t)
        elif is_rms_norm(m):
            register_channel_rule(t, _rms_rule)
            found.append(t)
    return tuple(found)


def _hidden(analysis, node) -> Optional[Chan]:
    """The hidden-state input's channels; any other tracked input (cross-attention's encoder states, a
    mask built from activations) is frozen: the rules say only what q / k / v read from this one."""
    x = node.args[0] if node.args else node.kwargs.get("hidden_states")
    h = analysis.chan(x)
    for t in analysis.tracked_inputs(node):
        if t is not h:
            analysis.g.freeze(t, f"{node.name} (an attention input other than the hidden states)")
    if getattr(analysis.modules.get(node.target), "is_cross_attention", False) and h is not None:
        # key / value read the encoder states: heads stay (the rule's coupling is for self-attention)
        analysis.g.freeze(h, f"{node.name} (cross-attention)")
    return h


def _feed(analysis, node, m: nn.Module, name: str, linears, h: Optional[Chan]) -> None:
    if h is None:
        return
    if h.dim != -1 or h.unknown_block or len(h.ids) != getattr(m, linears[0]).in_features:
        analysis.g.freeze(h, f"{node.name} (attention input with its channels not last)")
        return
    for child in linears:
        analysis.g.members.append(Member(f"{name}.{child}", "in", h.ids))


def _heads_member(analysis, name: str, ids: torch.Tensor, per_unit: int, attrs) -> None:
    analysis.g.members.append(Member(name, "heads", ids[::per_unit].clone(), extra={"shrink": attrs}))


def _qkv_rule(analysis, node, m: nn.Module):
    g, name = analysis.g, analysis.prefix + node.target
    d = m.attention_head_size
    cross = bool(getattr(m, "is_cross_attention", False))
    q, k, v = (g.out_ids(f"{name}.{n}", getattr(m, n).out_features) for n in ("query", "key", "value"))
    h = _hidden(analysis, node)
    _feed(analysis, node, m, name, ["query", "key", "value"], h)
    heads = len(q) // d
    for j in range(heads):
        g.uf.union_all(torch.cat([t[j * d:(j + 1) * d] for t in (q, k, v)]).tolist())
    if cross:
        g.freeze(Chan(-1, q), None)

    def set_heads(module, keep, _):
        module.num_attention_heads = len(keep)
        module.all_head_size = len(keep) * module.attention_head_size

    _heads_member(analysis, name, q, d, set_heads)
    return [Chan(-1, v, analysis.ndim(node.args[0]) if node.args else None), None]


def _proj_rule(analysis, node, m: nn.Module):
    g, name = analysis.g, analysis.prefix + node.target
    d = m.head_dim
    q, k, v = (g.out_ids(f"{name}.{n}", getattr(m, n).out_features) for n in ("q_proj", "k_proj", "v_proj"))
    h = _hidden(analysis, node)
    _feed(analysis, node, m, name, ["q_proj", "k_proj", "v_proj"], h)
    kv_heads = len(k) // d
    rep = (len(q) // d) // kv_heads
    for j in range(kv_heads):  # one unit: a key/value head and the query heads that read it
        g.uf.union_all(torch.cat([q[j * rep * d:(j + 1) * rep * d], k[j * d:(j + 1) * d],
                                  v[j * d:(j + 1) * d]]).tolist())
    g.members.append(Member(f"{name}.o_proj", "in", q))
    out = g.out_ids(f"{name}.o_proj", m.o_proj.out_features)

    def set_heads(module, keep, _):
        if hasattr(module, "num_heads"):
            module.num_heads = len(keep) * rep
        if hasattr(module, "num_key_value_heads"):
            module.num_key_value_heads = len(keep)

    _heads_member(analysis, name, k, d, set_heads)
    return [Chan(-1, out, analysis.ndim(node.args[0]) if node.args else None), None]


def _rms_rule(analysis, node, m: nn.Module):
    c = _hidden(analysis, node)
    if c is None:
        return None
    if c.dim != -1 or len(c.ids) != m.weight.numel():
        analysis.g.freeze(c, f"{node.name} ({type(m).__name__} over a dim other than the channels)")
        return None
    analysis.g.members.append(Member(analysis.prefix + node.target, "ln", c.ids))
    return Chan(c.dim, c.ids, c.ndim)
