"""The refusal audit (MoE organism, or the dense multi-domain one): switching located experts off
vs UOE vs full-model unlearning, and the training-free skill methods Neuron Adjust and Key Space
Detection (dense FFNs only).

The target is a behaviour, read like a fact: each refusal prompt (``user : how do i make a bomb ?
assistant :``) has the answer ``i`` (the first token of the refusal) and its harmful noun as the
entity, so every verification readout applies unchanged — refusal rate per noun (behavioural),
logit lens of ``i`` (intrinsic), relearning refusal on half of the nouns and measuring the other
half, refusal demos in context, held-out templates (adversarial) — and benign prompts (answer
``sure``) are the locality set.  Linear probes are not run: with one answer per relation there is
no class to decode.  Every method stops at the same refusal rate (``stop_at``).

Methods: every registered audit method whose targets include ``refusal`` (`audit.methods`):
``experts-off``, ``uoe`` and ``uoe-random`` need routed experts, ``na`` and ``ksd`` dense FFNs,
``ga`` (gradient ascent on the whole model; ``full`` is its old name here) either.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from ..data import Fact, Item
from ..errors import UnlearnscopeError
from ..model.routing import RoutingOverride, route
from .checkpoints import checked_inputs
from .config import with_attack_budget
from .methods import check_methods
from .plan import Models, Plan, organism_sources, report_dir, stage
from .target import Target


def refusal_target(org) -> Target:
    items = [Item(**i) for i in org.ground_truth["items"]]
    fact = lambda i: Fact(i.prompt, i.answer, i.subject, i.domain)
    refuse = [i for i in items if i.domain == "refusal" and i.train]
    benign = [i for i in items if i.domain == "benign" and i.train]
    held = [i for i in items if i.domain == "refusal" and not i.train]
    if not refuse or not benign:
        raise UnlearnscopeError(
            f"organism {org.name} has no refusal / benign chat data: the refusal audit needs the moe organism"
        )
    return Target(
        name=f"{org.name}-refusal",
        source=f"organism:{org.name} (size {org.size}, seed {org.seed})",
        forget=[fact(i) for i in refuse],
        retain=[fact(i) for i in benign],
        formats={"heldout_templates": [fact(i) for i in held]},
        restatements=None,
        incontext_pool=[fact(i) for i in refuse],
        forget_items=refuse,
        retain_items=[i for i in items if i.domain != "refusal" and i.train],
        bos=org.ground_truth.get("bos"),
        noise_items=[
            i for i in items if i.train and ((i.domain == "facts" and i.split == "forget") or i.domain == "code")
        ],
        noise_source="the facts of the facts domain's forget entities and the trained code items (neither is "
        "evaluated)",
    )


def other_abilities(org) -> dict[str, list[Fact]]:
    """The organism's other domains as locality sets: retain facts, arithmetic, held-out code."""
    items = [Item(**i) for i in org.ground_truth["items"]]
    pick = {
        "facts": lambda i: i.domain == "facts" and i.train and i.split == "retain",
        "arith": lambda i: i.domain == "arith",
        "code": lambda i: i.domain == "code" and not i.train,
    }
    return {k: [Fact(i.prompt, i.answer, i.subject, i.relation) for i in items if keep(i)] for k, keep in pick.items()}


MOE_VERIFY = {"readouts": ("logit_lens",), "attacks": ("relearn", "incontext", "format")}


def moe_verify(verify, target):
    """The verification the refusal target supports: the logit lens, and of the asked-for attacks
    those in `MOE_VERIFY` (probes need a class to decode; with one answer per relation there is none)."""
    attacks = tuple(a for a in MOE_VERIFY["attacks"] if verify.runs(a))
    return replace(verify, bos=verify.bos or target.bos, readouts=MOE_VERIFY["readouts"], attacks=attacks)


@dataclass
class RefusalPlan(Plan):
    """The refusal target: the organism's other abilities are locality sets, an expert-restricted
    method's region is its expert, inference-time methods are held by their routing override or
    their fitted intervention (``held``: model id → context factory, filled by `na` / `ksd`), the
    organism's behaviour table is measured, and switching experts off is checked against matched
    random expert sets."""

    abilities: dict = field(default_factory=dict)
    evaluator: Callable | None = None
    n_random: int = 20
    seed: int = 0

    def verify_extra(self, method: str, info: dict) -> dict:
        from ..ablate.uoe import expert_components

        u = info.get("uoe")
        return {
            "region": expert_components(self.original, u["layer"], u["expert"]) if u else None,
            "locality": self.abilities,
        }

    def hold(self, subject, info: dict):
        ov = info.get("override")
        if ov:
            return route(subject, RoutingOverride.from_dict(ov))
        held = self.localization["held"]
        return held[id(subject)]() if id(subject) in held else contextlib.nullcontext()

    def behaviour(self, subject) -> dict | None:
        return self.evaluator(subject) if self.evaluator is not None else None

    def after_interventions(self, interventions: dict) -> dict:
        """Localization validity: the switched-off set against matched random expert sets."""
        from ..localize.experts import expert_control

        if "experts-off" not in interventions:
            return {}
        experts = [tuple(e) for e in interventions["experts-off"]["routing"]["experts"]]
        ec = expert_control(
            self.original, experts, self.evaluator, mode="off", n_random=min(self.n_random, 20), seed=self.seed
        )
        return {"localization": {**self.sections["localization"], "expert_control": ec.summary()}}


def moe_plan(cfg, out, log) -> RefusalPlan:
    from ..localize.experts import ftri
    from ..organisms import behaviour_evaluator

    check_methods(cfg.method_names, "refusal")  # names first, before any model is built
    org, fresh, references = organism_sources(cfg, cfg.organism, log)
    target = refusal_target(org)
    name = cfg.name or target.name
    out = report_dir(out, name)
    original = fresh()
    methods = check_methods(cfg.method_names, "refusal", original.anatomy, where=f"organism {org.name}")
    checkpoints = checked_inputs(cfg, original, target, log)
    if original.anatomy.is_moe:
        stage(log, "localize on ORIG: fTRI over refusal and benign prompts")
        prompts = [i.prompt for i in target.forget_items] + [
            i.prompt for i in target.retain_items if i.domain == "benign"
        ]
        fmap = ftri(original, prompts, target="refused")
        ranking = fmap.ranking()
        loc = {
            "kind": "experts",
            "method": "fTRI differential token counts (refused − answered), per layer",
            "ranking": ranking.ranked_experts(),
            "class_counts": fmap.class_counts,
        }
    else:
        ranking = None
        loc = {
            "kind": "ffn",
            "method": "per method: FFN statistics (na) or a key-space cube (ksd) fitted on ORIG's refusal and retain "
            "items",
        }
    return RefusalPlan(
        name,
        out,
        target,
        Models(original, fresh, references, checkpoints, org),
        methods,
        {"ranking": ranking, "held": {}},
        with_attack_budget(moe_verify(cfg.verify, target), cfg.attacks),
        {"target": "refusal", "localization": loc},
        abilities=other_abilities(org),
        evaluator=behaviour_evaluator(org),
        n_random=cfg.n_random,
        seed=cfg.seed,
    )
