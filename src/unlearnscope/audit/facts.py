"""The facts audit (the facts organism, or a user's model and target file): locate the forget facts
on ORIG once, then compare methods that cut there with whole-model unlearning.

Localization (shared by every method): attribution patching over the forget facts gives the top-k
MLP / attention sub-blocks; unit attribution gives the top-n MLP neurons (value vectors), whose
ablation effect on the forget facts vs the retain facts is tested against random unit sets matched
in layer and count (an empirical p-value: a localization must beat random controls).

Methods: every registered audit method whose targets include ``facts`` (`audit.methods`; the
docs' table lists them), each at its paper's objective and settings, the audit's learning rate and
step budget.  Every method stops at the same forget recall (``stop_at``), so methods are compared at equal
behavioural forgetting.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import UnlearnscopeError
from ..evaluate.verification import has_lm_head
from ..model.components import ComponentSet
from .checkpoints import checked_inputs
from .config import AuditConfig, with_attack_budget, with_memory_plan
from .methods import check_methods
from .plan import Models, Plan, organism_sources, reference_placement, report_dir, stage


def localize_target(
    original,
    target,
    *,
    top_components: int,
    top_vectors: int,
    n_random: int,
    seed: int = 0,
    max_vectors: int | None = None,
    budgets: bool = False,
) -> dict:
    """``components``: the top ``top_components`` sub-blocks; ``vectors``: the top ``top_vectors``
    neurons (validated against random sets); ``vector_ranking``: ``[layer, neuron]`` of the top
    ``max_vectors`` (what `ablate` grows into); with ``budgets``, ``matched``: Guo et al.'s FLU,
    OT and random localizations at FLU's parameter count."""
    from ..localize.facts import attribution_patching, random_control, unit_attribution

    ap = attribution_patching(original, target.forget, seed=seed)
    comps = ap.components(top_k=top_components, subject=original)
    matched = matched_localizations(original, target, ap, seed) if budgets else None
    units = unit_attribution(original, target.forget, seed=seed)
    ranked = [u for u in units.top(max(max_vectors or 0, 10 * top_vectors)) if u[1] == "neuron"]
    top = ranked[:top_vectors]
    if not top:
        raise UnlearnscopeError(
            "unit attribution found no MLP neurons to ablate (an MoE model has experts as units); drop the ablate "
            "methods"
        )
    rc = random_control(
        original, [(l, k, j) for l, k, j, _ in top], target.forget, target.retain, n_random=n_random, seed=seed
    )
    return {
        "components_method": "attribution patching (top-k sub-blocks by their best effect over positions)",
        "components": list(comps.names),
        "effects": {"kinds": ap.kinds, "roles": ap.roles, "values": ap.effects.tolist()},
        "vectors_method": "unit attribution (top-n MLP neurons)",
        "vectors": [{"layer": l, "neuron": j, "score": s} for l, _, j, s in top],
        "vector_ranking": [[l, j] for l, _, j, _ in ranked[: max_vectors or top_vectors]],
        "random_control": rc.to_dict(),
        **({"matched": matched} if matched else {}),
    }


def matched_localizations(original, target, ap, seed: int) -> dict:
    """FLU from entity-disjoint probes on the forget and retain facts, and OT / random sub-blocks at
    its parameter budget (`localize.facts.budget`)."""
    from ..localize.facts import budget_match, fact_lookup, flu_components, flu_layers, flu_role, random_components

    lookup = fact_lookup(original, list(target.forget) + list(target.retain), seed=seed)
    flu = flu_components(original, lookup)
    ot = budget_match(original, ap, flu.n_params)
    rnd = random_components(original, flu.n_params, seed=seed)
    return {
        "method": "Guo et al.: FLU = fact-lookup MLPs; OT = attribution patching by |effect| and random sub-blocks, "
        "each up to FLU's parameter count",
        "flu_role": flu_role(lookup),
        "flu_layers": flu_layers(lookup),
        "probe_accuracy": lookup.baseline["accuracy"].tolist(),
        "probe_roles": lookup.roles,
        "flu": {"components": list(flu.names), "n_params": flu.n_params},
        "ot": {"components": list(ot.names), "n_params": ot.n_params},
        "random": {"components": list(rnd.names), "n_params": rnd.n_params},
    }


# ---------------------------------------------------------------------------- the plan
class FactsPlan(Plan):
    """The facts target: each method's verification traces the located value vectors and the
    region the method changed."""

    def verify_extra(self, method: str, info: dict) -> dict:
        region = info.get("region")
        return {
            "vectors": [(v["layer"], v["neuron"]) for v in self.localization["vectors"]],
            "region": ComponentSet.parse(self.original, region) if region else None,
        }


def _sources(cfg: AuditConfig, log):
    """``(fresh ORIG loader, ORIG, never-knew models, target, organism or None)``."""
    from .target import load_target, organism_target

    if cfg.model is None:
        org, fresh, references = organism_sources(cfg, cfg.organism, log)
        return fresh, fresh(), references, organism_target(org), org
    from ..model.loading import load
    from .checkpoints import check_against, target_prompts

    kw = {"device": cfg.device, "dtype": cfg.dtype}
    fresh = lambda: load(cfg.model, **kw)
    original = fresh()
    target = load_target(cfg.target, original, seed=cfg.seed)
    prompts = target_prompts(target)
    for r in cfg.references:
        check_against(original, r, prompts, f"reference {r!r}")
    references = [load(r, **reference_placement(kw)) for r in cfg.references]
    return fresh, original, references, target, None


def facts_plan(cfg: AuditConfig, out, log) -> FactsPlan:
    """Facts (organism or a user's target file): located components and value vectors."""
    check_methods(cfg.method_names, "facts")  # names first, before any model is built
    fresh, original, references, target, org = _sources(cfg, log)
    methods = check_methods(
        cfg.method_names, "facts", original.anatomy, where=f"ORIG ({cfg.model or 'organism:' + cfg.organism})"
    )
    checkpoints = checked_inputs(cfg, original, target, log)
    name = cfg.name or target.name
    out = report_dir(out, name)
    vcfg = cfg.verify if cfg.verify.bos is not None or target.bos is None else replace(cfg.verify, bos=target.bos)
    vcfg = with_attack_budget(vcfg, cfg.attacks)
    vcfg, memory_note = with_memory_plan(vcfg, sum(p.numel() for p in original.model.parameters()), cfg.lora_above)
    if has_lm_head(original):
        stage(log, f"localize on ORIG ({len(target.forget)} forget facts, {len(target.retain)} retain)")
        a = original.anatomy
        max_vectors = max(cfg.top_vectors, int(cfg.max_vectors_share * a.n_layers * a.d_mlp))
        loc = localize_target(
            original,
            target,
            top_components=cfg.top_components,
            top_vectors=cfg.top_vectors,
            n_random=cfg.n_random,
            seed=cfg.seed,
            max_vectors=max_vectors,
            budgets=any("matched" in m.uses for m in methods),
        )
    else:
        loc = {
            "skipped": "ORIG is an encoder (no LM head): attribution patching and unit attribution score next-token "
            "predictions",
            "components": [],
            "vectors": [],
        }
    from ..evaluate.faithfulness import cached_table

    return FactsPlan(
        name,
        out,
        target,
        Models(original, fresh, references, checkpoints, org),
        methods,
        loc,
        vcfg,
        {"target": "facts", "localization": loc, **({"memory_plan": memory_note} if memory_note else {})},
        faithfulness=cached_table(org) if org is not None else None,
        output_data=target.output_data(cfg.seed) if cfg.output_metrics and has_lm_head(original) else None,
        output_why="off (output_metrics = false)"
        if not cfg.output_metrics
        else "ORIG is an encoder: the output metrics score answers",
    )
