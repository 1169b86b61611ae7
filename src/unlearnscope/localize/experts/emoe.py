"""EMoE: emergent experts in a dense FFN (Qiu et al.), so MoE analyses run on dense models.

    em = emergent_experts(subject, n_experts=8, top_k=2)      # balanced k-means on normalised keys
    stats = em.routing_stats(subject, texts)                   # RoutingStats, as for a real MoE
    with em.route(subject, off=[(1, 3)]):                      # switch an emergent expert off
        subject.model(**enc)
    em.components(subject, 1, 3)                               # its neurons as a ComponentSet

**Clustering** (per layer): the MLP's key vectors (rows of the first matrix: ``gate_proj`` for gated
MLPs, ``c_fc``/``intermediate.dense`` otherwise) are L2-normalised and split by size-constrained
k-means into ``n_experts`` clusters of exactly ``d_mlp / n_experts`` neurons (cosine similarity,
seeded k-means++ init; each assignment step is a vectorised capacity-constrained greedy matching:
neurons propose to their most similar non-full cluster, clusters keep their best proposers).

**Gating**: an emergent expert's score on a token is the mean of its neurons' pre-activations
(``mlp.hook_pre``; EMoE's "select=gate").  The routing distribution is the softmax of these scores;
the top-k experts are "selected".  `routing_stats` reports exactly the `RoutingStats` fields.
`route` intervenes on ``mlp.hook_post`` (the neurons' activations): ``off`` zeroes an expert's
neurons, ``gain`` scales them; with ``gated=True`` the dense FFN runs as an EMoE (only the top-k
experts' neurons stay active), ``off`` masks an expert before selection and ``force`` keeps it
selected.  Positions are all tokens; the hooks act in ``generate()`` too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ...errors import OutOfRangeError, UnlearnscopeError
from ...model.activations import capture
from ...model.batching import iter_batches, token_mask
from ...model.components import ComponentSet
from ...results import Result
from .routing_statistics import RoutingAccumulator, RoutingStats

if TYPE_CHECKING:
    from ...model.subject import Subject


def balanced_kmeans(x: torch.Tensor, n_clusters: int, *, iters: int = 30, seed: int = 0) -> torch.Tensor:
    """``[n]`` cluster ids of the rows of ``x [n, d]`` (cosine), every cluster exactly ``n / n_clusters``."""
    n = x.shape[0]
    if n_clusters < 1 or n % n_clusters:
        raise UnlearnscopeError(
            f"balanced clustering needs n_experts dividing d_mlp: {n} neurons into {n_clusters} experts"
        )
    cap = n // n_clusters
    x = torch.nn.functional.normalize(x.float(), dim=-1)
    g = torch.Generator().manual_seed(seed)
    # k-means++ init on cosine distance
    cent = [x[int(torch.randint(n, (1,), generator=g))]]
    for _ in range(1, n_clusters):
        d = (1 - x @ torch.stack(cent).T).clamp_min(0).min(1).values
        cent.append(x[int(torch.multinomial(d + 1e-12, 1, generator=g))])
    c = torch.stack(cent)
    assign = None
    for _ in range(iters):
        new = _capacity_assign(x @ c.T, cap)
        if assign is not None and torch.equal(new, assign):
            break
        assign = new
        c = torch.nn.functional.normalize(torch.zeros_like(c).index_add_(0, assign, x), dim=-1)
    return assign


def _capacity_assign(sim: torch.Tensor, cap: int) -> torch.Tensor:
    """Greedy matching in rounds: unassigned rows propose to their best non-full column; each
    column accepts its best proposers up to its remaining capacity."""
    n, k = sim.shape
    assign = torch.full((n,), -1, dtype=torch.long)
    left = torch.full((k,), cap, dtype=torch.long)
    for _ in range(k + 1):
        todo = (assign < 0).nonzero().squeeze(1)
        if not len(todo):
            break
        s = sim[todo].masked_fill((left == 0)[None, :], float("-inf"))
        best_score, best = s.max(1)
        order = torch.argsort(best_score, descending=True, stable=True)
        order = order[torch.argsort(best[order], stable=True)]  # grouped by column, best first
        col = best[order]
        first = torch.searchsorted(col, col, right=False)
        rank = torch.arange(len(col)) - first
        ok = rank < left[col]
        assign[todo[order[ok]]] = col[ok]
        left -= torch.bincount(col[ok], minlength=k)
    return assign


@dataclass
class EmergentExperts(Result):
    """Cluster ids of every clustered layer's neurons (``assignments[layer]`` is ``[d_mlp]``)."""

    kind = "emergent_experts"
    layers: list[int]
    n_experts: int
    top_k: int
    assignments: dict  # layer (str in JSON) -> LongTensor [d_mlp]
    config: dict = field(default_factory=dict)

    def assignment(self, layer: int) -> torch.Tensor:
        a = self.assignments.get(layer, self.assignments.get(str(layer)))
        if a is None:
            raise OutOfRangeError(f"layer {layer} was not clustered; clustered layers are {self.layers}")
        return a

    def neurons(self, layer: int, expert: int) -> list[int]:
        if not 0 <= expert < self.n_experts:
            raise OutOfRangeError(f"emergent expert {expert} is out of range (0..{self.n_experts - 1})")
        return (self.assignment(layer) == expert).nonzero().squeeze(1).tolist()

    def order(self, layer: int) -> torch.Tensor:
        """Neuron permutation grouping each expert's neurons contiguously (expert-major)."""
        return torch.argsort(self.assignment(layer), stable=True)

    def components(self, subject, layer: int, expert: int):
        """The expert's neurons (key, up rows, value vectors, biases) as a `ComponentSet` (edits, unlearning)."""
        js = self.neurons(layer, expert)
        idx = "[" + ",".join(map(str, js)) + "]"
        return ComponentSet.parse(subject, [f"blocks.{layer}.mlp.neuron:{idx}"])

    def scores(self, pre: torch.Tensor, layer: int) -> torch.Tensor:
        """``[..., expert]`` gate scores: mean pre-activation of each expert's neurons."""
        o = self.order(layer).to(pre.device)
        return pre.index_select(-1, o).unflatten(-1, (self.n_experts, -1)).float().mean(-1)

    def _selection(self, pre, layer, off=None, force=None):
        s = self.scores(pre, layer)
        choice = s
        if force is not None:
            choice = choice + force.to(s.device) * 1e4
        if off is not None:
            choice = choice.masked_fill(off.to(s.device), float("-inf"))
        return s, choice.topk(self.top_k, dim=-1)[1]

    # ------------------------------------------------------------------ statistics
    def routing_stats(self, subject, inputs, *, batch_size: int = 32, positions: str = "all") -> RoutingStats:
        """`RoutingStats` of the emergent experts (softmax over expert scores; top-k selection)."""
        acc = RoutingAccumulator(self.layers, self.n_experts, self.top_k, subject.device)
        names = [f"blocks.{l}.mlp.hook_pre" for l in self.layers]
        with torch.no_grad():
            for start, batch in iter_batches(subject, inputs, batch_size):
                m = token_mask(batch["attention_mask"], positions)
                with capture(subject, names) as cache:
                    subject.model(**batch)
                for r, l in enumerate(self.layers):
                    s, idx = self._selection(cache[names[r]].to(m.device), l)
                    p = torch.softmax(s, -1).reshape(m.numel(), -1)
                    idx = idx.reshape(m.numel(), -1)
                    acc.add(r, p, p, p.gather(1, idx), idx, m)  # every selected expert is used with its softmax share
                acc.end_batch(m, start)
        return acc.result(positions, {"emergent": True})

    # ------------------------------------------------------------------ interventions
    @contextmanager
    def route(
        self, subject, *, off: Iterable = (), force: Iterable = (), gain: Mapping | None = None, gated: bool = False
    ):
        """Intervene on emergent experts (see the module docstring); undone on exit."""
        off, force = [tuple(e) for e in off], [tuple(e) for e in force]
        gain = {tuple(k): float(v) for k, v in (gain or {}).items()}
        if force and not gated:
            raise UnlearnscopeError(
                "force needs gated=True: in the dense model every emergent expert is already active"
            )
        for l, e in off + force + list(gain):
            self.neurons(l, e)
        layers = sorted(set(self.layers) if gated else {l for l, _ in off + force + list(gain)})
        hooks = []
        for l in layers:
            d = self.assignment(l)
            mask = lambda es: (
                (torch.bincount(torch.tensor(es, dtype=torch.long), minlength=self.n_experts) > 0) if es else None
            )
            off_m, force_m = mask([e for ll, e in off if ll == l]), mask([e for ll, e in force if ll == l])
            g = torch.ones(self.n_experts)
            for (ll, e), v in gain.items():
                if ll == l:
                    g[e] = v
            box: dict = {}
            if gated:

                def pre_fn(act, point, l=l, off_m=off_m, force_m=force_m, box=box):
                    _, idx = self._selection(act, l, off_m, force_m)
                    box["keep"] = torch.zeros(*idx.shape[:-1], self.n_experts, device=act.device).scatter_(-1, idx, 1.0)

                hooks.append((f"blocks.{l}.mlp.hook_pre", pre_fn))

            def post_fn(act, point, d=d, off_m=off_m, g=g, box=box):
                per_expert = g.clone().to(act.device)
                if off_m is not None and not gated:
                    per_expert = per_expert.masked_fill(off_m.to(act.device), 0.0)
                scale = (
                    per_expert[None, None, :].expand(*act.shape[:-1], -1)
                    if "keep" not in box
                    else box["keep"] * per_expert
                )
                return act * scale.index_select(-1, d.to(act.device)).to(act.dtype)

            hooks.append((f"blocks.{l}.mlp.hook_post", post_fn))
        with subject.hooks(hooks):
            yield self


def emergent_experts(
    subject: Subject,
    n_experts: int,
    *,
    top_k: int | None = None,
    layers: Iterable[int] | None = None,
    seed: int = 0,
    iters: int = 30,
) -> EmergentExperts:
    """Cluster every dense MLP layer's neurons (or ``layers``) into ``n_experts`` emergent experts."""
    a = subject.anatomy
    dense = [l for l in range(a.n_layers) if l not in a.moe_layers]
    layers = [a.check_layer(l) for l in layers] if layers is not None else dense
    bad = [l for l in layers if l in a.moe_layers]
    if bad or not layers:
        raise UnlearnscopeError(
            f"EMoE clusters dense MLP layers; layers {bad or layers} are MoE layers or none are dense"
        )
    top_k = top_k or max(1, n_experts // 4)
    if not 1 <= top_k <= n_experts:
        raise OutOfRangeError(f"top_k must be in 1..{n_experts}, got {top_k}")
    assign = {l: balanced_kmeans(a.keys(l).detach().cpu(), n_experts, iters=iters, seed=seed) for l in layers}
    return EmergentExperts(
        layers, n_experts, top_k, assign, {"seed": seed, "iters": iters, "keys": "first MLP matrix, L2-normalised"}
    )
