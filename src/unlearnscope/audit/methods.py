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
    name: str
    description: str
    run: Callable  # (ctx, subject) -> info dict; edits subject in place


def unlearn_config(c, lr: float, method: str = "ga"):
    """The audit's unlearning run: ``c.max_steps`` at most, stopped at forget recall <= ``c.stop_at``."""
    from ..ablate.unlearn import UnlearnConfig

    return UnlearnConfig(method=method, steps=c.max_steps, lr=lr, batch_size=c.batch_size, seed=c.seed, eval_every=2,
                         stop_at_forget_acc=c.stop_at)


def unlearning_summary(res, lr: float) -> dict:
    """What an unlearning run did, as the report's interventions section shows it."""
    return {"unlearning": {"method": res.method, "lr": lr, "steps": res.steps, "stopped": res.stopped,
                           "n_params_trained": res.n_params_trained, "forget_recall_curve": [list(p) for p in res.forget_metric_curve]}}


def check_methods(names, table: dict) -> list[Method]:
    bad = [n for n in names if n not in table]
    if bad or not names:
        raise UnlearnscopeError(f"unknown audit methods {bad or names}; choose from {list(table)}")
    return [table[n] for n in names]


def timed(method: Method, ctx, subject) -> dict:
    t0 = time.perf_counter()
    info = method.run(ctx, subject)
    return {"description": method.description, **info, "seconds": round(time.perf_counter() - t0, 2)}
