"""Canonical hook points: TransformerLens-style names mapped onto native module boundaries.

A `HookPoint` says which module to hook, before (``"in"``) or after (``"out"``) its forward,
and how to read the canonical tensor from the call and write a replacement back (a `Codec`).
`build_hook_table(anatomy)` lists every point of a model; `unlearnscope inspect` prints it.

Canonical shapes (TransformerLens vocabulary): residual points are ``[batch, pos, d_model]``;
``mlp.hook_pre``/``mlp.hook_post`` ``[batch, pos, d_mlp]``; ``attn.hook_z``
``[batch, pos, n_heads, d_head]``; MoE router points are token-flattened ``[tok, expert]`` /
``[tok, k]`` with ``tok = batch * pos`` in row-major order; ``moe.experts.{e}.hook_out`` is
``[tok, d_model]`` (zero on tokens not routed to ``e``); ``moe.hook_pre`` / ``moe.hook_post`` are
every expert's gate pre-activations / keys computed densely, ``[tok, expert * d_expert]``.

Definitions that hold in every family: ``hook_attn_out`` / ``hook_mlp_out`` are exactly what the
sub-block adds to the residual stream (after Gemma/OLMo2 post-norms), so for pre-norm sequential
blocks ``resid_mid = resid_pre + attn_out`` and ``resid_post = resid_mid + mlp_out``.
``moe.hook_router_logits`` are the router's pre-activation scores (softmax routers: logits;
DeepSeek-V3: pre-sigmoid scores, without the correction bias).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from .families import Site
from .moe_math import dense_gate_up, dense_output_delta, expert_contribution, experts_call_args


# ---------------------------------------------------------------------------- codecs
class Codec:
    """Reads the canonical tensor from a module call and writes a replacement back.

    ``read(module, args, kwargs, output)``; ``write`` returns the new output (``"out"`` points)
    or the new ``(args, kwargs)`` (``"in"`` points).  ``needs_inputs``: an ``"out"`` point whose
    tensor is computed from the call's arguments and the module's weights (MoE expert points).
    """

    needs_inputs = False

    def read(self, module, args, kwargs, output) -> torch.Tensor:
        raise NotImplementedError

    def write(self, module, args, kwargs, output, value):
        raise NotImplementedError


class OutputTensor(Codec):
    """The module's output, or its first element when it returns a tuple."""

    def read(self, module, args, kwargs, output):
        return output[0] if isinstance(output, tuple) else output

    def write(self, module, args, kwargs, output, value):
        return (value,) + tuple(output[1:]) if isinstance(output, tuple) else value


class InputTensor(Codec):
    """The module's first positional argument, or ``hidden_states=`` when passed by keyword."""

    def read(self, module, args, kwargs, output):
        return args[0] if args else kwargs["hidden_states"]

    def write(self, module, args, kwargs, output, value):
        if args:
            return (value,) + tuple(args[1:]), kwargs
        return args, {**kwargs, "hidden_states": value}


@dataclass(frozen=True)
class HeadSplit(Codec):
    """``[batch, pos, n_heads * d_head]`` ⇄ ``[batch, pos, n_heads, d_head]`` around another codec."""

    inner: Codec
    n_heads: int

    def read(self, module, args, kwargs, output):
        x = self.inner.read(module, args, kwargs, output)
        return x.unflatten(-1, (self.n_heads, -1)) if x.ndim == 3 else x

    def write(self, module, args, kwargs, output, value):
        return self.inner.write(module, args, kwargs, output, value.flatten(-2) if value.ndim == 4 else value)


@dataclass(frozen=True)
class TupleItem(Codec):
    """Element ``i`` of a tuple output (router ``(logits, weights, idx)``; a plain tensor output is
    its own element 0), flattened to ``[tok, -1]``."""

    i: int

    def read(self, module, args, kwargs, output):
        if not isinstance(output, tuple) and self.i:
            raise TypeError(
                f"{type(module).__name__} returned a single tensor, not (logits, weights, indices): "
                "this router layout (transformers 4.x) only provides hook_router_logits"
            )
        x = output[self.i] if isinstance(output, tuple) else output
        return x.reshape(-1, x.shape[-1])

    def write(self, module, args, kwargs, output, value):
        if not isinstance(output, tuple):
            return value.reshape(output.shape)
        old = output[self.i]
        return output[: self.i] + (value.reshape(old.shape),) + output[self.i + 1 :]


@dataclass(frozen=True)
class ExpertOut(Codec):
    """Expert ``e``'s weighted contribution ``[tok, d_model]``, recomputed from the experts call.

    Writing replaces that contribution inside the experts' summed output:
    ``out + (value - contribution)``.
    """

    e: int
    gate_up: str = "gate_up_proj"
    down: str = "down_proj"
    needs_inputs = True  # computed from the module's call arguments (backends must capture them)

    def read(self, module, args, kwargs, output):
        return expert_contribution(module, args, kwargs, self.e, gate_up=self.gate_up, down=self.down)

    def write(self, module, args, kwargs, output, value):
        # output + (value - contribution): rows the caller left unchanged stay bit-identical
        return output + (value.to(output.dtype) - self.read(module, args, kwargs, output))


@dataclass(frozen=True)
class DenseExperts(Codec):
    """Every routed expert's gate pre-activations (``kind="pre"``) or keys (``"post"``: the
    down-projection input ``act(gate) * up``), computed densely from the experts call,
    ``[tok, expert * d_expert]`` (feature ``e * d_expert + i`` is expert ``e``'s neuron ``i``).

    This is the MoE counterpart of ``mlp.hook_pre`` / ``mlp.hook_post``: experts a token is not
    routed to are evaluated anyway, so skill statistics and key-space cubes see the whole FFN.
    Writing changes the output only through the experts each token is routed to (weighted by
    its routing weight); values written for other experts have no effect.  The point is
    recomputed from the experts' input on every read, so a hook registered after a writer on the
    same point reads the unwritten value (the written one only shows in the output).
    """

    kind: str  # "pre" | "post"
    gate_up: str = "gate_up_proj"
    down: str = "down_proj"
    needs_inputs = True

    def _parts(self, module, args, kwargs):
        x, idx, w = experts_call_args(args, kwargs)
        gate, up = dense_gate_up(module, x, self.gate_up)
        return x, idx, w, gate, up

    def read(self, module, args, kwargs, output):
        _, _, _, gate, up = self._parts(module, args, kwargs)
        feats = gate if self.kind == "pre" else module.act_fn(gate) * up
        return feats.flatten(1)

    def write(self, module, args, kwargs, output, value):
        x, idx, w, gate, up = self._parts(module, args, kwargs)
        new = value.view_as(gate).to(gate.dtype)
        old_key = module.act_fn(gate) * up
        new_key = module.act_fn(new) * up if self.kind == "pre" else new
        return output + dense_output_delta(module, x, idx, w, new_key - old_key, self.down)


# ---------------------------------------------------------------------------- hook points
@dataclass(frozen=True)
class HookPoint:
    """One hookable activation.  ``shape`` uses the TransformerLens vocabulary."""

    name: str
    module_path: str
    phase: str  # "in" (forward pre-hook) | "out" (forward hook)
    codec: Codec = field(default_factory=OutputTensor)
    shape: str = "batch pos d_model"
    layer: int | None = None

    @property
    def token_flat(self) -> bool:
        return self.shape.startswith("tok")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "module": self.module_path,
            "phase": self.phase,
            "shape": self.shape,
            "layer": self.layer,
        }


def site_point(
    name: str,
    path: str,
    site_phase: str,
    shape: str = "batch pos d_model",
    layer: int | None = None,
    codec: Codec | None = None,
) -> HookPoint:
    codec = codec or (OutputTensor() if site_phase == "out" else InputTensor())
    return HookPoint(name, path, site_phase, codec, shape, layer)


def raw_point(spec: str) -> tuple[str, str]:
    """Parse a raw module path: ``"model.layers.0.mlp"`` (output) or ``"...mlp:in"`` (input)."""
    path, _, phase = spec.partition(":")
    return path, (phase or "out")


def _add_moe_points(add, moe, n_experts: int, l: int) -> None:
    """A sparse block's router and expert hook points (``add`` as in `build_hook_table`)."""
    b = f"blocks.{l}.moe"
    add(f"{b}.hook_router_logits", Site(moe.router), "tok expert", l, TupleItem(0))
    add(f"{b}.hook_topk_weights", Site(moe.router), "tok k", l, TupleItem(1))
    add(f"{b}.hook_topk_idx", Site(moe.router), "tok k", l, TupleItem(2))
    add(f"{b}.hook_pre", Site(moe.experts), "tok expert_d_mlp", l, DenseExperts("pre", moe.gate_up, moe.down))
    add(f"{b}.hook_post", Site(moe.experts), "tok expert_d_mlp", l, DenseExperts("post", moe.gate_up, moe.down))
    for e in range(n_experts):
        add(f"{b}.experts.{e}.hook_out", Site(moe.experts), "tok d_model", l, ExpertOut(e, moe.gate_up, moe.down))
    if moe.shared:
        add(f"{b}.hook_shared_out", Site(moe.shared), "tok d_model", l, TupleItem(0))


def build_hook_table(anatomy) -> dict[str, HookPoint]:
    """Every canonical hook point of a model, in forward order."""
    fam = anatomy.family
    table: dict[str, HookPoint] = {}

    def add(
        name: str,
        site: Site,
        shape: str = "batch pos d_model",
        layer: int | None = None,
        codec: Codec | None = None,
        rel: bool = True,
    ):
        path = anatomy.path(layer, site.path) if rel else site.path
        table[name] = site_point(name, path, site.phase, shape, layer, codec)

    add("hook_embed", Site(fam.embed), rel=False)
    for l in range(anatomy.n_layers):
        b = f"blocks.{l}"
        add(f"{b}.hook_resid_pre", Site("", "in"), layer=l)
        if anatomy.n_heads:
            add(
                f"{b}.attn.hook_z",
                Site(fam.attn_o, "in"),
                "batch pos n_heads d_head",
                l,
                HeadSplit(InputTensor(), anatomy.n_heads),
            )
        add(f"{b}.hook_attn_out", fam.attn_out, layer=l)
        if fam.resid_mid is not None and not anatomy.parallel_residual:
            add(f"{b}.hook_resid_mid", fam.resid_mid, layer=l)
        if l in anatomy.moe_layers:
            _add_moe_points(add, fam.moe, anatomy.n_experts, l)
        else:
            add(f"{b}.mlp.hook_pre", Site(fam.mlp_in), "batch pos d_mlp", l)
            add(f"{b}.mlp.hook_post", Site(fam.mlp_down, "in"), "batch pos d_mlp", l)
        add(f"{b}.hook_mlp_out", fam.mlp_out, layer=l)
        add(f"{b}.hook_resid_post", Site(""), layer=l)
    if anatomy.final_norm is not None:
        add("ln_final.hook_normalized", Site(fam.final_norm), rel=False)
    if anatomy.unembed is not None:
        add("hook_logits", Site(fam.unembed), "batch pos d_vocab", rel=False)
    return table


# TransformerLens 3 spellings accepted as aliases of the legacy names we use.
ALIASES = {
    "blocks.{l}.hook_in": "blocks.{l}.hook_resid_pre",
    "blocks.{l}.hook_out": "blocks.{l}.hook_resid_post",
    "blocks.{l}.attn.hook_out": "blocks.{l}.hook_attn_out",
    "blocks.{l}.mlp.hook_out": "blocks.{l}.hook_mlp_out",
    "blocks.{l}.mlp.hook_router_scores": "blocks.{l}.moe.hook_router_logits",
    "unembed.hook_out": "hook_logits",
    "embed.hook_out": "hook_embed",
}
