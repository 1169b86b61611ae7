"""Expert attribution (UOE / SEUF): which routed experts a forget set relies on.

    ranking = uoe_attribution(subject, forget_texts)         # ExpertRanking by UOE affinity
    ranking.top(1)                                           # [(layer, expert, score)] across layers
    ranking.top(6, layer=1)                                  # within one layer
    stability = attribution_stability(subject, forget_texts, top=6)   # two disjoint halves

The score of (layer ℓ, expert e) is its UOE affinity (`routing_stats.RoutingStats.affinity`): the
mean over sequences of the per-sequence mean top-k-masked gate.  A ``contrast`` set turns it into
a differential score ``s_forget − s_contrast`` (experts the forget data uses *more* than other
data), which separates topic experts from generally busy ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...results import Result
from ..ranking import spearman
from .routing_statistics import routing_stats

if TYPE_CHECKING:
    from ...model.subject import Subject


@dataclass
class ExpertRanking(Result):
    """Per-(layer, expert) scores and their ranking; higher = more tied to the target data."""

    kind = "expert_ranking"
    method: str
    layers: list[int]
    scores: torch.Tensor  # [layer, expert]
    config: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)

    def top(self, n: int | None = None, layer: int | None = None) -> list[tuple[int, int, float]]:
        """``[(layer, expert, score)]`` best first, across all MoE layers or within ``layer``."""
        rows = range(len(self.layers))
        if layer is not None:
            if layer not in self.layers:
                raise UnlearnscopeError(f"layer {layer} is not an MoE layer; MoE layers are {self.layers}")
            rows = [self.layers.index(layer)]
        flat = [(self.layers[r], e, float(self.scores[r, e])) for r in rows for e in range(self.scores.shape[1])]
        flat.sort(key=lambda t: -t[2])
        return flat[:n] if n is not None else flat

    def top_per_layer(self, n: int) -> list[tuple[int, int, float]]:
        """The best ``n`` experts of every layer (e.g. MoTE's per-layer refusal experts)."""
        return [t for l in self.layers for t in self.top(n, layer=l)]

    def ranked_experts(self, n: int | None = None) -> list[dict]:
        """JSON-able ``[{layer, expert, score}]`` (the CLI contract)."""
        return [{"layer": l, "expert": e, "score": round(s, 6)} for l, e, s in self.top(n)]

    def plot(self):
        from ...viz import expert_heatmap

        return expert_heatmap(
            self.scores,
            self.layers,
            title=f"{self.method} expert scores",
            label="score",
            diverging=bool((self.scores < 0).any()),
        )


def uoe_attribution(
    subject: Subject,
    forget: Sequence[str],
    *,
    contrast: Sequence[str] | None = None,
    batch_size: int = 32,
    positions: str = "all",
) -> ExpertRanking:
    """Rank experts by UOE affinity on ``forget`` (texts or a tokenizer dict); with ``contrast``,
    by the affinity difference forget − contrast."""
    st = routing_stats(subject, forget, batch_size=batch_size, positions=positions)
    scores, method = st.affinity, "uoe_affinity"
    cfg = {"n_sequences": st.n_sequences, "n_tokens": st.n_tokens, "positions": positions}
    if contrast is not None:
        ct = routing_stats(subject, contrast, batch_size=batch_size, positions=positions)
        scores, method = st.affinity - ct.affinity, "uoe_affinity_differential"
        cfg["contrast_sequences"] = ct.n_sequences
    return ExpertRanking(method, st.layers, scores, cfg)


def top_overlap(a: ExpertRanking, b: ExpertRanking, n: int, layer: int | None = None) -> float:
    """``|top_n(a) ∩ top_n(b)| / n`` (UOE's robustness measure)."""
    ta = {(l, e) for l, e, _ in a.top(n, layer)}
    tb = {(l, e) for l, e, _ in b.top(n, layer)}
    return len(ta & tb) / max(1, min(n, len(ta)))


def attribution_stability(
    subject: Subject,
    forget: Sequence[str],
    *,
    top: int = 6,
    seed: int = 0,
    batch_size: int = 32,
    layer: int | None = None,
) -> dict:
    """Split ``forget`` (a list of texts) into two random disjoint halves, rank experts on each,
    and report the overlap of their top-``top`` sets (1 = the same experts) and the Spearman
    correlation of all scores."""
    texts = list(forget)
    if len(texts) < 2:
        raise UnlearnscopeError(f"attribution stability needs at least 2 forget texts, got {len(texts)}")
    perm = torch.randperm(len(texts), generator=torch.Generator().manual_seed(seed)).tolist()
    half = len(texts) // 2
    a = uoe_attribution(subject, [texts[i] for i in perm[:half]], batch_size=batch_size)
    b = uoe_attribution(subject, [texts[i] for i in perm[half:]], batch_size=batch_size)
    return {
        "top": top,
        "overlap": top_overlap(a, b, top, layer),
        "spearman": spearman(a.scores.flatten(), b.scores.flatten()),
        "n_half": [half, len(texts) - half],
        "top_a": a.top(top, layer),
        "top_b": b.top(top, layer),
    }
