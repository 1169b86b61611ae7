"""The interventions an audit compares, as tables: name → what it does to a fresh copy of ORIG.

A `Method` runs on ``(ctx, subject)`` (`plan.AuditContext`, a fresh copy of ORIG it edits in
place) and returns a description of what it changed (components, steps, curves).  The tables
live with their targets: `facts.FACT_METHODS`, `moe.MOE_METHODS`.  Every unlearning run uses the
same budget and stopping rule (`unlearn_config`), so methods are compared at equal behavioural
forgetting.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from ..errors import UnlearnscopeError


@dataclass(frozen=True)
class Method:
    """``run(ctx, subject) -> info`` edits a fresh copy of ORIG in place; ``noise(ctx, subject,
    infos, data) -> info`` builds that method's NOISE control on another fresh copy (the same
    kind and size of change aimed at nothing: the same training on held-out data, or the same
    number of random units); ``intervention``: ``weights`` or ``inference-time`` (held by the
    plan while verifying); a ``deterministic`` method runs once, not once per seed."""

    name: str
    description: str
    run: Callable
    noise: Callable | None = None
    intervention: str = "weights"
    deterministic: bool = False


def unlearn_config(ctx, lr: float, method: str = "ga", **paper):
    """The audit's unlearning run: ``max_steps`` at most, stopped at forget recall <= ``stop_at``,
    batch order from the run's seed; ``paper``: the method's own settings from its paper (loss
    weights, β, schedule), which the audit's budget and learning rate do not replace."""
    from ..ablate.unlearn import UnlearnConfig

    c = ctx.config
    return UnlearnConfig(method=method, steps=c.max_steps, lr=lr, batch_size=c.batch_size, seed=ctx.seed, eval_every=2,
                         stop_at_forget_acc=c.stop_at, **paper)


def unlearning_summary(res, lr: float) -> dict:
    """What an unlearning run did, as the report's interventions section shows it."""
    keep = ("forget_weight", "retain_weight", "beta", "schedule", "warmup_steps", "loss_on", "rmu_layer", "rmu_scale")
    return {"unlearning": {"method": res.method, "lr": lr, "steps": res.steps, "stopped": res.stopped,
                           "n_params_trained": res.n_params_trained, "forget_recall_curve": [list(p) for p in res.forget_metric_curve],
                           "settings": {k: res.config[k] for k in keep if res.config.get(k) is not None}}}


def check_methods(names, table: dict) -> list[Method]:
    bad = [n for n in names if n not in table]
    if bad:
        raise UnlearnscopeError(f"unknown audit methods {bad}; choose from {list(table)}")
    return [table[n] for n in names]


def timed(method: Method, ctx, subject) -> dict:
    t0 = time.perf_counter()
    info = method.run(ctx, subject)
    return {"description": method.description, **info, "seed": ctx.seed, "seconds": round(time.perf_counter() - t0, 2)}


def longest_run(infos: list[dict]) -> dict:
    """The unlearning summary of the run with the most steps (what a NOISE control matches)."""
    return max((i["unlearning"] for i in infos if "unlearning" in i), key=lambda u: u["steps"])


def runs_summary(method: Method, infos: list[dict]) -> dict:
    """The interventions section's entry: the first seed's run, and one line per seed."""
    per_seed = []
    for i in infos:
        u = i.get("unlearning") or {}
        stopped = next((i[k]["stopped"] for k in ("unlearning", "ablation", "routing", "neuron_adjust", "key_space") if (i.get(k) or {}).get("stopped")), None)
        curve = u.get("forget_recall_curve") or []
        per_seed.append({"seed": i["seed"], "steps": u.get("steps"), "stopped": stopped,
                         "forget_recall": curve[-1][1] if curve else None, "seconds": i["seconds"]})
    return {**infos[0], "intervention": method.intervention, "seeds": per_seed,
            "deterministic": method.deterministic}
