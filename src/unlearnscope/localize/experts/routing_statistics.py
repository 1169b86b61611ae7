"""Routing statistics of an MoE model over a dataset, streamed batch by batch.

    stats = routing_stats(subject, texts)          # RoutingStats over every non-padding token
    stats.frequency[l_i, e]                         # share of tokens that select expert e
    cmp = compare_routing(orig, unlearned, texts)   # top-k overlap and JSD, per layer

Per MoE layer (rows of every ``[layer, expert]`` tensor follow ``layers``) and routed expert
(shared experts are always on and are not counted):

* ``frequency`` — share of counted tokens for which the expert is selected (in the top-k with a
  non-zero weight; rows sum to ≤ k);
* ``affinity`` — UOE's score ``s = (1/Z) Σ_j (1/L_j) Σ_t g_t``: per-sequence mean of the
  top-k-masked, *un-renormalised* gate ``g = p_e`` if selected else 0, averaged over sequences
  (``p`` = softmax probability, or the sigmoid score for sigmoid routers);
* ``affinity_tokens`` — ESFT's token-averaged variant ``Σ_t g_t / N_tokens``;
* ``prob_mean`` — mean of the full routing distribution (softmax over all experts);
* ``weight_mean`` — mean routing weight the block actually uses (after renormalisation/overrides);
* ``entropy`` ``[layer]`` — mean per-token entropy of the full distribution (nats; max ln E).

``positions="last"`` counts only each sequence's last non-padding token (the decision token of a
chat prompt).  With ``keep_sequences=True`` the per-sequence maps (``seq_counts``, ``seq_weights``
``[seq, layer, expert]``, summed over counted tokens, and ``seq_tokens``) are kept — what fTRI
uses; with ``keep_tokens=True`` the per-token selections ``token_experts [tok, layer, k]`` too.
Statistics are accumulated on the model's device in fp64 (no host syncs inside the loop).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...model.batching import iter_batches, token_mask
from ...model.routing import gate_scores, router_params, router_probs
from ...results import Result

if TYPE_CHECKING:
    from ...model.subject import Subject


def require_moe(subject: Subject, what: str) -> tuple[int, ...]:
    """The MoE layers, or a clear error for a dense model that points to EMoE."""
    a = subject.anatomy
    if not a.is_moe:
        raise UnlearnscopeError(
            f"{what} needs an MoE model, but {a.architecture} is dense (no routed experts). "
            "Cluster its MLP neurons into emergent experts first (EMoE): "
            "unlearnscope.localize.experts.emergent_experts(subject, n_experts=...), then use "
            "EmergentExperts.routing_stats / .route"
        )
    return a.moe_layers


@dataclass
class RoutingStats(Result):
    kind = "routing_stats"
    layers: list[int]
    n_experts: int
    top_k: int
    frequency: torch.Tensor  # [layer, expert]
    affinity: torch.Tensor  # [layer, expert] UOE (sequence-averaged)
    affinity_tokens: torch.Tensor  # [layer, expert] ESFT (token-averaged)
    prob_mean: torch.Tensor  # [layer, expert]
    weight_mean: torch.Tensor  # [layer, expert]
    entropy: torch.Tensor  # [layer]
    n_tokens: int
    n_sequences: int
    positions: str = "all"
    seq_counts: torch.Tensor | None = None  # [seq, layer, expert]
    seq_weights: torch.Tensor | None = None  # [seq, layer, expert]
    seq_tokens: torch.Tensor | None = None  # [seq]
    token_experts: torch.Tensor | None = None  # [tok, layer, k]
    token_seq: torch.Tensor | None = None  # [tok] sequence index of each kept token
    meta: dict = field(default_factory=dict)

    def row(self, layer: int) -> int:
        if layer not in self.layers:
            raise UnlearnscopeError(f"layer {layer} is not an MoE layer of this result; MoE layers are {self.layers}")
        return self.layers.index(layer)

    def plot(self, metric: str = "frequency"):
        """Layer × expert heatmap of ``frequency`` | ``affinity`` | ``affinity_tokens`` | ``prob_mean`` |
        ``weight_mean``."""
        from ...viz import expert_heatmap

        return expert_heatmap(
            getattr(self, metric),
            self.layers,
            title=f"{metric} over {self.n_tokens} tokens ({self.positions})",
            label=metric,
        )


class RoutingAccumulator:
    """Running sums of routing over batches, for any source of routing (router hooks of an MoE,
    or EMoE's emergent experts): call `add` for each layer of a batch, then `end_batch`."""

    def __init__(
        self,
        layers: list[int],
        n_experts: int,
        top_k: int,
        device,
        *,
        keep_sequences: bool = False,
        keep_tokens: bool = False,
    ):
        self.layers, self.E, self.k = list(layers), n_experts, top_k
        z = lambda *s: torch.zeros(*s, dtype=torch.float64, device=device)
        L = len(self.layers)
        self.count, self.gsum, self.wsum, self.psum, self.aff = (
            z(L, self.E),
            z(L, self.E),
            z(L, self.E),
            z(L, self.E),
            z(L, self.E),
        )
        self.ent = z(L)
        self.n_tok = z(())
        self.n_seq = 0
        self.keep_sequences, self.keep_tokens = keep_sequences, keep_tokens
        self.seq_counts: list[torch.Tensor] = []
        self.seq_weights: list[torch.Tensor] = []
        self.seq_tokens: list[torch.Tensor] = []
        self.tok_experts: list[torch.Tensor] = []
        self.tok_seq: list[torch.Tensor] = []
        self._batch: dict = {}

    def add(
        self, row: int, p: torch.Tensor, g: torch.Tensor, w: torch.Tensor, idx: torch.Tensor, mask: torch.Tensor
    ) -> None:
        """One layer of one batch: ``p`` full distribution and ``g`` gate scores ``[tok, E]`` (fp32),
        used weights ``w`` and indices ``idx`` ``[tok, k]``, ``mask`` ``[batch, pos]`` counted tokens."""
        B, T = mask.shape
        mf = mask.reshape(-1, 1).float()  # [tok, 1] counted tokens (no boolean gather: no copies)
        sel = torch.zeros_like(p).scatter_(1, idx, (w != 0).float() * mf)  # [tok, E] 0/1 on counted tokens
        gate = sel * g
        used = torch.zeros_like(p).scatter_(1, idx, w * mf)
        self.count[row] += sel.sum(0)
        self.gsum[row] += gate.sum(0)
        self.wsum[row] += used.sum(0)
        self.psum[row] += (p * mf).sum(0)
        self.ent[row] += (-(p * p.clamp_min(1e-30).log()).sum(-1) * mf[:, 0]).sum()
        per_seq = gate.view(B, T, self.E).sum(1)  # [B, E]: UOE's per-sequence sums
        n_per = mask.sum(1).float()
        self.aff[row] += (per_seq / n_per.clamp_min(1)[:, None]).sum(0)
        if self.keep_sequences:
            self._batch[row] = (sel.view(B, T, self.E).sum(1), used.view(B, T, self.E).sum(1), n_per)
        if self.keep_tokens:
            m = mask.reshape(-1)
            seq_id = torch.arange(B, device=idx.device)[:, None].expand(B, T).reshape(-1)[m]
            self._batch[("tok", row)] = (idx[m], seq_id)

    def end_batch(self, mask: torch.Tensor, start: int) -> None:
        """Count the batch (``start`` = index of its first sequence) and keep its maps if asked."""
        self.n_tok += mask.sum()
        self.n_seq += mask.shape[0]
        rows = range(len(self.layers))
        if self.keep_sequences:
            self.seq_counts.append(torch.stack([self._batch[r][0] for r in rows], 1).cpu())
            self.seq_weights.append(torch.stack([self._batch[r][1] for r in rows], 1).cpu())
            self.seq_tokens.append(self._batch[0][2].cpu())
        if self.keep_tokens:
            self.tok_experts.append(torch.stack([self._batch[("tok", r)][0] for r in rows], 1).cpu())
            self.tok_seq.append((self._batch[("tok", 0)][1] + start).cpu())
        self._batch.clear()

    def result(self, positions: str, meta: dict | None = None) -> RoutingStats:
        n_tok = float(self.n_tok)
        if not n_tok:
            raise UnlearnscopeError("the prompts hold no tokens to count")
        f = lambda x: (x / n_tok).float().cpu()
        cat = lambda xs: torch.cat(xs) if xs else None
        return RoutingStats(
            self.layers,
            self.E,
            self.k,
            f(self.count),
            (self.aff / self.n_seq).float().cpu(),
            f(self.gsum),
            f(self.psum),
            f(self.wsum),
            f(self.ent),
            int(n_tok),
            self.n_seq,
            positions,
            cat(self.seq_counts),
            cat(self.seq_weights),
            cat(self.seq_tokens),
            cat(self.tok_experts),
            cat(self.tok_seq),
            {"max_entropy": math.log(self.E), **(meta or {})},
        )


def routing_stats(
    subject: Subject,
    inputs: Sequence[str],
    *,
    batch_size: int = 32,
    positions: str = "all",
    keep_sequences: bool = False,
    keep_tokens: bool = False,
) -> RoutingStats:
    """Streamed routing statistics of ``subject`` over ``inputs`` (texts or a tokenizer dict).

    Runs inside any active `route(...)` override, so the statistics describe the routing the
    model actually uses."""
    a = subject.anatomy
    layers = list(require_moe(subject, "routing statistics"))
    acc = RoutingAccumulator(
        layers, a.n_experts, a.top_k, subject.device, keep_sequences=keep_sequences, keep_tokens=keep_tokens
    )
    box: dict[str, torch.Tensor] = {}

    def hook(row: int, params):
        def fn(module, args, output):
            mask = box["mask"]
            n = mask.numel()
            logits = output[0].reshape(n, -1).float()
            p = router_probs(logits, params)
            g = p if params.kind == "softmax_topk" else gate_scores(logits, params)
            acc.add(row, p, g, output[1].reshape(n, -1).float(), output[2].reshape(n, -1), mask)

        return fn

    moe = a.family.moe
    assert moe is not None  # require_moe above
    handles = []
    try:
        for row, layer in enumerate(layers):
            router = a.module(a.path(layer, moe.router))
            handles.append(router.register_forward_hook(hook(row, router_params(subject, layer))))
        with torch.no_grad():
            for start, batch in iter_batches(subject, inputs, batch_size):
                box["mask"] = token_mask(batch["attention_mask"], positions)
                subject.model(**batch)
                acc.end_batch(box["mask"], start)
    finally:
        for h in handles:
            h.remove()
    return acc.result(positions, {"batch_size": batch_size})


# ---------------------------------------------------------------------------- two models
def js_divergence(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """Jensen–Shannon divergence (nats, in [0, ln 2]) between distributions on the last dim."""
    p, q = p / p.sum(-1, keepdim=True), q / q.sum(-1, keepdim=True)
    m = (p + q) / 2
    kl = lambda a, b: (a * (a.clamp_min(1e-30).log() - b.clamp_min(1e-30).log())).sum(-1)
    return (kl(p, m) + kl(q, m)) / 2


@dataclass
class RoutingComparison(Result):
    """Routing of model B (e.g. unlearned) against model A (original) on the same tokens.

    ``overlap[l]`` = mean over tokens of ``|TopK_A ∩ TopK_B| / k`` (UOE's selection overlap; 1 =
    identical routing); ``jsd[l]`` = JS divergence between the two layers' selection-frequency
    distributions; ``frequency_shift[l, e]`` = freq_B − freq_A."""

    kind = "routing_comparison"
    layers: list[int]
    overlap: torch.Tensor  # [layer]
    jsd: torch.Tensor  # [layer]
    frequency_shift: torch.Tensor  # [layer, expert]
    n_tokens: int

    @property
    def mean_overlap(self) -> float:
        return float(self.overlap.mean())

    def plot(self):
        from ...viz import expert_heatmap

        return expert_heatmap(
            self.frequency_shift,
            self.layers,
            title=f"selection shift (mean top-k overlap {self.mean_overlap:.3f})",
            label="Δ frequency",
            diverging=True,
        )


def compare_routing(
    subject_a: Subject, subject_b: Subject, inputs: Sequence[str], *, batch_size: int = 32, positions: str = "all"
) -> RoutingComparison:
    """Top-k selection overlap and JSD between two models of the same architecture on ``inputs``."""
    if (
        subject_a.anatomy.moe_layers != subject_b.anatomy.moe_layers
        or subject_a.anatomy.n_experts != subject_b.anatomy.n_experts
    ):
        raise UnlearnscopeError("compare_routing needs two models with the same MoE layers and experts")
    sa = routing_stats(subject_a, inputs, batch_size=batch_size, positions=positions, keep_tokens=True)
    sb = routing_stats(subject_b, inputs, batch_size=batch_size, positions=positions, keep_tokens=True)
    E = sa.n_experts
    onehot = lambda idx: torch.zeros(*idx.shape[:2], E, dtype=torch.bool).scatter_(2, idx.long(), True)
    inter = (onehot(sa.token_experts) & onehot(sb.token_experts)).sum(-1).float() / sa.top_k  # [tok, layer]
    return RoutingComparison(
        sa.layers,
        inter.mean(0),
        js_divergence(sa.frequency.double(), sb.frequency.double()).float(),
        sb.frequency - sa.frequency,
        sa.n_tokens,
    )


def selection_overlap_tracker(subject: Subject, inputs: Sequence[str], *, batch_size: int = 32) -> Callable[[], float]:
    """A callable ``() -> mean top-k overlap`` of the subject's *current* routing on ``inputs``
    against its routing now (the original): UOE's selection-shift diagnostic during training."""
    base = routing_stats(subject, inputs, batch_size=batch_size, keep_tokens=True)
    E = base.n_experts
    assert base.token_experts is not None  # keep_tokens
    ref = torch.zeros(*base.token_experts.shape[:2], E, dtype=torch.bool).scatter_(2, base.token_experts.long(), True)

    def overlap() -> float:
        now = routing_stats(subject, inputs, batch_size=batch_size, keep_tokens=True).token_experts
        assert now is not None
        cur = torch.zeros_like(ref).scatter_(2, now.long(), True)
        return round(float((ref & cur).sum(-1).float().mean() / base.top_k), 5)

    return overlap
