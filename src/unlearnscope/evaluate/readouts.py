"""The readouts of a verification, each measured on every model of a `ModelSet` and returned as
`Metric`\\ s (per-entity values; higher = knows more) plus the details the report plots.

* behavioural / locality: recall of the facts (`recall.entity_recall`);
* intrinsic: linear probes (transfer, refit), the logit lens and causal depth (UDS, `depth`);
* adversarial: relearning on disjoint entities, in-context demos (k ≥ 1), reintroduction, formats.

Probe (depth, role) groups and relearning learning rates are chosen by 2-fold cross-fitting over
the forget entities (`crossfit`): each entity is scored at the option chosen on the other half.
"""

from __future__ import annotations

import hashlib

import torch

from ..data.encoding import overlong
from .crossfit import cross_fit, halves
from .models import Anchor, ModelSet, metric
from .prompt_attacks import incontext_facts
from .recall import entity_recall
from .relearn import relearn_curves
from .rki import Metric, mean_and_ci
from .stats import per_entity


def recall_metric(ms: ModelSet, name: str, kind: str, facts, order=None, detail=None) -> Metric:
    return metric(name, kind, ms.map("recall", entity_recall, facts, order, roles=ms.roles), detail)


def _selection_score(by_role: dict) -> tuple[torch.Tensor, str]:
    """``[options, entities]`` criterion: ORIG − mean REF, else ORIG, else the unlearned models."""
    mean = lambda r: torch.stack(by_role[r]).mean(0)  # noqa: E731
    if "original" in by_role and "reference" in by_role:
        return mean("original") - mean("reference"), "largest ORIG − REF gap"
    if "original" in by_role:
        return mean("original"), "highest ORIG accuracy (no REF)"
    return mean("unlearned"), "highest accuracy of the unlearned models (no references)"


def _probe(subject, forget, retain, mode, config):
    from ..probes.linear import probe_model

    return probe_model(subject, forget, retain, mode=mode, config=config)


def _probe_table(runs: list, vals: list, cfg) -> dict:
    """Per group: task accuracy (mean ± CI over entities, models averaged) and every control."""
    per_entity_mean = torch.stack(vals).mean(0)  # [group, entity]
    table = {"task": [mean_and_ci(v, cfg.verdict) for v in per_entity_mean]}
    for c in ("control", "shuffled", "majority"):
        table[c] = torch.stack([run.accuracy(c) for run in runs]).mean(0).tolist()
    table["selectivity"] = [t[0] - c for t, c in zip(table["task"], table["control"], strict=True)]
    return table


def probe_metrics(ms: ModelSet, forget, retain, cfg, out: dict) -> list[Metric]:
    """``probe_transfer`` / ``probe_refit``: task accuracy per forget entity at the (depth, role)
    cross-fitted on the other half of the entities (selection by ``_selection_score``)."""
    from ..probes.linear import ProbeConfig

    pc = ProbeConfig(layers=cfg.probe_layers, roles=cfg.probe_roles, method=cfg.probe_method, seeds=cfg.probe_seeds)
    metrics = []
    for mode in cfg.probe_modes:
        runs = ms.map(f"probe_{mode}", _probe, forget, retain, mode, pc)
        names = per_entity(runs["unlearned"][0].correct["task"], runs["unlearned"][0].entities)[0]
        vals = {r: [per_entity(run.correct["task"], run.entities)[1] for run in rs] for r, rs in runs.items()}  # [group, entity] each
        score, rule = _selection_score({r: v for r, v in vals.items() if r in ms.roles})
        half = halves(names, cfg.verdict.seed)
        pick, chosen = cross_fit(score, half)
        cols = torch.arange(len(names))
        per_role = {r: [(names, v[pick, cols]) for v in vs] for r, vs in vals.items() if r in ms.roles}
        groups = runs["unlearned"][0].groups
        out[mode] = {"groups": [list(g) for g in groups], "chosen_groups": [list(groups[c]) for c in chosen],
                     "rule": f"{rule}, cross-fitted: each half of the forget entities is scored at the group chosen on the other",
                     "by_model": {r: _probe_table(runs[r], vals[r], cfg) for r in runs}}
        rand = vals.get("random_init")
        metrics.append(metric(f"probe_{mode}", "intrinsic", per_role,
                              {"groups": out[mode]["chosen_groups"], "selection": out[mode]["rule"],
                               "random_init_accuracy": float(torch.stack(rand)[:, pick, cols].mean()) if rand else None}))
    return metrics


def lens_metric(ms: ModelSet, forget, cfg, out: dict) -> Metric:
    """``logit_lens``: per entity, the best reciprocal rank of the gold answer over depths."""
    from ..probes.logit_lens import gold_ranks

    ranks = ms.map("logit_lens", gold_ranks, forget, roles=ms.roles)
    for r, rs in ranks.items():
        stacked = torch.stack([x.ranks for x in rs]).float()  # [model, depth, item]
        out[r] = {"depths": rs[0].depths, "median_rank_per_depth": stacked.median(-1).values.mean(0).tolist(),
                  "top1_per_depth": (stacked < 1).float().mean((0, 2)).tolist(),
                  **{f"success@{b}": float(torch.stack([x.success(b) for x in rs]).mean()) for b in cfg.lens_budgets}}
    per_role = {r: [per_entity(x.best_reciprocal_rank(), x.entities) for x in rs] for r, rs in ranks.items()}
    return metric("logit_lens", "intrinsic", per_role, {"score": "max over depths of 1/(1+rank) of the gold answer"})


def _depth(subject, target: Anchor):
    """``target.obj``: the patching baseline (S1 on ORIG and REF), keyed by both models' digests and the facts."""
    from .depth import causal_depth

    return causal_depth(target.obj.original, subject, target.obj).knowledge


def depth_metric(ms: ModelSet, forget, cfg, out: dict) -> Metric:
    """``causal_depth``: per entity, ``1 − UDS`` averaged over its facts that have a material layer
    (`depth`): REF's hidden states patched into ORIG layer by layer are the baseline effect, every
    model's likewise the measured one (1 = as ORIG, 0 = as erased as never knowing)."""
    from .cache import weights_digest
    from .depth import patching_baseline

    orig, ref = ms.roles["original"][0], ms.roles["reference"][0]
    with ms.resident(ref):
        base = patching_baseline(orig, ref, forget, scope=cfg.depth_scope)
    keep = base.defined
    facts = [f for f, k in zip(base.facts, keep.tolist(), strict=True) if k]
    facts_key = hashlib.sha256(repr([(f.prompt, f.answer, f.subject) for f in base.facts]).encode()).hexdigest()
    target = Anchor(base, f"{weights_digest(orig)}|{weights_digest(ref)}|{cfg.depth_scope}|{facts_key}")
    vals = ms.map("causal_depth", _depth, target, roles=ms.roles)
    out.update({"scope": cfg.depth_scope, "tau": base.tau, "n_facts": len(base.facts), "n_defined": len(facts),
                "baseline_delta_per_layer": base.delta.mean(1).tolist(), "material_share_per_layer": base.material.float().mean(1).tolist()})
    per_role = {r: [per_entity(v[keep], [f.subject for f in facts]) for v in vs] for r, vs in vals.items()}
    return metric("causal_depth", "intrinsic", per_role,
                  {"score": "1 − UDS: the share of the never-knew model's per-layer patching effect the model does not reproduce",
                   "scope": cfg.depth_scope, "n_facts": len(facts)})


def _relearn(subject, forget, config):
    return relearn_curves(subject, forget, config=config)


def relearn_metric(ms: ModelSet, forget, cfg, out: dict) -> Metric:
    """``relearn``: per held-out entity, mean recall over the relearning curve, at the learning
    rate cross-fitted on the other half of the entities (the one where the unlearned models'
    excess over REF is largest: the worst case)."""
    curves = ms.map("relearn", _relearn, forget, cfg.relearn, roles=[r for r in ms.roles if r != "noise"])
    lrs = list(cfg.relearn.lrs)
    ents = curves["unlearned"][0].entities
    auc = {r: torch.stack([torch.stack([c.entity_auc(lr) for lr in lrs]) for c in cs]) for r, cs in curves.items()}  # [model, lr, entity]
    excess = auc["unlearned"].mean(0) - (auc["reference"].mean(0) if "reference" in auc else 0)
    pick, chosen = cross_fit(excess, halves(ents, cfg.verdict.seed))
    seen = torch.isfinite(auc["unlearned"][0, 0])  # entities held out in at least one relearning seed
    cols = torch.arange(len(ents))
    names = [e for e, k in zip(ents, seen.tolist(), strict=True) if k]
    per_role = {r: [(names, a[pick, cols][seen]) for a in v] for r, v in auc.items()}
    _relearn_details(curves, auc, lrs, chosen, out)
    return metric("relearn", "adversarial", per_role,
                  {"lrs": [lrs[c] for c in chosen], "split": cfg.relearn.split, "seeds": list(cfg.relearn.seeds),
                   "selection": "worst-case learning rate (largest excess over REF), cross-fitted over entity halves",
                   "score": "mean recall of held-out forget entities over the relearning curve"})


def _relearn_details(curves: dict, auc: dict, lrs: list, chosen: list, out: dict) -> None:
    """Curves (averaged over each role's models), steps to 50 % / 90 % of ORIG's level and areas,
    at the learning rate chosen on half 0 (the one plotted)."""
    shown = lrs[chosen[0]]
    out["worst_case_lr"], out["cross_fitted_lrs"] = shown, [lrs[c] for c in chosen]
    mean_curve = {r: {str(lr): torch.tensor([c.mean_curve(lr) for c in cs]).mean(0).tolist() for lr in lrs} for r, cs in curves.items()}
    for r, cs in curves.items():
        out[r] = {"steps": cs[0].steps, "mean_curve": mean_curve[r], "n_models": len(cs),
                  "seed_sd_auc": {str(lr): float(torch.nanmean(cs[0].curves[lr].mean(1), 1).std()) for lr in lrs}}
    if "original" in curves:
        level = float(torch.nanmean(curves["original"][0].curves[shown][:, 0]))
        for r in curves:
            first = lambda f: next((s for s, v in zip(out[r]["steps"], mean_curve[r][str(shown)], strict=True) if v >= f * level), None)  # noqa: E731
            out[r]["steps_to_50%"], out[r]["steps_to_90%"] = first(0.5), first(0.9)
    area = {r: float(torch.nanmean(a[:, chosen[0]])) for r, a in auc.items()}
    out["area_under_curve"] = area
    if "reference" in area:
        out["area_between_unlearned_and_reference"] = area["unlearned"] - area["reference"]
    if "original" in area:
        out["area_between_original_and_unlearned"] = area["original"] - area["unlearned"]


def prompt_attack_metrics(ms: ModelSet, forget, pool, restatements, formats, cfg, order, not_run: dict) -> list[Metric]:
    """In-context demos (``incontext_k{k}``, k ≥ 1), reintroduction and held-out formats: recall of
    rewritten prompts (the forget entities in ``order``; formats may hold other items).  A ``k``
    whose prompts exceed the model's positions is not run; why goes into ``not_run``."""
    from ..data import as_facts

    metrics = []
    if "incontext" in cfg.attacks:
        for k in cfg.incontext_k:  # every forget fact with `incontext_draws` independent draws of demos
            facts_k = [f for d in range(cfg.incontext_draws) for f in incontext_facts(forget, pool, k, bos=cfg.bos, seed=d)]
            too_long = overlong(ms.roles["unlearned"][0], facts_k)
            if too_long is not None:
                not_run[f"incontext_k{k}"] = f"not run: {k} stated facts make prompts of {too_long[0]} tokens, the model takes at most {too_long[1]}"
                continue
            metrics.append(recall_metric(ms, f"incontext_k{k}", "adversarial", facts_k, order,
                                         {"k": k, "draws": cfg.incontext_draws, "demos": "other entities' facts of the same relation"}))
    if "reintroduce" in cfg.attacks and restatements is not None:
        facts_r = incontext_facts(forget, pool, 1, mode="reintroduce", restatements=restatements, bos=cfg.bos)
        metrics.append(recall_metric(ms, "reintroduce", "adversarial", facts_r, order, {"k": 1, "stated": "the queried fact in another rendering"}))
    if "format" in cfg.attacks:
        for name, facts_f in (formats or {}).items():
            facts_f = as_facts(facts_f)
            metrics.append(recall_metric(ms, f"format:{name}", "adversarial", facts_f, None, {"n_items": len(facts_f)}))
    return metrics
