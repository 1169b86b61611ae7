"""The refusal audit (MoE organism, or the dense multi-domain one): switching located experts off
vs UOE vs full-model unlearning, and the training-free skill methods Neuron Adjust and Key Space
Detection (`skill_methods`; dense FFNs only).

The target is a behaviour, read like a fact: each refusal prompt (``user : how do i make a bomb ?
assistant :``) has the answer ``i`` (the first token of the refusal) and its harmful noun as the
entity, so every verification readout applies unchanged — refusal rate per noun (behavioural),
logit lens of ``i`` (intrinsic), relearning refusal on half of the nouns and measuring the other
half, refusal demos in context, held-out templates (adversarial) — and benign prompts (answer
``sure``) are the locality set.  Linear probes are not run: with one answer per relation there is
no class to decode.  Every method stops at the same refusal rate (``stop_at``).

Methods: ``experts-off`` (fTRI-ranked experts switched off at inference, per layer, as many as
needed to reach ``stop_at``), ``uoe`` (UOE: the most affine expert and its router, anchored),
``uoe-random`` (UOE's control: one random expert instead of the most affine), ``full`` (gradient
ascent on the whole model), ``na`` / ``ksd`` (dense models: see `skill_methods`).
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

from ..data import Fact, Item
from ..errors import UnlearnscopeError
from ..model.routing import RoutingOverride, route
from .checkpoints import checked_inputs
from .config import with_attack_budget
from .methods import Method, check_methods, longest_run, unlearn_config, unlearning_summary
from .noise import finetune_noise, random_experts_noise
from .plan import Plan, organism_sources, report_dir, stage
from .skill_methods import run_ksd, run_na
from .target import Target


def refusal_target(org) -> Target:
    items = [Item(**i) for i in org.ground_truth["items"]]
    fact = lambda i: Fact(i.prompt, i.answer, i.subject, i.domain)  # noqa: E731
    refuse = [i for i in items if i.domain == "refusal" and i.train]
    benign = [i for i in items if i.domain == "benign" and i.train]
    held = [i for i in items if i.domain == "refusal" and not i.train]
    if not refuse or not benign:
        raise UnlearnscopeError(f"organism {org.name} has no refusal / benign chat data: the refusal audit needs the moe organism")
    return Target(name=f"{org.name}-refusal", source=f"organism:{org.name} (size {org.size}, seed {org.seed})",
                  forget=[fact(i) for i in refuse], retain=[fact(i) for i in benign], formats={"heldout_templates": [fact(i) for i in held]},
                  restatements=None, incontext_pool=[fact(i) for i in refuse], forget_items=refuse,
                  retain_items=[i for i in items if i.domain != "refusal" and i.train], bos=org.ground_truth.get("bos"),
                  noise_items=[i for i in items if i.train and ((i.domain == "facts" and i.split == "forget") or i.domain == "code")],
                  noise_source="the facts of the facts domain's forget entities and the trained code items (neither is evaluated)")


def other_abilities(org) -> dict[str, list[Fact]]:
    """The organism's other domains as locality sets: retain facts, arithmetic, held-out code."""
    items = [Item(**i) for i in org.ground_truth["items"]]
    pick = {"facts": lambda i: i.domain == "facts" and i.train and i.split == "retain", "arith": lambda i: i.domain == "arith",
            "code": lambda i: i.domain == "code" and not i.train}
    return {k: [Fact(i.prompt, i.answer, i.subject, i.relation) for i in items if keep(i)] for k, keep in pick.items()}


def run_experts_off(ctx, subject) -> dict:
    from ..organisms.train import accuracy

    ranking, c, items = ctx.localization["ranking"], ctx.config, ctx.target.forget_items
    n_experts = subject.anatomy.n_experts
    curve = []
    for k in range(1, max(1, n_experts // 2) + 1):
        experts = [(l, e) for l, e, _ in ranking.top_per_layer(k)]
        ov = RoutingOverride.build("off", experts)
        with route(subject, ov):
            curve.append([k, accuracy(subject.model, subject.tokenizer, items)])
        if curve[-1][1] <= c.stop_at:
            break
    return {"routing": {"mode": "off", "experts": [list(e) for e in experts], "per_layer": k, "refusal_by_k": curve,
                        "stopped": "forget_metric" if curve[-1][1] <= c.stop_at else "max_experts"},
            "override": ov.to_dict(), "region": None}


def run_uoe(ctx, subject) -> dict:
    from ..ablate.uoe import expert_components, uoe_unlearn

    c = ctx.config
    items = ctx.target.forget_items
    res = uoe_unlearn(subject, items, config=unlearn_config(ctx, c.localized_lr), progress=ctx.progress, metric_items=items)
    u = res.config["uoe"]
    return {**unlearning_summary(res, c.localized_lr), "uoe": u, "region": expert_components(subject, u["layer"], u["expert"]).names}


def run_uoe_random(ctx, subject) -> dict:
    """UOE's control (SEUF Table 3, "+Random expert"): the same training and anchor on one expert
    drawn uniformly (seeded by the run's seed) from every MoE layer's routed experts except the
    most affine one."""
    import torch

    from ..ablate.uoe import expert_components, uoe_unlearn
    from ..localize.experts import uoe_attribution

    c, a = ctx.config, subject.anatomy
    items = ctx.target.forget_items
    top = uoe_attribution(subject, [i.text for i in items]).top(1)[0]
    pool = [(l, e) for l in a.moe_layers for e in range(a.n_experts) if (l, e) != (top[0], top[1])]
    layer, e = pool[int(torch.randint(len(pool), (1,), generator=torch.Generator().manual_seed(ctx.seed)))]
    res = uoe_unlearn(subject, items, expert=(layer, e), config=unlearn_config(ctx, c.localized_lr), progress=ctx.progress, metric_items=items)
    u = {**res.config["uoe"], "excluded_top": [top[0], top[1]]}
    return {**unlearning_summary(res, c.localized_lr), "uoe": u, "region": expert_components(subject, layer, e).names}


def run_full(ctx, subject) -> dict:
    from ..ablate.unlearn import unlearn

    c = ctx.config
    items = ctx.target.forget_items
    res = unlearn(subject, items, config=unlearn_config(ctx, c.full_lr), progress=ctx.progress, metric_items=items)
    return {**unlearning_summary(res, c.full_lr), "region": None}


def _noise_experts(ctx, subject, infos, data) -> dict:
    return random_experts_noise(subject, infos[0]["routing"]["experts"], seed=ctx.config.seed)


def _noise_training(ctx, subject, infos, data) -> dict:
    from ..model.components import ComponentSet

    u = longest_run(infos)
    region = infos[0].get("region")
    comps = ComponentSet.parse(subject, list(region)) if region else None
    return finetune_noise(subject, data, steps=max(1, u["steps"]), lr=u["lr"], batch_size=ctx.config.batch_size, seed=ctx.config.seed,
                          components=comps)


MOE_METHODS = {m.name: m for m in (
    Method("experts-off", "the fTRI-ranked refusal experts switched off at inference (pre-selection mask), per layer, as many as needed",
           run_experts_off, noise=_noise_experts, intervention="inference-time", deterministic=True),
    Method("uoe", "UOE: gradient ascent on the most refusal-affine expert and its router, with the router anchor", run_uoe, noise=_noise_training),
    Method("uoe-random", "UOE's control: the same training and anchor on one random expert (not the most affine)", run_uoe_random,
           noise=_noise_training),
    Method("full", "gradient ascent on the refusal prompts, whole model", run_full, noise=_noise_training),
    Method("na", "Neuron Adjust: forget-like FFN pre-activations mapped into the retain distribution at inference, top-p grown to the stopping rule",
           run_na, intervention="inference-time"),
    Method("ksd", "Key Space Detection: queries whose FFN key falls in the refusal cube are steered to the benign prompts' mean key",
           run_ksd, intervention="inference-time", deterministic=True),
)}
MOE_ONLY = ("experts-off", "uoe", "uoe-random")  # need routed experts
DENSE_ONLY = ("na", "ksd")  # read dense FFN neurons

MOE_VERIFY = {"readouts": ("lens",), "attacks": ("relearn", "incontext", "format")}


def moe_verify(verify, target):
    """The verification the refusal target supports: the logit lens, and of the asked-for attacks
    those in `MOE_VERIFY` (probes need a class to decode; with one answer per relation there is none)."""
    attacks = tuple(a for a in MOE_VERIFY["attacks"] if a in verify.attacks)
    return replace(verify, bos=verify.bos or target.bos, readouts=MOE_VERIFY["readouts"], attacks=attacks)


def moe_plan(cfg, out, log) -> Plan:
    from ..ablate.uoe import expert_components
    from ..localize.experts import expert_control, ftri
    from ..organisms import behaviour_evaluator

    methods = check_methods(cfg.method_names, MOE_METHODS)
    org, fresh, references = organism_sources(cfg, cfg.organism, log)
    target = refusal_target(org)
    name = cfg.name or target.name
    out = report_dir(out, name)
    original = fresh()
    checkpoints = checked_inputs(cfg, original, target, log)
    evaluate = behaviour_evaluator(org)
    if original.anatomy.is_moe:
        need = [m.name for m in methods if m.name in DENSE_ONLY]
        if need:
            raise UnlearnscopeError(f"{need} read dense FFN neurons; organism {org.name}'s FFNs are experts — use --organism multidomain "
                                    "(the same refusal target on a dense model)")
        stage(log, "localize on ORIG: fTRI over refusal and benign prompts")
        prompts = [i.prompt for i in target.forget_items] + [i.prompt for i in target.retain_items if i.domain == "benign"]
        fmap = ftri(original, prompts, target="refused")
        ranking = fmap.ranking()
        loc = {"kind": "experts", "method": "fTRI differential token counts (refused − answered), per layer",
               "ranking": ranking.ranked_experts(), "class_counts": fmap.class_counts}
    else:
        need = [m.name for m in methods if m.name in MOE_ONLY]
        if need:
            raise UnlearnscopeError(f"{need} act on routed experts; organism {org.name} is dense — use --organism moe, or na / ksd / full here")
        ranking = None
        loc = {"kind": "ffn", "method": "per method: FFN statistics (na) or a key-space cube (ksd) fitted on ORIG's refusal and retain items"}
    abilities = other_abilities(org)
    held: dict = {}  # id(model) -> context factory of a fitted inference-time method (skill_methods)

    def verify_kwargs(name, info):
        u = info.get("uoe")
        return {"region": expert_components(original, u["layer"], u["expert"]) if u else None, "locality": abilities}

    def control(interventions):  # localization validity: the switched-off set against matched random expert sets
        if "experts-off" not in interventions:
            return {}
        experts = [tuple(e) for e in interventions["experts-off"]["routing"]["experts"]]
        ec = expert_control(original, experts, evaluate, mode="off", n_random=min(cfg.n_random, 20), seed=cfg.seed)
        return {"localization": {**loc, "expert_control": ec.summary()}}

    def hold(subject, info):
        ov = info.get("override")
        if ov:
            return route(subject, RoutingOverride.from_dict(ov))
        return held[id(subject)]() if id(subject) in held else contextlib.nullcontext()

    return Plan(name, out, target, fresh, original, references, methods, {"ranking": ranking, "held": held},
                with_attack_budget(moe_verify(cfg.verify, target), cfg.attacks), verify_kwargs,
                {"target": "refusal", "localization": loc}, noise_items=target.noise_items, noise_data=target.noise_source, hold=hold,
                evaluate=evaluate, organism=org, after_interventions=control, checkpoints=checkpoints)
