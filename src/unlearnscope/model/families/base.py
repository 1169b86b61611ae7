"""Anatomy adapter tables: one small data record per architecture family.

A `Family` maps the canonical anatomy (layers, attention, MLP, MoE router and experts, final norm,
unembedding) to module paths of the native Hugging Face model.  Algorithms never branch on
``model_type``; every architectural difference lives in these records.

Paths inside a block are relative to the block (``transformer.h.{l}`` for GPT-2).  A `Site` names
where a residual-stream quantity can be read: the output (``"out"``) or the first input
(``"in"``) of a module.

To add a family, build a `Family` with the paths of your architecture and call `register_family`;
`unlearnscope inspect MODEL` then shows the hook table it yields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Phase = Literal["in", "out"]
Layout = Literal["linear", "conv1d"]


@dataclass(frozen=True)
class Site:
    """A tensor at a module boundary: ``phase="out"`` reads the module's output (first element
    of a tuple), ``phase="in"`` its first positional argument (or ``hidden_states=``)."""

    path: str
    phase: Phase = "out"


@dataclass(frozen=True)
class MoETable:
    """Where a sparse MoE block keeps its router and fused experts (transformers 5 layout).

    ``experts`` holds ``gate_up_proj[E, 2*I, d_model]`` (gate rows first, then up) and
    ``down_proj[E, d_model, I]``; it is called as ``experts(x[tok, d_model], idx[tok, k],
    weights[tok, k])`` and returns the weighted sum ``[tok, d_model]``.  The router returns
    ``(logits[tok, E], weights[tok, k], idx[tok, k])``.
    """

    block: str = "mlp"
    router: str = "mlp.gate"
    experts: str = "mlp.experts"
    gate_up: str = "gate_up_proj"
    down: str = "down_proj"
    shared: str | None = None  # a dense gated MLP (gate_proj/up_proj/down_proj) run on every token
    shared_gate: str | None = None  # sigmoid gate applied to the shared expert's output
    routing: Literal["softmax_topk", "sigmoid_group_topk"] = "softmax_topk"
    top_k_attr: str = "num_experts_per_tok"


@dataclass(frozen=True)
class Family:
    """Module paths and weight layouts of one architecture family.

    Weight layouts: ``"linear"`` stores ``W[out, in]`` (``nn.Linear``), ``"conv1d"`` stores
    ``W[in, out]`` (GPT-2's ``Conv1D``).  Key vectors are rows of ``[d_mlp, d_model]`` read from
    ``mlp_in``/``mlp_up``; value vectors are rows of ``[d_mlp, d_model]`` read from ``mlp_down``.
    """

    name: str
    model_types: tuple[str, ...]
    layers: str
    embed: str
    final_norm: str | None
    unembed: str | None
    attn: str
    attn_o: str  # output projection; its input is the per-head z
    attn_out: Site  # the attention's contribution to the residual stream
    resid_mid: Site | None
    mlp: str
    mlp_in: str  # gate (gated MLPs) or first matrix; output = blocks.{l}.mlp.hook_pre
    mlp_up: str | None
    mlp_down: str  # second matrix; input = blocks.{l}.mlp.hook_post
    mlp_out: Site  # the MLP's contribution to the residual stream
    layout: Layout = "linear"
    moe: MoETable | None = None
    parallel_residual_attr: str | None = None  # config flag: attn and MLP read the same residual
    post_ln: bool = False  # residual identities (resid_mid = resid_pre + attn_out) do not hold
    n_heads_attr: str = "num_attention_heads"


_REGISTRY: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Register an adapter table; later registrations override earlier ones per model_type."""
    for model_type in family.model_types:
        _REGISTRY[model_type] = family
    return family


def family_for(model_type: str) -> Family | None:
    return _REGISTRY.get(model_type)


def supported_model_types() -> dict[str, str]:
    """``model_type -> family name`` for every registered adapter."""
    return {mt: fam.name for mt, fam in sorted(_REGISTRY.items())}
