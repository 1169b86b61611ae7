"""The facts audit (the facts organism, or a user's model and target file): locate the forget facts
on ORIG once, then compare methods that cut there with whole-model unlearning.

Localization (shared by every method): attribution patching over the forget facts gives the top-k
MLP / attention sub-blocks; unit attribution gives the top-n MLP neurons (value vectors), whose
ablation effect on the forget facts vs the retain facts is tested against random unit sets matched
in layer and count (an empirical p-value: a localization must beat random controls).

Methods (`FACT_METHODS`), every one at its paper's objective and settings, the audit's learning
rate and step budget:

* whole model: ``ga`` (gradient ascent), ``graddiff`` (with a retain term), ``npo`` (Zhang et al.
  2024, β 0.1, frozen reference), ``simnpo`` (Fan et al. 2024, β 2.5, γ 0);
* ``rmu`` (Li et al. 2024, WMDP): the middle layer's residual stream on forget tokens steered to a
  random direction scaled to its norm, retain activations held (α 100), trained on the MLP output
  projections of that layer and the two before it;
* localized: ``localized`` (gradient ascent on the top-k attribution-patching sub-blocks);
  Guo et al.'s comparison at a matched parameter budget, each with their objective (``−log(1 − p)``
  on the answer + maintain CE, cosine schedule, ``c_f`` 5 for MLP-only and 0.1 otherwise): ``flu``
  (the fact-lookup MLPs, `localize.facts.flu_components`), ``ot`` (output tracing: attribution
  patching's sub-blocks by ``|effect|`` up to FLU's parameter count), ``random`` (random sub-blocks
  up to the same count);
* ``random-labels``: Zhang, Choshen & Andreas's forgetting — fine-tuning toward random answers of
  each fact's relation (whole model);
* vectors: ``ablate`` (the located value vectors zeroed, no training), ``ablate+localized``,
  ``needle`` (ConceptVectors' Needle on the located value vectors: N(0, 0.1²) noise, then gradient
  ascent on those vectors only at lr 0.2 warmed up over one epoch of batches of 32).

Every method stops at the same forget recall (``stop_at``), so methods are compared at equal
behavioural forgetting.
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
                    max_vectors: int | None = None, budgets: bool = False) -> dict:
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
        raise UnlearnscopeError("unit attribution found no MLP neurons to ablate (an MoE model has experts as units); drop the ablate methods")
    rc = random_control(original, [(l, k, j) for l, k, j, _ in top], target.forget, target.retain, n_random=n_random, seed=seed)
    return {"components_method": "attribution patching (top-k sub-blocks by their best effect over positions)", "components": list(comps.names),
            "effects": {"kinds": ap.kinds, "roles": ap.roles, "values": ap.effects.tolist()},
            "vectors_method": "unit attribution (top-n MLP neurons)",
            "vectors": [{"layer": l, "neuron": j, "score": s} for l, _, j, s in top],
            "vector_ranking": [[l, j] for l, _, j, _ in ranked[: max_vectors or top_vectors]],
            "random_control": rc.to_dict(), **({"matched": matched} if matched else {})}


def matched_localizations(original, target, ap, seed: int) -> dict:
    """FLU from entity-disjoint probes on the forget and retain facts, and OT / random sub-blocks at
    its parameter budget (`localize.facts.budget`)."""
    from ..localize.facts import budget_match, fact_lookup, flu_components, flu_layers, flu_role, random_components

    lookup = fact_lookup(original, list(target.forget) + list(target.retain), seed=seed)
    flu = flu_components(original, lookup)
    ot = budget_match(original, ap, flu.n_params)
    rnd = random_components(original, flu.n_params, seed=seed)
    return {"method": "Guo et al.: FLU = fact-lookup MLPs; OT = attribution patching by |effect| and random sub-blocks, "
                      "each up to FLU's parameter count",
            "flu_role": flu_role(lookup), "flu_layers": flu_layers(lookup),
            "probe_accuracy": lookup.baseline["accuracy"].tolist(), "probe_roles": lookup.roles,
            "flu": {"components": list(flu.names), "n_params": flu.n_params},
            "ot": {"components": list(ot.names), "n_params": ot.n_params},
            "random": {"components": list(rnd.names), "n_params": rnd.n_params}}


# ---------------------------------------------------------------------------- methods
def _unlearn(ctx, subject, *, components=None, method="ga", lr=None, retain=False, **paper) -> dict:
    from ..ablate.unlearn import unlearn

    lr = lr or ctx.config.full_lr
    res = unlearn(subject, ctx.target.forget_items, ctx.target.retain_items if retain else None, components=components,
                  config=unlearn_config(ctx, lr, method, **paper), progress=ctx.progress)
    return {**unlearning_summary(res, lr), "region": res.components}


def _vectors(subject, pairs) -> ComponentSet:
    return ComponentSet.from_slices(subject, [subject.anatomy.value_slice(l, [j]) for l, j in pairs],
                                    [f"blocks.{l}.mlp.value:{j}" for l, j in pairs])


def _components(ctx, subject) -> ComponentSet:
    return ComponentSet.parse(subject, list(ctx.localization["components"]))


def run_ga(ctx, subject) -> dict:
    return _unlearn(ctx, subject)


def run_graddiff(ctx, subject) -> dict:
    return _unlearn(ctx, subject, method="graddiff", lr=ctx.config.localized_lr, retain=True)


def run_npo(ctx, subject) -> dict:
    return _unlearn(ctx, subject, method="npo", beta=0.1)


def run_simnpo(ctx, subject) -> dict:
    return _unlearn(ctx, subject, method="simnpo", beta=2.5, gamma=0.0)


def run_rmu(ctx, subject) -> dict:
    """RMU on its default components (WMDP's three MLPs); the summary's region names them."""
    return _unlearn(ctx, subject, method="rmu", lr=ctx.config.rmu_lr, retain=True, retain_weight=100.0)


def _matched(ctx, subject, which: str, forget_weight: float) -> dict:
    """Guo et al.'s objective on one of the budget-matched localizations."""
    m = ctx.localization.get("matched")
    if m is None:
        raise UnlearnscopeError("the budget-matched localizations were not computed (flu / ot / random need them)")
    comps = ComponentSet.parse(subject, m[which]["components"])
    return _unlearn(ctx, subject, components=comps, method="log1mp", lr=ctx.config.localized_lr, retain=True,
                    forget_weight=forget_weight, retain_weight=1.0, schedule="cosine")


def random_labels(items, pool, seed: int) -> list:
    """``items`` with each answer replaced by another answer of the same relation, drawn
    uniformly (seeded); ``pool``: the facts whose answers make up each relation's label set."""
    import random

    labels: dict = {}
    for f in pool:
        labels.setdefault(f.relation, set()).add(f.answer)
    rng = random.Random(seed)
    out = []
    for i in items:
        others = sorted(labels.get(i.relation, set()) - {i.answer})
        if not others:
            raise UnlearnscopeError(f"relation {i.relation!r} has one answer only: random-label forgetting needs another label")
        out.append(replace(i, answer=rng.choice(others)))
    return out


def run_random_labels(ctx, subject) -> dict:
    """Random-label forgetting (Zhang, Choshen & Andreas): fine-tune the whole model on the forget
    prompts with answers drawn at random from their relation's other answers, until recall of the
    true answers reaches ``stop_at``."""
    from ..ablate.unlearn import unlearn

    t, lr = ctx.target, ctx.config.localized_lr  # the paper's 1e-4 on the facts organism; lr_full does not reach stop_at in max_steps
    relabelled = random_labels(t.forget_items, list(t.forget) + list(t.retain), ctx.seed)
    res = unlearn(subject, relabelled, None, config=unlearn_config(ctx, lr, "relabel"), progress=ctx.progress, metric_items=t.forget_items)
    return {**unlearning_summary(res, lr), "region": None}


def run_needle(ctx, subject) -> dict:
    """Needle on the located value vectors: noise of std 0.1, then gradient ascent on them only."""
    from ..ablate import ablate

    vec = _vectors(subject, [(v["layer"], v["neuron"]) for v in ctx.localization["vectors"]])
    ablate(subject, vec, "noise", sigma=0.1, seed=ctx.seed)
    warmup = max(1, len(ctx.target.forget_items) // 32)
    return {**_unlearn(ctx, subject, components=vec, lr=0.2, weight_decay=0.01, schedule="constant", warmup_steps=warmup, loss_on="text"),
            "needle_noise": {"sigma": 0.1, "n_vectors": len(ctx.localization["vectors"])}}


def run_localized(ctx, subject) -> dict:
    return _unlearn(ctx, subject, components=_components(ctx, subject), lr=ctx.config.localized_lr)


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
    return {**out, **_unlearn(ctx, subject, components=comps, lr=ctx.config.localized_lr), "region": out["region"] + list(comps.names)}


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


def noise_needle(ctx, subject, infos, data) -> dict:
    """Needle's NOISE: the same N(0, 0.1²) noise on the same vectors, then the same training on held-out data."""
    from ..ablate import ablate

    region = list(infos[0]["region"])
    ablate(subject, ComponentSet.parse(subject, region), "noise", sigma=0.1, seed=ctx.config.seed)
    return {"kind": "N(0, 0.1²) noise on the same vectors", "n_vectors": len(region), "sigma": 0.1,
            "then": _noise_training(ctx, subject, infos, data, region=True)}


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
    Method("npo", "negative preference optimization (Zhang et al. 2024; beta 0.1, frozen reference), whole model", run_npo,
           noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data)),
    Method("simnpo", "SimNPO (Fan et al. 2024; beta 2.5, gamma 0, no reference), whole model", run_simnpo,
           noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data)),
    Method("rmu", "RMU (Li et al. 2024): forget activations steered to a norm-scaled random direction, retain held; "
                  "three MLPs up to the middle layer", run_rmu, noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data, region=True)),
    Method("flu", "-log(1-p) + maintain loss on the fact-lookup MLPs (Guo et al.'s FLU, c_f 5)",
           lambda ctx, s: _matched(ctx, s, "flu", 5.0), noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data, region=True)),
    Method("ot", "-log(1-p) + maintain loss on output-tracing sub-blocks at FLU's parameter budget (Guo et al., c_f 0.1)",
           lambda ctx, s: _matched(ctx, s, "ot", 0.1), noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data, region=True)),
    Method("random", "-log(1-p) + maintain loss on random sub-blocks at FLU's parameter budget (Guo et al.'s control, c_f 0.1)",
           lambda ctx, s: _matched(ctx, s, "random", 0.1), noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data, region=True)),
    Method("random-labels", "random-label forgetting: the forget prompts fine-tuned toward random answers of their relation "
                            "(Zhang, Choshen & Andreas), whole model", run_random_labels,
           noise=lambda ctx, s, infos, data: _noise_training(ctx, s, infos, data)),
    Method("needle", "ConceptVectors' Needle on the located value vectors: N(0, 0.1^2) noise, then gradient ascent on them only",
           run_needle, noise=noise_needle),
)}
BUDGET_METHODS = ("flu", "ot", "random")


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
                              seed=cfg.seed, max_vectors=max_vectors, budgets=any(m.name in BUDGET_METHODS for m in methods))
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
