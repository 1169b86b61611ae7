"""Recompute what one fused expert contributes, from the experts module's own inputs.

transformers 5 keeps routed experts in 3-D tensors with no per-expert modules, so a per-expert
hook point is computed: ``contribution_e[tok] = w[tok, slot] * FFN_e(x[tok])`` for the tokens
routed to ``e`` and zero elsewhere.  Summing the contributions over experts reproduces the
experts module's output (tested to float tolerance for every MoE family).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def experts_call_args(args: tuple, kwargs: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(x[tok, d_model], idx[tok, k], weights[tok, k])`` from an experts module call."""
    names = ("hidden_states", "top_k_index", "top_k_weights")
    vals = list(args[:3]) + [kwargs[n] for n in names[len(args[:3]) :]]
    return vals[0], vals[1], vals[2]


def expert_ffn(
    experts: nn.Module, x: torch.Tensor, e: int, gate_up: str = "gate_up_proj", down: str = "down_proj"
) -> torch.Tensor:
    """Un-weighted output of expert ``e`` on ``x[n, d_model]`` (gated MLP, gate rows first)."""
    gate, up = F.linear(x, getattr(experts, gate_up)[e]).chunk(2, dim=-1)
    return F.linear(experts.act_fn(gate) * up, getattr(experts, down)[e])


def expert_contribution(experts: nn.Module, args: tuple, kwargs: dict, e: int, **names) -> torch.Tensor:
    """``[tok, d_model]``: expert ``e``'s weighted output, zero on tokens not routed to it."""
    x, idx, w = experts_call_args(args, kwargs)
    hit = idx == e  # [tok, k]
    tok = hit.any(-1).nonzero().squeeze(-1)
    out = torch.zeros_like(x)
    if tok.numel():
        weight = (w * hit).sum(-1)[tok].to(x.dtype)
        out = out.index_copy(0, tok, expert_ffn(experts, x[tok], e, **names) * weight[:, None])
    return out


def dense_gate_up(
    experts: nn.Module, x: torch.Tensor, gate_up: str = "gate_up_proj"
) -> tuple[torch.Tensor, torch.Tensor]:
    """Every expert's gate pre-activation and up projection on every token, computed densely:
    ``(gate, up)``, each ``[tok, expert, d_expert]`` (batched matmul, no loop over experts)."""
    w = getattr(experts, gate_up)  # [E, 2I, d_model]
    h = torch.einsum("td,eid->tei", x.to(w.dtype), w)
    return h.chunk(2, dim=-1)


def routing_weights(idx: torch.Tensor, weights: torch.Tensor, n_experts: int) -> torch.Tensor:
    """``[tok, expert]`` weight of each expert in each token's output (zero where not routed)."""
    return torch.zeros(idx.shape[0], n_experts, dtype=weights.dtype, device=weights.device).scatter_add_(
        1, idx.long(), weights
    )


def dense_output_delta(
    experts: nn.Module,
    x: torch.Tensor,
    idx: torch.Tensor,
    weights: torch.Tensor,
    key_delta: torch.Tensor,
    down: str = "down_proj",
) -> torch.Tensor:
    """``[tok, d_model]``: how the experts' weighted output changes when every expert's key
    (down-projection input) changes by ``key_delta[tok, expert, d_expert]``; experts a token is
    not routed to contribute nothing."""
    w_down = getattr(experts, down)  # [E, d_model, I]
    r = routing_weights(idx, weights, w_down.shape[0]).to(key_delta.dtype)
    return torch.einsum("tei,te,edi->td", key_delta, r, w_down.to(key_delta.dtype)).to(x.dtype)
