"""Causal depth: how much of a never-knew model's missing knowledge an unlearned model reproduces,
layer by layer, by activation patching into the original (the Unlearning Depth Score, UDS).

    base = patching_baseline(orig, ref, forget)           # S1: REF's hidden states patched into ORIG
    d = causal_depth(orig, unlearned, base)                # S2: the unlearned model's, likewise
    d.uds [facts] (1 = as erased as never knowing, 0 = intact), d.knowledge = 1 − uds

For each fact and layer ``l``, the source model's residual stream after block ``l``
(``blocks.{l}.hook_resid_post``) replaces ORIG's at the patched positions, and the drop of ORIG's
log-probability of the answer's first token is recorded:

    Δ_l = log p_ORIG(answer) − log p_ORIG(answer | layer l patched from the source)

S1 patches from the never-knew model (the baseline effect per layer), S2 from the unlearned model.
Per fact, over the layers where the baseline effect is material (``FT = {l : Δ¹_l > τ}``, τ = 0.05):

    UDS = Σ_{l∈FT} Δ¹_l · clip(Δ²_l / Δ¹_l, 0, 1) / Σ_{l∈FT} Δ¹_l

A fact with no material layer (the never-knew model's states change nothing: the fact is not
carried differently) has no UDS and is left out.  ``scope="last"`` patches the position that
predicts the answer (UDS's entity-span patching, for one-token answers); ``"subject"`` the
subject's tokens.  The source must share ORIG's tokenizer and width; its states are only
meaningful in ORIG's basis when it descends from ORIG (unlearned or fine-tuned ORIG) or is the
never-knew model whose states define the baseline — a model trained from another weight seed has
an unrelated basis and reads as "erased" whatever it knows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..data import as_facts, encode_facts
from ..errors import UnlearnscopeError

SCOPES = ("last", "subject")
TAU = 0.05


@dataclass
class PatchingBaseline:
    """S1 for a set of facts: ORIG's answer log-probabilities ``logp [fact]`` and the drop per layer
    ``delta [layer, fact]`` when the never-knew model's states are patched in."""

    original: object = field(repr=False)
    facts: list
    scope: str
    tau: float
    logp: torch.Tensor
    delta: torch.Tensor

    @property
    def material(self) -> torch.Tensor:
        """``[layer, fact]`` layers whose baseline effect exceeds τ (UDS's FT layers)."""
        return self.delta > self.tau

    @property
    def defined(self) -> torch.Tensor:
        """``[fact]`` facts with at least one material layer."""
        return self.material.any(0)


@dataclass
class CausalDepth:
    """S2 against a `PatchingBaseline`: ``delta [layer, fact]`` and ``uds [fact]`` (NaN where the
    fact has no material layer)."""

    delta: torch.Tensor
    uds: torch.Tensor

    @property
    def knowledge(self) -> torch.Tensor:
        """``1 − UDS`` per fact: 1 = as the original, 0 = as the never-knew model (higher = knows more)."""
        return 1 - self.uds


def _answer_logp(out, last: torch.Tensor, answer: torch.Tensor) -> torch.Tensor:
    logits = out.logits[torch.arange(last.shape[0], device=last.device), last].float()
    return torch.log_softmax(logits, -1).gather(-1, answer[:, None])[:, 0]


def _positions(enc, scope: str) -> torch.Tensor:
    """``[batch, pos]`` the positions that are patched."""
    if scope == "subject":
        return enc.subject_mask
    mask = torch.zeros_like(enc.attention_mask, dtype=torch.bool)
    mask[torch.arange(len(enc)), enc.last] = True
    return mask


def _check_pair(original, source) -> None:
    a, b = original.anatomy, source.anatomy
    if (a.n_layers, a.d_model) != (b.n_layers, b.d_model):
        raise UnlearnscopeError(
            f"causal depth patches one model's hidden states into the other's: ORIG has {a.n_layers} layers of width "
            f"{a.d_model}, the source {b.n_layers} of width {b.d_model}; use models of one architecture"
        )
    if original.tokenizer.get_vocab() != source.tokenizer.get_vocab():
        raise UnlearnscopeError(
            "causal depth needs the source model to share ORIG's tokenizer (the same token positions)"
        )


@torch.no_grad()
def layer_deltas(
    original, source, facts, *, scope: str = "last", batch_size: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(logp [fact], delta [layer, fact])``: ORIG's answer log-probability and its drop when
    ``source``'s residual stream after each block replaces ORIG's at the ``scope`` positions."""
    if scope not in SCOPES:
        raise UnlearnscopeError(f"unknown patching scope {scope!r}; use one of {SCOPES}")
    _check_pair(original, source)
    enc = encode_facts(original, as_facts(facts), need_subject=scope == "subject")
    L = original.anatomy.n_layers
    points = [f"blocks.{l}.hook_resid_post" for l in range(L)]
    logps, deltas = [], []
    for s in range(0, len(enc), batch_size):
        e = enc.rows(slice(s, s + batch_size))
        inputs = {k: v.to(original.device) for k, v in e.inputs().items()}
        last, ans = e.last.to(original.device), e.answer.to(original.device)
        where = _positions(e, scope).to(original.device)[..., None]
        with source.capture(points) as cache:
            source.model(**{k: v.to(source.device) for k, v in inputs.items()})
        full = _answer_logp(original.model(**inputs), last, ans)
        rows = []
        for point in points:
            src = cache[point].to(original.device)
            with original.hooks(
                [(point, lambda act, hook, src=src, where=where: torch.where(where, src.to(act.dtype), act))]
            ):
                rows.append(full - _answer_logp(original.model(**inputs), last, ans))
        logps.append(full.cpu())
        deltas.append(torch.stack(rows).cpu())
    return torch.cat(logps), torch.cat(deltas, 1)


def patching_baseline(
    original, never_knew, facts, *, scope: str = "last", tau: float = TAU, batch_size: int = 64
) -> PatchingBaseline:
    """S1: the drop per layer when the never-knew model's states are patched into ORIG."""
    if tau <= 0:
        raise UnlearnscopeError(f"tau must be positive, got {tau}")
    facts = as_facts(facts)
    if not facts:
        raise UnlearnscopeError("causal depth needs at least one fact")
    logp, delta = layer_deltas(original, never_knew, facts, scope=scope, batch_size=batch_size)
    return PatchingBaseline(original, facts, scope, tau, logp, delta)


def depth_score(baseline: PatchingBaseline, delta: torch.Tensor) -> torch.Tensor:
    """UDS per fact from S1 (``baseline``) and S2 (``delta [layer, fact]``); NaN where undefined."""
    d1, m = baseline.delta, baseline.material
    ratio = (delta / d1.clamp_min(baseline.tau)).clamp(0, 1)
    num = (d1 * ratio * m).sum(0)
    den = (d1 * m).sum(0)
    return torch.where(baseline.defined, num / den.clamp_min(1e-12), torch.full_like(num, float("nan")))


def causal_depth(original, candidate, baseline: PatchingBaseline, *, batch_size: int = 64) -> CausalDepth:
    """S2 for ``candidate`` (an unlearned model) against ``baseline`` (S1 on the same ORIG and facts)."""
    if baseline.original is not original:
        raise UnlearnscopeError(
            "the baseline was measured on another original model: measure S1 and S2 on the same ORIG"
        )
    _, delta = layer_deltas(original, candidate, baseline.facts, scope=baseline.scope, batch_size=batch_size)
    return CausalDepth(delta, depth_score(baseline, delta))
