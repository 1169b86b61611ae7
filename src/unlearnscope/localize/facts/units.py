"""Unit-level localization and its random-control validation.

Units are MLP neurons of dense layers (``blocks.L.mlp.hook_post[..., j]``; zeroing one equals
zeroing value vector ``j``) and routed experts of MoE layers (``blocks.L.moe.experts.E.hook_out``).

* `unit_attribution`: attribution patching per unit (subject swap, a patching metric — default
  the logit difference; one corrupted forward + backward, one clean forward), summed over
  positions and averaged over facts.  Score = estimated fraction of ``M_clean − M_corrupt`` the
  unit carries.
* `random_control`: zero-ablate a unit set and ``n_random`` random sets with the same number of
  units of the same kind in each layer (excluding the set itself); compare the drop in mean
  ``p(answer)`` of target facts (and of unrelated facts).  Empirical p-value
  ``(1 + #{random drop >= located drop}) / (1 + n_random)``.  All sets run batched (the facts
  are replicated once per set inside a forward).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ...data import encode_facts
from ...errors import OutOfRangeError, UnlearnscopeError
from ...progress import bar
from ...results import Result
from .attribution import attribution_terms
from .corruption import clean_and_corrupt, recovered_denominator
from .metrics import PatchingMetric, resolve_metric
from .points import last_logits

if TYPE_CHECKING:
    from ...data.records import FactsLike
    from ...model.subject import Subject


def unit_kind(subject, layer: int) -> tuple[str, int]:
    a = subject.anatomy
    return ("expert", a.n_experts) if layer in a.moe_layers else ("neuron", a.d_mlp)


@dataclass
class UnitScores(Result):
    """``scores[l]`` holds one score per unit of layer ``l`` (``unit_kinds[l]``: neuron | expert)."""

    kind = "unit_attribution"
    unit_kinds: list[str]
    scores: list[torch.Tensor]
    n_facts: int
    baseline: dict = field(default_factory=dict)

    def top(self, n: int, layers=None) -> list[tuple[int, str, int, float]]:
        """The ``n`` best units ``(layer, kind, index, score)`` (optionally within ``layers``)."""
        cand = [
            (l, self.unit_kinds[l], j, float(s))
            for l, sc in enumerate(self.scores)
            if layers is None or l in layers
            for j, s in enumerate(sc.tolist())
        ]
        return sorted(cand, key=lambda r: -r[3])[:n]

    def plot(self):
        from ...viz.localize import unit_scores_figure

        return unit_scores_figure(self)


def _unit_point(kind: str, layer: int, e: int | None = None) -> str:
    return f"blocks.{layer}.mlp.hook_post" if kind == "neuron" else f"blocks.{layer}.moe.experts.{e}.hook_out"


def unit_attribution(
    subject: Subject,
    facts: FactsLike,
    corrupt: str | FactsLike | None = None,
    *,
    metric: str | PatchingMetric = "logit_diff",
    seed: int = 0,
    batch_size: int = 64,
) -> UnitScores:
    name, fn = resolve_metric(metric)
    clean, corr = clean_and_corrupt(subject, facts, corrupt, seed)
    a = subject.anatomy
    kinds = [unit_kind(subject, l) for l in range(a.n_layers)]
    points = {
        l: ([_unit_point("neuron", l)] if k == "neuron" else [_unit_point("expert", l, e) for e in range(n)])
        for l, (k, n) in enumerate(kinds)
    }
    flat = [p for ps in points.values() for p in ps]
    scores = [torch.zeros(n, device=subject.device) for _, n in kinds]  # summed on the device, read once at the end
    m_clean = m_corr = 0.0
    for _, terms, c, x in attribution_terms(subject, clean, corr, flat, batch_size, fn):
        m_clean, m_corr = m_clean + c, m_corr + x
        for l, (k, _) in enumerate(kinds):
            if k == "neuron":  # [b, pos, d_mlp] -> one score per neuron
                scores[l] += terms[points[l][0]].sum((0, 1)).to(scores[l].device)
            else:  # one hook per expert -> one score per expert
                scores[l] += torch.stack([terms[p].sum() for p in points[l]]).to(scores[l].device)
    n = len(clean)
    scores = [sc.cpu() for sc in scores]
    m_clean, m_corr = float(m_clean), float(m_corr)
    denom = recovered_denominator(m_clean / n, m_corr / n)
    return UnitScores(
        [k for k, _ in kinds],
        [sc / n / denom for sc in scores],
        n,
        {"metric": name, "clean": m_clean / n, "corrupted": m_corr / n},
    )


# ---------------------------------------------------------------------------- random controls
@dataclass
class RandomControl(Result):
    """Drops are ``mean p(answer)`` before − after ablation (positive = recall fell)."""

    kind = "random_control"
    units: list[list]  # [layer, kind, index]
    n_random: int
    target_drop: float
    unrelated_drop: float | None
    random_target_drops: list[float]
    random_unrelated_drops: list[float] | None
    p_value: float
    target_base: float
    unrelated_base: float | None

    @property
    def specificity(self) -> float | None:
        """target drop / unrelated drop (large = specific; None without unrelated facts)."""
        if self.unrelated_drop is None:
            return None
        return self.target_drop / max(abs(self.unrelated_drop), 1e-9)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "specificity": self.specificity}

    def plot(self):
        from ...viz.localize import random_control_figure

        return random_control_figure(self)


def _check_units(subject, units) -> list[tuple[int, str, int]]:
    if not units:
        raise UnlearnscopeError("empty unit set: give at least one (layer, kind, index)")
    out = []
    for u in units:
        l, k, j = int(u[0]), str(u[1]), int(u[2])
        l = subject.anatomy.check_layer(l)
        kind, n = unit_kind(subject, l)
        if k != kind:
            raise UnlearnscopeError(f"layer {l} has {kind} units, not {k}")
        if not 0 <= j < n:
            raise OutOfRangeError(f"{k} {j} is out of range for layer {l} (0..{n - 1})")
        out.append((l, k, j))
    return out


def _ablation_hooks(subject, keep: dict[int, torch.Tensor], n_sets: int):
    """Hooks zeroing units where ``keep[l][s, j] == 0`` in the rows of set ``s``."""
    hooks = []
    for l, k in keep.items():
        kind, n = unit_kind(subject, l)
        if kind == "neuron":
            hooks.append(
                (
                    _unit_point("neuron", l),
                    lambda act, p, k=k: (act.view(n_sets, -1, *act.shape[1:]) * k[:, None, None].to(act.dtype)).view_as(
                        act
                    ),
                )
            )
        else:
            for e in range(n):
                hooks.append(
                    (
                        _unit_point("expert", l, e),
                        lambda act, p, k=k, e=e: (
                            act.view(n_sets, -1, act.shape[-1]) * k[:, e, None, None].to(act.dtype)
                        ).view_as(act),
                    )
                )
    return hooks


@torch.no_grad()
def _mean_p_per_set(subject, enc, keep, n_sets) -> torch.Tensor:
    inputs = {"input_ids": enc.input_ids.repeat(n_sets, 1), "attention_mask": enc.attention_mask.repeat(n_sets, 1)}
    with subject.hooks(_ablation_hooks(subject, keep, n_sets)):
        logits = last_logits(subject.model(**inputs), enc.last, n_sets)
    p = logits.softmax(-1).gather(1, enc.answer.repeat(n_sets)[:, None])[:, 0]
    return p.view(n_sets, -1).mean(-1).cpu()


def random_control(
    subject: Subject,
    units: Sequence[tuple[int, str, int]],
    target: FactsLike,
    unrelated: FactsLike | None = None,
    *,
    n_random: int = 100,
    seed: int = 0,
    max_rows: int = 4096,
) -> RandomControl:
    units = _check_units(subject, units)
    if n_random < 1:
        raise UnlearnscopeError("n_random must be >= 1")
    tgt = encode_facts(subject, target)
    unr = encode_facts(subject, unrelated) if unrelated is not None else None
    per_layer: dict[int, list[int]] = {}
    for l, _, j in units:
        per_layer.setdefault(l, []).append(j)
    g = torch.Generator().manual_seed(seed)
    S = n_random + 1  # set 0 = the located units
    keep = {}
    for l, js in per_layer.items():
        _, n = unit_kind(subject, l)
        located = torch.tensor(sorted(set(js)))
        if n - len(located) < len(located):
            raise UnlearnscopeError(
                f"layer {l}: {len(located)} of {n} units located; too few left to draw matched random sets"
            )
        pool = torch.tensor([j for j in range(n) if j not in set(js)])
        draws = pool[torch.rand(n_random, len(pool), generator=g).argsort(1)[:, : len(located)]]  # [n_random, count]
        k = torch.ones(S, n)
        k[0, located] = 0
        k[torch.arange(1, S)[:, None], draws] = 0
        keep[l] = k.to(subject.device)

    def drops(enc):
        base = _mean_p_per_set(subject, enc, {}, 1)[0]
        per = max(1, max_rows // len(enc))
        vals = torch.cat(
            [
                _mean_p_per_set(subject, enc, {l: k[s : s + per] for l, k in keep.items()}, min(per, S - s))
                for s in bar(range(0, S, per), f"random unit sets ({S - 1})")
            ]
        )
        return float(base), (base - vals)

    tb, td = drops(tgt)
    ub, ud = drops(unr) if unr is not None else (None, None)
    p = (1 + int((td[1:] >= td[0]).sum())) / (1 + n_random)
    return RandomControl(
        [list(u) for u in units],
        n_random,
        float(td[0]),
        None if ud is None else float(ud[0]),
        td[1:].tolist(),
        None if ud is None else ud[1:].tolist(),
        p,
        tb,
        ub,
    )
