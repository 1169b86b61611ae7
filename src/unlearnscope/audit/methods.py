"""The interventions an audit compares, as a table: name → what it does to a fresh copy of ORIG.

Every method gets the same located units (`localize.localize_target`) and the same stopping rule
(forget recall ≤ ``stop_at``), so methods are compared at equal behavioural forgetting.  A method
returns the edited model and a description of what it changed (components, steps, curve).

Facts methods: ``ga`` (full-model gradient ascent), ``graddiff`` (full model, with a retain term),
``localized`` (gradient ascent on the located components only), ``ablate`` (the located value
vectors zeroed, no training), ``ablate+localized`` (both).  MoE refusal methods live in `moe.py`.
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


def _unlearn(ctx, subject, *, components=None, method="ga", lr=None, retain=False) -> dict:
    from ..ablate.unlearn import unlearn

    lr = lr or ctx.config.full_lr
    res = unlearn(subject, ctx.target.forget_items, ctx.target.retain_items if retain else None, components=components,
                  config=unlearn_config(ctx.config, lr, method), progress=ctx.progress)
    return unlearning_summary(res, lr)


def _vectors(subject, pairs):
    from ..ablate import ComponentSet

    return ComponentSet.from_slices(subject, [subject.anatomy.value_slice(l, [j]) for l, j in pairs],
                                    [f"blocks.{l}.mlp.value:{j}" for l, j in pairs])


def _components(ctx, subject):
    from ..ablate import ComponentSet

    return ComponentSet.parse(subject, list(ctx.localization["components"]))


def run_ga(ctx, subject) -> dict:
    return {**_unlearn(ctx, subject), "region": None}


def run_graddiff(ctx, subject) -> dict:
    return {**_unlearn(ctx, subject, method="graddiff", lr=ctx.config.localized_lr, retain=True), "region": None}


def run_localized(ctx, subject) -> dict:
    comps = _components(ctx, subject)
    return {**_unlearn(ctx, subject, components=comps, lr=ctx.config.localized_lr), "region": comps.names}


def run_ablate(ctx, subject) -> dict:
    """Zero the top ``top_vectors`` located value vectors; while forget recall is above
    ``stop_at``, double the count (along the attribution ranking, up to ``max_vectors``), so the
    ablation is compared with the unlearning runs at the same behavioural forgetting."""
    from ..ablate import ablate
    from ..organisms.train import accuracy

    ranking, c = ctx.localization["vector_ranking"], ctx.config
    items = ctx.target.forget_items
    curve, n, done = [[0, accuracy(subject.model, subject.tokenizer, items)]], 0, 0
    while True:
        n = min(len(ranking), max(c.top_vectors, 2 * n))
        ablate(subject, _vectors(subject, ranking[done:n]), "zero")
        done = n
        curve.append([n, accuracy(subject.model, subject.tokenizer, items)])
        if curve[-1][1] <= c.stop_at or n >= len(ranking):
            break
    stopped = "forget_metric" if curve[-1][1] <= c.stop_at else "max_vectors"
    vec = _vectors(subject, ranking[:n])
    return {"ablation": {"mode": "zero", "n_vectors": n, "n_params": vec.n_params, "stopped": stopped, "forget_recall_by_n": curve},
            "region": vec.names}


def run_ablate_localized(ctx, subject) -> dict:
    out = run_ablate(ctx, subject)
    comps = _components(ctx, subject)
    return {**out, **_unlearn(ctx, subject, components=comps, lr=ctx.config.localized_lr), "region": out["region"] + comps.names}


FACT_METHODS = {m.name: m for m in (
    Method("ga", "gradient ascent on the forget facts, whole model (the field's baseline)", run_ga),
    Method("graddiff", "gradient difference (ascent on forget, descent on retain), whole model", run_graddiff),
    Method("localized", "gradient ascent restricted to the located components (attribution patching, top-k sub-blocks)", run_localized),
    Method("ablate", "the located MLP value vectors (unit attribution, top-n) set to zero; no training", run_ablate),
    Method("ablate+localized", "ablate, then gradient ascent on the located components", run_ablate_localized),
)}


def check_methods(names, table: dict) -> list[Method]:
    bad = [n for n in names if n not in table]
    if bad or not names:
        raise UnlearnscopeError(f"unknown audit methods {bad or names}; choose from {list(table)}")
    return [table[n] for n in names]


def timed(method: Method, ctx, subject) -> dict:
    t0 = time.perf_counter()
    info = method.run(ctx, subject)
    return {"description": method.description, **info, "seconds": round(time.perf_counter() - t0, 2)}
