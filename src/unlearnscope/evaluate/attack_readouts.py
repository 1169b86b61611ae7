"""Worst-case attacks as readouts of a verification: each attack is run the same way on every
unlearned model, on ORIG and on every never-knew reference (REF's value under the same attack is
its floor), and becomes an adversarial `Metric` the verdict uses.

* ``direction_ablation``: per layer, the unlearning directions (mean difference from ORIG's
  residual stream and its top principal components, `whitebox.unlearning_directions`) projected
  out → recall per layer;
* ``quant{bits}``: recall of the weights' ``bits``-bit round trip (`model.quantize`);
* ``component_revert`` (recovery attribution, reported but not a readout of the verdict: ORIG's
  weights put back can carry the facts whatever the unlearning did): recall with each component
  given ORIG's weights back, one at a time;
* ``router_restore`` (MoE only): recall with ORIG's routing decisions replayed (`router_attack`);
* ``relearn:sweep``: relearning over the attacker's budget (`sweep`): learning rates, full or LoRA
  parameters, examples, steps; only configurations whose retain recall stays within the utility
  limit (mean over the unlearned models, against their own retain recall before the attack) may
  be chosen.

Where an attack has options (layers, sweep configurations), the option is the worst
case — the largest excess of the unlearned models' recovered recall over REF's — chosen by 2-fold
cross-fitting over the forget entities (`crossfit`), so the choice is never scored on the entities
it was made on.  ORIG's directions are zero and reverting ORIG changes nothing, so ORIG's values
are its own recall under them.
"""

from __future__ import annotations

import torch

from .crossfit import cross_fit, halves
from .models import Anchor, ModelSet, anchor_of, metric
from .rki import Metric

WHITEBOX = ("direction", "quantize", "revert", "router")


def worst_option(name: str, vals: dict[str, list[torch.Tensor]], entities: list[str], seed: int, detail: dict,
                 allowed: torch.Tensor | None = None) -> tuple[Metric, list[int]]:
    """``vals[role]``: ``[option, entity]`` per model → the metric at the cross-fitted worst-case
    option (largest mean excess of the unlearned models over REF; ``allowed`` ``[option]`` masks
    options out) and ``[option chosen on half 0, on half 1]``."""
    mean = lambda r: torch.stack(vals[r]).double().mean(0)  # noqa: E731
    score = mean("unlearned") - (mean("reference") if "reference" in vals else 0)
    if allowed is not None:
        score = torch.where(allowed[:, None], score, torch.full_like(score, float("nan")))
    pick, chosen = cross_fit(score, halves(entities, seed))
    cols = torch.arange(len(entities))
    per_role = {r: [(entities, v[pick, cols]) for v in vs] for r, vs in vals.items()}
    return metric(name, "adversarial", per_role, detail), chosen


def _means(vals: dict) -> dict:
    """Per role, the mean over models and entities of each option (what the report plots)."""
    return {r: torch.nanmean(torch.stack(vs).double(), dim=(0, 2)).tolist() for r, vs in vals.items()}


# ---------------------------------------------------------------------------- per-model measurements
def _directions(subject, orig: Anchor, facts, order, k):
    from .whitebox import ablation_recall

    return ablation_recall(subject, orig.obj, facts, order, k)[0]


def _revert(subject, orig: Anchor, facts, order, components):
    from .whitebox import revert_recall

    return revert_recall(subject, orig.obj, facts, order, components)


def _quantized(subject, facts, order, bits):
    from .whitebox import quantized_recall

    return quantized_recall(subject, facts, order, bits)[None]


def _router(subject, orig: Anchor, facts, order):
    from .router_attack import original_routing
    from .whitebox import recall_under

    return recall_under(subject, facts, order, original_routing(subject, orig.obj))[None]


def _sweep(subject, forget, retain, cfg):
    from .recall import entity_recall
    from .sweep import attack_curves, locality_sample

    _, rows = attack_curves(subject, forget, retain, None, cfg)
    keys = sorted(rows)
    return {"keys": keys, "recall": torch.stack([rows[k][0] for k in keys]), "retain": torch.tensor([rows[k][1] for k in keys]),
            "n_params": [rows[k][2] for k in keys], "retain_before": float(entity_recall(subject, locality_sample(retain, cfg))[1].mean())}


# ---------------------------------------------------------------------------- readouts
def whitebox_metrics(ms: ModelSet, forget, retain, order, cfg, out: dict) -> list[Metric]:
    """The white-box attacks asked for in ``cfg.attacks`` (see module doc); details in ``out``."""
    from .router_attack import has_router

    roles = [r for r in ms.roles if r != "noise"]
    unl = ms.roles["unlearned"][0]
    orig = anchor_of(ms.roles["original"][0])
    seed = cfg.verdict.seed
    metrics = []
    if "direction" in cfg.attacks:
        vals = ms.map("direction_ablation", _directions, orig, forget, order, cfg.direction_k, roles=roles)
        m, chosen = worst_option("direction_ablation", vals, order, seed, {"k": cfg.direction_k})
        m.detail["layers"] = chosen
        out["direction_ablation"] = {"options": [f"layer {l}" for l in range(unl.anatomy.n_layers)], "recovered": _means(vals), "chosen": chosen}
        metrics.append(m)
    if "quantize" in cfg.attacks:
        for bits in cfg.quant_bits:
            vals = ms.map(f"quant{bits}", _quantized, forget, order, bits, roles=roles)
            metrics.append(worst_option(f"quant{bits}", vals, order, seed, {"bits": bits})[0])
            out[f"quant{bits}"] = {"options": [f"{bits}-bit"], "recovered": _means(vals)}
    if "revert" in cfg.attacks:
        out["component_revert"] = revert_attribution(ms, forget, order, cfg)
    if "router" in cfg.attacks and has_router(unl):
        metrics.append(router_metric(ms, forget, retain, order, cfg, out))
    return metrics


def router_metric(ms: ModelSet, forget, retain, order, cfg, out: dict) -> Metric:
    """``router_restore`` and, in ``out``, the routing stability of the unlearned models against
    ORIG on the forget and retain prompts (averaged over the unlearned models) and its reading."""
    from .rki import shows_knowledge
    from .router_attack import reading, routing_stability

    orig = ms.roles["original"][0]
    vals = ms.map("router_restore", _router, anchor_of(orig), forget, order, roles=[r for r in ms.roles if r != "noise"])
    m = worst_option("router_restore", vals, order, cfg.verdict.seed, {})[0]
    prompts = {"forget": [f.prompt for f in forget], "retain": [f.prompt for f in retain]}
    rows = []
    for u in ms.roles["unlearned"]:
        with ms.resident(u), ms.held(u):  # the routing the model actually uses, its intervention included
            rows.append(routing_stability(orig, u, prompts))
    stability = {k: {s: sum(r[k][s] for r in rows) / len(rows) for s in ("top_k_overlap", "jsd")} for k in rows[0]}
    m.detail["routing_stability"] = stability
    out["router_restore"] = {"options": ["ORIG's routing"], "recovered": _means(vals), "routing_stability": stability,
                             "reading": reading(stability, shows_knowledge(m.rki(cfg.verdict), cfg.verdict.margin))}
    return m


def revert_attribution(ms: ModelSet, forget, order, cfg) -> dict:
    """Recovery attribution (not a readout of the verdict: ORIG's weights put back may carry the
    facts themselves, whatever the unlearning did): per component, the recall each role's models
    reach with it reverted to ORIG's, and the unlearned models' gain over their own recall."""
    from .recall import entity_recall
    from .whitebox import default_components

    unl = ms.roles["unlearned"][0]
    comps = list(cfg.revert_components) if cfg.revert_components else default_components(unl)
    roles = [r for r in ms.roles if r not in ("noise", "original")]
    vals = ms.map("component_revert", _revert, anchor_of(ms.roles["original"][0]), forget, order, comps, roles=roles)
    own = sum(float(ms.measure("unlearned", u, "recall", entity_recall, forget, order)[1].mean()) for u in ms.roles["unlearned"]) / len(ms.roles["unlearned"])
    rec = _means(vals)
    gain = [x - own for x in rec["unlearned"]]
    top = max(range(len(comps)), key=lambda i: gain[i])
    return {"options": comps, "recovered": rec, "gain": gain, "recall_before": own, "component": comps[top],
            "reading": f"reverting {comps[top]} to ORIG's weights brings back {gain[top]:+.2f} forget recall"
                       + (f" (REF with the same component: {rec['reference'][top]:.2f})" if "reference" in rec else "")}


def sweep_metric(ms: ModelSet, forget, retain, cfg, out: dict) -> Metric:
    """``relearn:sweep``: the worst case within the utility limit over the sweep's configurations
    (see module doc); every configuration's mean recovered recall per role in ``out``."""
    sc = cfg.sweep.validate()
    rows = ms.map("relearn_sweep", _sweep, forget, retain, sc, roles=[r for r in ms.roles if r != "noise"])
    keys = rows["unlearned"][0]["keys"]
    ents = sorted({f.subject for f in forget})
    seen = torch.isfinite(rows["unlearned"][0]["recall"][0])  # entities scored in at least one attack seed
    names = [e for e, k in zip(ents, seen.tolist(), strict=True) if k]
    vals = {r: [x["recall"][:, seen] for x in xs] for r, xs in rows.items()}
    retain_after = torch.stack([x["retain"] for x in rows["unlearned"]]).mean(0)
    before = sum(x["retain_before"] for x in rows["unlearned"]) / len(rows["unlearned"])
    allowed = retain_after >= sc.utility_limit * before
    configs = sc.configs()
    options = [{"config": configs[ci], "steps": step, "n_params": n} for (ci, step), n in zip(keys, rows["unlearned"][0]["n_params"], strict=True)]
    detail = {"data": sc.data, "utility_limit": sc.utility_limit, "n_configurations": len(options),
              "score": "recall of forget entities the attack did not train on", "retain_recall_before": before}
    if not bool(allowed.any()):
        detail["note"] = "no configuration kept retain recall within the utility limit: the worst case is taken over all of them"
        allowed = torch.ones_like(allowed)
    m, chosen = worst_option("relearn:sweep", vals, names, cfg.verdict.seed, detail, allowed)
    m.detail["worst_case"] = [options[c] for c in chosen]
    out["relearn:sweep"] = {"options": options, "recovered": _means(vals), "locality": retain_after.tolist(),
                            "within_utility_limit": allowed.tolist(), "chosen": chosen, **detail}
    return m
