"""Parametric traces (Hong et al., ConceptVectors: how far unlearning moved the located vectors; and the
geometry of the weight update).

Compare located vectors and whole weights between the original model and an unlearned one:

* per located vector ``v`` (ORIG) and ``v'`` (unlearned): ``cos(v, v')``, ``‖v' − v‖``,
  ``‖v' − v‖ / ‖v‖`` (cos alone cannot see shrinkage) and Jaccard@k of the top-k tokens of the raw
  vocabulary projections ``W_U v`` and ``W_U v'`` (each model's own unembedding), k ∈ {50, 100, 200}
  clipped to the vocabulary size;
* ``region_share``: the share of ``‖ΔW‖²`` (over all parameters) inside the located region (a
  `ComponentSet`);
* per-module ``‖ΔW‖_F`` and, for matrices, the effective rank of ΔW (exp of the entropy of the
  normalised singular values; 0 for no change).
The two models must have the same architecture; nothing is modified.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..errors import UnlearnscopeError
from ..results import Result

if TYPE_CHECKING:
    from ..model.components import ComponentSet
    from ..model.subject import Subject

JACCARD_KS = (50, 100, 200)


def _vector(subject, layer: int, neuron: int, expert=None) -> torch.Tensor:
    return subject.anatomy.values(layer, expert)[neuron].detach().float()


def jaccard_top_k(z1: torch.Tensor, z2: torch.Tensor, k: int) -> torch.Tensor:
    """Row-wise Jaccard of top-k index sets of ``z1, z2 [n, vocab]`` → ``[n]``."""
    k = min(k, z1.shape[-1])
    a = torch.zeros_like(z1, dtype=torch.bool).scatter_(-1, z1.topk(k, -1).indices, True)
    b = torch.zeros_like(z2, dtype=torch.bool).scatter_(-1, z2.topk(k, -1).indices, True)
    return (a & b).sum(-1).float() / (a | b).sum(-1).float()


def effective_rank(delta: torch.Tensor) -> float:
    if delta.ndim != 2 or not bool(delta.any()):
        return 0.0
    s = torch.linalg.svdvals(delta.float())
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


@dataclass
class ParametricTraces(Result):
    kind = "parametric_traces"
    vectors: list[dict]  # {layer, neuron, expert, cos, delta_norm, relative_change, jaccard@k}
    region_share: float | None
    total_delta_norm: float
    modules: list[dict] = field(default_factory=list)  # {param, delta_norm, relative, effective_rank}

    def summary(self) -> dict:
        if not self.vectors:
            return {"region_share": self.region_share, "total_delta_norm": self.total_delta_norm}
        mean = lambda k: sum(v[k] for v in self.vectors) / len(self.vectors)
        return {
            "n_vectors": len(self.vectors),
            "mean_cos": mean("cos"),
            "mean_relative_change": mean("relative_change"),
            **{f"mean_jaccard@{k}": mean(f"jaccard@{k}") for k in JACCARD_KS},
            "region_share": self.region_share,
            "total_delta_norm": self.total_delta_norm,
        }

    def plot(self):
        from ..viz.verify import parametric_figure

        return parametric_figure(self)


@torch.no_grad()
def _unembed(subject: Subject) -> torch.Tensor:
    """``[d_vocab, d_model]`` fp32: the Jaccard overlaps read the vocabulary through it."""
    if subject.anatomy.unembed is None:
        raise UnlearnscopeError("parametric traces project vectors onto the vocabulary: the model needs an LM head")
    return subject.anatomy.unembed.float()


def parametric_traces(
    original: Subject,
    unlearned: Subject,
    vectors: Sequence[tuple[int, ...] | dict] = (),
    region: ComponentSet | None = None,
) -> ParametricTraces:
    """``vectors``: ``(layer, neuron)`` or ``(layer, neuron, expert)`` tuples, or dicts with those
    keys (e.g. ``ConceptScan.top`` rows).  ``region``: a `ComponentSet` (on ``original``)."""
    p0 = dict(original.model.named_parameters())
    p1 = dict(unlearned.model.named_parameters())
    if p0.keys() != p1.keys() or any(p0[k].shape != p1[k].shape for k in p0):
        raise UnlearnscopeError(
            "parametric traces need two models of the same architecture (parameter names and shapes differ)"
        )
    rows = []
    for v in vectors:
        layer, neuron, expert = (
            (v["layer"], v["neuron"], v.get("expert")) if isinstance(v, dict) else (tuple(v) + (None,))[:3]
        )
        layer, neuron = int(layer), int(neuron)  # type: ignore[arg-type]  # a vector always has both
        a, b = _vector(original, layer, neuron, expert), _vector(unlearned, layer, neuron, expert)
        z = torch.stack([_unembed(original) @ a, _unembed(unlearned) @ b])
        d = (b - a).norm()
        row = {
            "layer": layer,
            "neuron": neuron,
            "expert": expert,
            "cos": float(torch.nn.functional.cosine_similarity(a, b, 0)),
            "delta_norm": float(d),
            "relative_change": float(d / a.norm().clamp_min(1e-12)),
        }
        row.update({f"jaccard@{k}": float(jaccard_top_k(z[:1], z[1:], k)[0]) for k in JACCARD_KS})
        rows.append(row)
    modules, total = [], 0.0
    seen = set()
    for name, w0 in p0.items():
        if w0.data_ptr() in seen:  # tied weights count once
            continue
        seen.add(w0.data_ptr())
        delta = p1[name].detach().float() - w0.detach().float()
        dn = float(delta.norm())
        total += dn**2
        modules.append(
            {
                "param": name,
                "delta_norm": dn,
                "relative": dn / max(float(w0.float().norm()), 1e-12),
                "effective_rank": effective_rank(delta) if dn > 0 else 0.0,
            }
        )
    share = None
    if region is not None and total > 0:
        inside = sum(
            float(((p1[n].detach().float() - p0[n].detach().float())[m]).norm() ** 2)
            for n, m in region.masks(original).items()
        )
        share = inside / total
    return ParametricTraces(rows, share, total**0.5, modules)
