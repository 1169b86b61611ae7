"""Router math per routing kind, and reversible routing overrides (switch experts off, force them
on, drop them after selection, scale their output).

    with route(subject, off=[(1, 3)]):                       # pre-selection mask: next-best fills the slot
        out = subject.model.generate(**enc, max_new_tokens=5)  # every token, prefill and decode steps
    with route(subject, drop=[(1, 3)], renormalize=False): ...  # post-selection drop, no renormalisation
    with route(subject, force=[(0, 2)], gain={(1, 5): 0.5}): ...

The override is a forward hook on each touched layer's router that recomputes
``(logits, weights, indices)`` from the router's own logits, so it acts on every forward the
model runs (also inside ``generate()`` with a KV cache, one new token per step).  The experts
block only reads the weights and indices, so nothing else needs patching.

Routing kinds (``MoETable.routing``):

* ``softmax_topk`` (Mixtral, OLMoE, Qwen-MoE): ``p = softmax(logits)``; select the top-k of ``p``;
  weights ``p[idx]``, divided by their sum when the router renormalises (``norm_topk_prob``;
  Mixtral always does).
* ``sigmoid_group_topk`` (DeepSeek-V3): ``s = sigmoid(logits)``; selection on ``s + bias`` within
  the top ``topk_group`` groups (group score = sum of its two best selection scores); weights are
  the *unbiased* ``s[idx]``, optionally renormalised, times ``routed_scaling_factor``.  A mask acts
  on the selection scores *before* group selection, so a masked expert cannot come back through
  its group; a masked expert contributes nothing to its group's score.

Override semantics (identical for both kinds):

* ``off`` — pre-selection mask: the expert's selection score is −∞, the next-best expert fills
  the slot.  If the router has no other choice (a group-limited router whose allowed groups hold
  fewer than k live experts) the expert keeps its slot with weight 0, so it is off whatever happens.
* ``force`` — the expert is selected on every token (replacing the weakest slot); its weight is
  computed from its own score with the router's usual normalisation ("soft" forcing; a +1e4 logit
  would give it weight ≈ 1 and wreck every domain on the MoE organism).
* ``drop`` — post-selection: the expert's weight is set to 0 where it was selected; with
  ``renormalize=True`` the remaining weights are rescaled to the original sum.
* ``gain`` — multiply the expert's weight (hence its output) by a factor where it is selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from ..errors import OutOfRangeError, UnlearnscopeError

FORCE_BONUS = 1e4  # added to a forced expert's selection score (finite: keeps group sums ordered)


# ---------------------------------------------------------------------------- router kinds
@dataclass(frozen=True)
class RouterParams:
    """What a router needs besides its logits, read from the native module."""

    kind: str
    top_k: int
    renormalize: bool
    n_group: int = 1
    topk_group: int = 1
    scaling: float = 1.0
    bias: torch.Tensor | None = None

    @classmethod
    def of(cls, module, kind: str, top_k: int) -> RouterParams:
        if kind == "softmax_topk":
            return cls(
                kind, int(getattr(module, "top_k", top_k) or top_k), bool(getattr(module, "norm_topk_prob", True))
            )
        if kind == "sigmoid_group_topk":
            return cls(
                kind,
                int(module.top_k),
                bool(module.norm_topk_prob),
                int(module.num_group),
                int(module.topk_group),
                float(module.routed_scaling_factor),
                module.e_score_correction_bias,
            )
        raise UnlearnscopeError(
            f"unknown routing kind {kind!r}: add it to model/routing.py (softmax_topk, sigmoid_group_topk)"
        )


def router_probs(logits: torch.Tensor, params: RouterParams) -> torch.Tensor:
    """``[tok, expert]`` full routing distribution in fp32 (rows sum to 1): the softmax for softmax
    routers; the sigmoid scores divided by their sum for sigmoid routers.  Used for routing
    entropy, full-softmax averages and the UOE anchor."""
    if params.kind == "softmax_topk":
        return torch.softmax(logits.float(), -1)
    s = logits.float().sigmoid()
    return s / s.sum(-1, keepdim=True)


def gate_scores(logits: torch.Tensor, params: RouterParams) -> torch.Tensor:
    """``[tok, expert]`` per-expert gate score before selection: softmax probabilities (softmax
    routers) or unbiased sigmoid scores (sigmoid routers).  UOE's ``g`` is this, masked to top-k."""
    return torch.softmax(logits.float(), -1) if params.kind == "softmax_topk" else logits.float().sigmoid()


def select(
    logits: torch.Tensor, params: RouterParams, off: torch.Tensor | None = None, force: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weights[tok, k], idx[tok, k])`` as the native router computes them, with optional boolean
    ``off`` / ``force`` masks ``[expert]`` (or ``[tok, expert]``) applied to the selection scores."""
    score = gate_scores(logits, params)
    choice = score if params.bias is None else score + params.bias.float()
    if force is not None:
        choice = choice + force.float() * FORCE_BONUS
    if off is not None:
        choice = choice.masked_fill(off, float("-inf"))
    if params.kind == "sigmoid_group_topk":
        n_tok, n_exp = choice.shape
        grouped = choice.view(n_tok, params.n_group, n_exp // params.n_group)
        group_score = grouped.topk(min(2, grouped.shape[-1]), dim=-1)[0].nan_to_num(neginf=0.0).sum(-1)
        group_idx = group_score.topk(params.topk_group, dim=-1, sorted=False)[1]
        allowed = torch.zeros_like(group_score, dtype=torch.bool).scatter_(1, group_idx, True)
        allowed = allowed[:, :, None].expand_as(grouped).reshape(n_tok, n_exp)
        # -inf outside the allowed groups; masked experts sort below every allowed live expert
        choice = torch.where(allowed, choice.nan_to_num(neginf=-FORCE_BONUS), float("-inf"))
        idx = choice.topk(params.top_k, dim=-1, sorted=False)[1]
    else:
        idx = choice.topk(params.top_k, dim=-1)[1]
    w = score.gather(1, idx)
    if off is not None:  # a masked expert kept only because the router had no other choice
        hit = off.expand_as(score).gather(1, idx) if off.dim() == 2 else off[idx]
        w = w.masked_fill(hit, 0.0)
    if params.renormalize:
        w = w / (w.sum(-1, keepdim=True) + (1e-20 if params.kind == "sigmoid_group_topk" else 0.0))
    return w * params.scaling, idx


# ---------------------------------------------------------------------------- overrides
Expert = tuple[int, int]


@dataclass
class RoutingOverride:
    """Which experts to switch off / force on / drop / scale, per MoE layer.  Serialisable."""

    off: list[Expert] = field(default_factory=list)
    force: list[Expert] = field(default_factory=list)
    drop: list[Expert] = field(default_factory=list)
    gain: dict[Expert, float] = field(default_factory=dict)
    renormalize: bool = True  # after a drop

    @classmethod
    def build(
        cls, mode: str, experts: Iterable[Expert], *, gain: float = 0.0, renormalize: bool = True
    ) -> RoutingOverride:
        """One mode for a list of experts: ``off`` | ``force`` | ``drop`` | ``gain``."""
        experts = [tuple(map(int, e)) for e in experts]
        if mode == "gain":
            return cls(gain={e: float(gain) for e in experts})
        if mode not in ("off", "force", "drop"):
            raise UnlearnscopeError(f"unknown routing mode {mode!r}: choose off, force, drop or gain")
        return cls(**{mode: experts}, renormalize=renormalize)

    def layers(self) -> list[int]:
        return sorted({l for l, _ in self.off + self.force + self.drop + list(self.gain)})

    def check(self, anatomy) -> None:
        if not anatomy.is_moe:
            raise UnlearnscopeError(
                f"{anatomy.architecture} is a dense model: routing overrides need MoE layers. "
                "Cluster its MLP neurons into emergent experts first (EMoE): "
                "unlearnscope.localize.experts.emergent_experts."
            )
        for l, e in self.off + self.force + self.drop + list(self.gain):
            anatomy.check_expert(l, e)
        both = set(self.off) & set(self.force)
        if both:
            raise OutOfRangeError(f"experts {sorted(both)} are both switched off and forced on")

    def to_dict(self) -> dict:
        return {
            "off": [list(e) for e in self.off],
            "force": [list(e) for e in self.force],
            "drop": [list(e) for e in self.drop],
            "gain": [[l, e, g] for (l, e), g in self.gain.items()],
            "renormalize": self.renormalize,
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> RoutingOverride:
        return cls(
            [tuple(e) for e in d.get("off", [])],
            [tuple(e) for e in d.get("force", [])],
            [tuple(e) for e in d.get("drop", [])],
            {(int(l), int(e)): float(g) for l, e, g in d.get("gain", [])},
            bool(d.get("renormalize", True)),
        )


def _layer_masks(ov: RoutingOverride, layer: int, n_experts: int, device) -> dict[str, torch.Tensor | None]:
    def mask(pairs):
        es = [e for l, e in pairs if l == layer]
        if not es:
            return None
        m = torch.zeros(n_experts, dtype=torch.bool, device=device)
        m[es] = True
        return m

    gains = {e: g for (l, e), g in ov.gain.items() if l == layer}
    g = None
    if gains:
        g = torch.ones(n_experts, device=device)
        g[list(gains)] = torch.tensor(list(gains.values()), device=device)
    return {"off": mask(ov.off), "force": mask(ov.force), "drop": mask(ov.drop), "gain": g}


def apply_override(
    logits: torch.Tensor, params: RouterParams, masks: dict, renormalize: bool = True
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weights, idx)`` for one layer under an override (see the module docstring)."""
    w, idx = select(logits, params, masks["off"], masks["force"])
    if masks["drop"] is not None:
        hit = masks["drop"][idx]
        total = w.sum(-1, keepdim=True)
        w = w.masked_fill(hit, 0.0)
        if renormalize:
            w = w * (total / w.sum(-1, keepdim=True).clamp_min(1e-20))
    if masks["gain"] is not None:
        w = w * masks["gain"][idx]
    return w, idx


def router_params(subject, layer: int) -> RouterParams:
    a = subject.anatomy
    a.check_expert(layer, 0)
    return RouterParams.of(a.module(a.path(layer, a.family.moe.router)), a.family.moe.routing, a.top_k)


@contextmanager
def route(
    subject,
    override: RoutingOverride | None = None,
    *,
    off: Iterable[Expert] = (),
    force: Iterable[Expert] = (),
    drop: Iterable[Expert] = (),
    gain: Mapping[Expert, float] | None = None,
    renormalize: bool = True,
):
    """Apply a routing override for the duration of the block (every forward, every token).

    Give a `RoutingOverride` or the ``off`` / ``force`` / ``drop`` / ``gain`` keywords.  Hooks are
    removed on exit, also on errors.  Yields the override."""
    if override is None:
        override = RoutingOverride(
            [tuple(e) for e in off],
            [tuple(e) for e in force],
            [tuple(e) for e in drop],
            {tuple(k): float(v) for k, v in (gain or {}).items()},
            renormalize,
        )
    a = subject.anatomy
    override.check(a)
    handles = []
    try:
        for layer in override.layers():
            module = a.module(a.path(layer, a.family.moe.router))
            params = router_params(subject, layer)
            masks = _layer_masks(override, layer, a.n_experts, a.router_weight(layer).device)

            def hook(mod, args, output, params=params, masks=masks):
                logits = output[0] if isinstance(output, tuple) else output
                flat = logits.reshape(-1, logits.shape[-1])
                w, idx = apply_override(flat, params, masks, override.renormalize)
                if not isinstance(output, tuple):
                    raise UnlearnscopeError(
                        f"{type(mod).__name__} returns only logits (transformers 4.x router): routing overrides need "
                        "transformers >= 5"
                    )
                return (output[0], w.to(output[1].dtype), idx.to(output[2].dtype)) + tuple(output[3:])

            handles.append(module.register_forward_hook(hook))
        yield override
    finally:
        for h in handles:
            h.remove()
