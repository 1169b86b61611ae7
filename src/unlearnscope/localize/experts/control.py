"""Random-expert controls for routing interventions (the matched-random control of Dahlke et al., MoTE).

    ctl = expert_control(subject, [(0, 7), (1, 5)], evaluate, mode="off", n_random=20)
    ctl.summary()["refusal_rate"]   # baseline, located, delta, random deltas, p-value

``evaluate(subject) -> {metric: float}`` is any behaviour measurement (refusal rate, per-domain
accuracy ...).  The located experts get the intervention (``off`` | ``force`` | ``drop`` |
``gain``), then ``n_random`` sets drawn uniformly from the *other* experts of the same layers,
matched in count per layer, get the same intervention.  A metric's p-value is
``(1 + #{random draws whose |Δ| ≥ |Δ_located|}) / (1 + n_random)``: how often chance experts move
the metric at least as much.  On small organisms intervention effects are seed-dependent and
random experts can break things too, so a located effect only means something beside this control.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...model.routing import RoutingOverride, route
from ...results import Result

if TYPE_CHECKING:
    from ...model.subject import Subject


@dataclass
class ExpertControl(Result):
    kind = "expert_control"
    mode: str
    experts: list[list[int]]
    baseline: dict
    located: dict
    random: list[dict]
    random_experts: list[list[list[int]]]
    config: dict = field(default_factory=dict)

    def delta(self, metric: str) -> float:
        return self.located[metric] - self.baseline[metric]

    def random_deltas(self, metric: str) -> list[float]:
        return [r[metric] - self.baseline[metric] for r in self.random]

    def p_value(self, metric: str) -> float:
        d = abs(self.delta(metric))
        return (1 + sum(abs(x) >= d - 1e-12 for x in self.random_deltas(metric))) / (1 + len(self.random))

    def summary(self) -> dict:
        out = {}
        for m in self.baseline:
            rd = torch.tensor(self.random_deltas(m), dtype=torch.float64)
            out[m] = {
                "baseline": self.baseline[m],
                "located": self.located[m],
                "delta": round(self.delta(m), 5),
                "random_mean_delta": round(float(rd.mean()), 5),
                "random_std_delta": round(float(rd.std()) if len(rd) > 1 else 0.0, 5),
                "random_min_delta": round(float(rd.min()), 5),
                "random_max_delta": round(float(rd.max()), 5),
                "p_value": round(self.p_value(m), 5),
                "n_random": len(rd),
            }
        return out

    def to_dict(self) -> dict:
        return {**super().to_dict(), "summary": self.summary()}

    def plot(self):
        from ...viz.experts import expert_control_figure

        return expert_control_figure(self)


def matched_draws(
    subject: Subject, experts: Sequence[tuple[int, int]], n_random: int, seed: int = 0
) -> list[list[tuple[int, int]]]:
    """``n_random`` expert sets with the same count per layer as ``experts``, drawn from the other
    experts of each layer."""
    a = subject.anatomy
    per_layer: dict[int, set[int]] = {}
    for l, e in experts:
        a.check_expert(l, e)
        per_layer.setdefault(a.check_layer(l), set()).add(e)
    for l, es in per_layer.items():
        if a.n_experts - len(es) < len(es):
            raise UnlearnscopeError(
                f"layer {l}: {len(es)} of {a.n_experts} experts located; too few left to draw matched random sets"
            )
    g = torch.Generator().manual_seed(seed)
    draws = []
    for _ in range(n_random):
        d = []
        for l, es in sorted(per_layer.items()):
            pool = [e for e in range(a.n_experts) if e not in es]
            pick = torch.randperm(len(pool), generator=g)[: len(es)].tolist()
            d += [(l, pool[i]) for i in sorted(pick)]
        draws.append(d)
    return draws


def expert_control(
    subject: Subject,
    experts: Sequence[tuple[int, int]],
    evaluate: Callable[[object], dict],
    *,
    mode: str = "off",
    n_random: int = 20,
    seed: int = 0,
    gain: float = 0.0,
    renormalize: bool = True,
) -> ExpertControl:
    """Apply ``mode`` to the located experts and to ``n_random`` matched random sets; measure each."""
    experts = [tuple(map(int, e)) for e in experts]
    if not experts:
        raise UnlearnscopeError("expert_control: give at least one (layer, expert)")
    if n_random < 1:
        raise UnlearnscopeError("expert_control: n_random must be >= 1")
    draws = matched_draws(subject, experts, n_random, seed)

    def measure(es):
        with route(subject, RoutingOverride.build(mode, es, gain=gain, renormalize=renormalize)):
            return {k: float(v) for k, v in evaluate(subject).items()}

    base = {k: float(v) for k, v in evaluate(subject).items()}
    located = measure(experts)
    rand = [measure(d) for d in draws]
    return ExpertControl(
        mode,
        [list(e) for e in experts],
        base,
        located,
        rand,
        [[list(e) for e in d] for d in draws],
        {"n_random": n_random, "seed": seed, "gain": gain, "renormalize": renormalize},
    )
