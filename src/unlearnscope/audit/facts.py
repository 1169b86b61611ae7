"""The facts audit (the facts organism, or a user's model and target file): locate the forget facts
on ORIG once, then compare methods that cut there with whole-model unlearning.

Localization (shared by every method): attribution patching over the forget facts gives the top-k
MLP / attention sub-blocks; unit attribution gives the top-n MLP neurons (value vectors), whose
ablation effect on the forget facts vs the retain facts is tested against random unit sets matched
in layer and count (an empirical p-value: a localization must beat random controls).

Methods (`FACT_METHODS`): ``ga`` (full-model gradient ascent), ``graddiff`` (full model, with a
retain term), ``localized`` (gradient ascent on the located components only), ``ablate`` (the
located value vectors zeroed, no training), ``ablate+localized`` (both).  Every method stops at
the same forget recall (``stop_at``), so methods are compared at equal behavioural forgetting.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import UnlearnscopeError
from ..evaluate.verify import has_lm_head
from ..model.components import ComponentSet
from .checkpoints import checked_inputs
from .config import AuditConfig, with_attack_budget, with_memory_plan
from .methods import Method, check_methods, longest_run, unlearn_config, unlearning_summary
from .noise import finetune_noise, random_vectors_noise
from .plan import Plan, organism_sources, reference_placement, report_dir, stage


def localize_target(original, target, *, top_components: int, top_vectors: int, n_random: int, seed: int = 0,
                    max_vectors: int | None = None) -> dict:
    """``components``: the top ``top_components`` sub-blocks; ``vectors``: the top ``top_vectors``
    neurons (validated against random sets); ``vector_ranking``: ``[layer, neuron]`` of the top
    ``max_vectors`` (what `ablate` grows into)."""
    from ..localize.facts import attribution_patching, random_control, unit_attribution

    ap = attribution_patching(original, target.forget, seed=seed)
    comps = ap.components(top_k=top_components, subject=original)
    units = unit_attribution(original, target.forget, seed=seed)
    ranked = [u for u in units.top(max(max_vectors or 0, 10 * top_vectors)) if u[1] == "neuron"]
    top = ranked[:top_vectors]
    if not top:
        raise UnlearnscopeError("unit attribution found no MLP neurons to ablate (an MoE model has experts as units); drop the ablate methods")
    rc = random_control(original, [(l, k, j) for l, k, j, _ in top], target.forget, target.retain, n_random=n_random, seed=seed)
    return {"components_method": "attribution patching (top-k sub-blocks by their best effect over positions)", "components": list(comps.names),
            "effects": {"kinds": ap.kinds, "roles": ap.roles, "values": ap.effects.tolist()},
            "vectors_method": "unit attribution (top-n MLP neurons)",
            "vectors": [{"layer": l, "neuron": j, "score": s} for l, _, j, s in top],
            "vector_ranking": [[l, j] for l, _, j, _ in ranked[: max_vectors or top_vectors]],
            "random_control": rc.to_dict()}


# ---------------------------------------------------------------------------- methods
def _unlearn(ctx, subject, *, components=None, method="ga", lr=None, retain=False) -> dict:
    from ..ablate.unlearn import unlearn

    lr = lr or ctx.config.full_lr
    res = unlearn(subject, ctx.target.forget_items, ctx.target.retain_items if retain else None, components=components,
                  config=unlearn_config(ctx, lr, method), progress=ctx.progress)
    return unlearning_summary(res, lr)


def _vectors(subject, pairs) -> ComponentSet:
    return ComponentSet.from_slices(subject, [subject.anatomy.value_slice(l, [j]) for l, j in pairs],
                                    [f"blocks.{l}.mlp.value:{j}" for l, j in pairs])


def _components(ctx, subject) -> ComponentSet:
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


# ---------------------------------------------------------------------------- NOISE controls
def _noise_training(ctx, subject, infos, data, region: bool = False) -> dict:
    """The method's training on held-out data: its longest run's steps, its LR, its components."""
    u = longest_run(infos)
    comps = ComponentSet.parse(subject, list(infos[0]["region"])) if region else None
    return finetune_noise(subject, data, steps=max(1, u["steps"]), lr=u["lr"], batch_size=ctx.config.batch_size, seed=ctx.config.seed,
                          components=comps)


def _noise_vectors(ctx, subject, infos) -> dict:
    n = infos[0]["ablation"]["n_vectors"]
    return random_vectors_noise(subject, ctx.localization["vector_ranking"][:n], seed=ctx.config.seed)


def noise_ablate_localized(ctx, subject, infos, data) -> dict:
    vec = _noise_vectors(ctx, subject, infos)
    n_vec = infos[0]["ablation"]["n_vectors"]
    comps = ComponentSet.parse(subject, list(infos[0]["region"][n_vec:]))  # the located components (after the vectors)
    u = longest_run(infos)
    train = finetune_noise(subject, data, steps=max(1, u["steps"]), lr=u["lr"], batch_size=ctx.config.batch_size, seed=ctx.config.seed,
                           components=comps)
    return {**vec, "then": train}


FACT_METHODS = {m.name: m for m in (
    Method("ga", "gradient ascent on the forget facts, whole model (the field's baseline)", run_ga,
           noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data)),
    Method("graddiff", "gradient difference (ascent on forget, descent on retain), whole model", run_graddiff,
           noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data)),
    Method("localized", "gradient ascent restricted to the located components (attribution patching, top-k sub-blocks)", run_localized,
           noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data, region=True)),
    Method("ablate", "the located MLP value vectors (unit attribution, top-n) set to zero; no training", run_ablate,
           noise=lambda ctx, s, infos, data: _noise_vectors(ctx, s, infos), deterministic=True),
    Method("ablate+localized", "ablate, then gradient ascent on the located components", run_ablate_localized, noise=noise_ablate_localized),
)}


# ---------------------------------------------------------------------------- the plan
def _sources(cfg: AuditConfig, log):
    """``(fresh ORIG loader, ORIG, never-knew models, target, organism or None)``."""
    from .target import load_target, organism_target

    if cfg.model is None:
        org, fresh, references = organism_sources(cfg, cfg.organism, log)
        return fresh, fresh(), references, organism_target(org), org
    from ..model.load import load
    from .checkpoints import check_against, target_prompts

    kw = {"device": cfg.device, "dtype": cfg.dtype}
    fresh = lambda: load(cfg.model, **kw)  # noqa: E731
    original = fresh()
    target = load_target(cfg.target, original, seed=cfg.seed)
    prompts = target_prompts(target)
    for r in cfg.references:
        check_against(original, r, prompts, f"reference {r!r}")
    references = [load(r, **reference_placement(kw)) for r in cfg.references]
    return fresh, original, references, target, None


def facts_plan(cfg: AuditConfig, out, log) -> Plan:
    """Facts (organism or a user's target file): located components and value vectors."""
    methods = check_methods(cfg.method_names, FACT_METHODS)
    fresh, original, references, target, org = _sources(cfg, log)
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
        loc = localize_target(original, target, top_components=cfg.top_components, top_vectors=cfg.top_vectors, n_random=cfg.n_random,
                              seed=cfg.seed, max_vectors=max_vectors)
    elif methods:
        raise UnlearnscopeError(f"ORIG is an encoder (no LM head): the audit's methods {[m.name for m in methods]} unlearn next-token "
                                "predictions; audit encoder checkpoints made elsewhere with --unlearned NAME=PATH")
    else:
        loc = {"skipped": "ORIG is an encoder (no LM head): attribution patching and unit attribution score next-token predictions",
               "components": [], "vectors": []}
    vectors = [(v["layer"], v["neuron"]) for v in loc["vectors"]]

    def verify_kwargs(name, info):
        region = info.get("region")
        return {"vectors": vectors, "region": ComponentSet.parse(original, region) if region else None}

    from ..evaluate.faithfulness import cached_table

    return Plan(name, out, target, fresh, original, references, methods, loc, vcfg, verify_kwargs,
                {"target": "facts", "localization": loc, **({"memory_plan": memory_note} if memory_note else {})},
                noise_items=target.noise_items, noise_data=target.noise_source, organism=org,
                faithfulness=cached_table(org) if org is not None else None, checkpoints=checkpoints,
                output_data=target.output_data(cfg.seed) if cfg.output_metrics and has_lm_head(original) else None,
                output_why="off (output_metrics = false)" if not cfg.output_metrics else "ORIG is an encoder: the output metrics score answers")
