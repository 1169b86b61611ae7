"""The registry of audit methods (`AUDIT_METHODS`): the interventions an audit compares, one module each.

An `AuditMethod` runs on ``(ctx, subject)`` (`plan.AuditContext`, a fresh copy of ORIG it edits in
place) and returns a description of what it changed (components, steps, curves).  Its
``targets`` say which audit targets it applies to (``facts``: an organism's or a user's facts;
``refusal``: the refusal behaviour of the MoE and multi-domain organisms) and ``requires`` what
the model must have (``moe``: routed experts; ``dense``: dense FFN neurons; ``lm_head``).  Every
unlearning run uses the same budget and stopping rule (`unlearn_config`), so methods are compared
at equal behavioural forgetting.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from ...errors import UnlearnscopeError
from ...registry import Registry

if TYPE_CHECKING:
    from ...model.anatomy import Anatomy

F = TypeVar("F", bound=Callable[..., Any])

Intervention = Literal["weights", "inference-time"]
TargetKind = Literal["facts", "refusal"]
ModelNeed = Literal["moe", "dense", "lm_head"]
TARGETS: tuple[str, ...] = ("facts", "refusal")
NEEDS = {
    "moe": ("routed experts", lambda a: a.is_moe),
    "dense": ("dense FFN neurons", lambda a: not a.is_moe),
    "lm_head": (
        "an LM head: they unlearn next-token predictions (an encoder has none; audit encoder checkpoints made "
        "elsewhere with --unlearned NAME=PATH)",
        lambda a: a.unembed is not None,
    ),
}


@dataclass(frozen=True)
class AuditMethod:
    """``run(ctx, subject) -> info`` edits a fresh copy of ORIG in place; ``noise(ctx, subject,
    infos, data) -> info`` builds that method's NOISE control on another fresh copy (the same
    kind and size of change aimed at nothing: the same training on held-out data, or the same
    number of random units); ``intervention``: ``weights`` or ``inference-time`` (held by the
    plan while verifying); a ``deterministic`` method runs once, not once per seed; ``uses``:
    what it reads from the localization (``matched``: Guo et al.'s budget-matched localizations,
    computed only when a method asks for them)."""

    name: str
    description: str
    run: Callable[..., dict]
    noise: Callable[..., dict] | None = None
    intervention: Intervention = "weights"
    deterministic: bool = False
    targets: tuple[TargetKind, ...] = ("facts",)
    requires: tuple[ModelNeed, ...] = ("lm_head",)
    uses: tuple[str, ...] = ()
    source: str = ""


AUDIT_METHODS: Registry[AuditMethod] = Registry("audit method")


def audit_method(
    name: str, description: str, *, aliases: tuple[str, ...] = (), replace: bool = False, **spec
) -> Callable[[F], F]:
    """Register the decorated ``run(ctx, subject) -> info`` as audit method ``name``."""

    def register(run: Callable[..., dict]):
        AUDIT_METHODS.register(
            AuditMethod(name, description, run, **spec), aliases=aliases, replace=replace, origin=run.__module__
        )
        return run

    return register


def register(method: AuditMethod, *, aliases: tuple[str, ...] = (), replace: bool = False) -> AuditMethod:
    return AUDIT_METHODS.register(
        method, aliases=aliases, replace=replace, origin=sys._getframe(1).f_globals.get("__name__")
    )


def methods_for(target: TargetKind) -> tuple[str, ...]:
    """The registered methods that apply to ``target``."""
    return AUDIT_METHODS.names(lambda m: target in m.targets)


def check_methods(
    names: Sequence[str], target: TargetKind, anatomy: Anatomy | None = None, *, where: str = ""
) -> list[AuditMethod]:
    """``names`` (aliases followed) as methods for ``target``; with ``anatomy``, each method's
    model requirements checked.  Every problem is one error that names what to choose instead."""
    names = list(names)
    unknown = [n for n in names if n not in AUDIT_METHODS]
    if unknown:
        raise UnlearnscopeError(f"unknown audit methods {unknown}; choose from {list(AUDIT_METHODS.names())}")
    methods = [AUDIT_METHODS[n] for n in names]
    wrong = [m.name for m in methods if target not in m.targets]
    if wrong:
        raise UnlearnscopeError(
            f"{wrong} do not apply to the {target} target; its methods: {', '.join(methods_for(target))}"
        )
    if anatomy is not None:
        for need, (what, ok) in NEEDS.items():
            bad = [m.name for m in methods if need in m.requires]
            if bad and not ok(anatomy):
                fits = [n for n in methods_for(target) if all(NEEDS[r][1](anatomy) for r in AUDIT_METHODS[n].requires)]
                raise UnlearnscopeError(
                    f"{bad} need {what}; {where or 'this model'} has none — its methods: {', '.join(fits)}"
                    + _hint(need)
                )
    return methods


def _hint(need: str) -> str:
    return {
        "dense": "; its FFNs are experts (--organism multidomain is the same refusal target on a dense model)",
        "moe": "; it is a dense model (--organism moe has routed experts)",
    }.get(need, "")


# ---------------------------------------------------------------------------- what methods share
def unlearn_config(ctx, lr: float, method: str = "ga", **paper):
    """The audit's unlearning run: ``max_steps`` at most, stopped at forget recall <= ``stop_at``,
    batch order from the run's seed; ``paper``: the method's own settings from its paper (loss
    weights, β, schedule), which the audit's budget and learning rate do not replace."""
    from ...ablate.unlearning import UnlearnConfig

    c = ctx.config
    return UnlearnConfig(
        method=method,
        steps=c.max_steps,
        lr=lr,
        batch_size=c.batch_size,
        seed=ctx.seed,
        eval_every=2,
        stop_at_forget_acc=c.stop_at,
        **paper,
    )


def unlearning_summary(res, lr: float) -> dict:
    """What an unlearning run did, as the report's interventions section shows it."""
    keep = ("forget_weight", "retain_weight", "beta", "schedule", "warmup_steps", "loss_on", "rmu_layer", "rmu_scale")
    return {
        "unlearning": {
            "method": res.method,
            "lr": lr,
            "steps": res.steps,
            "stopped": res.stopped,
            "n_params_trained": res.n_params_trained,
            "forget_recall_curve": [list(p) for p in res.forget_metric_curve],
            "settings": {k: res.config[k] for k in keep if res.config.get(k) is not None},
        }
    }


def unlearn_run(
    ctx, subject, *, components=None, method: str = "ga", lr: float | None = None, retain: bool = False, **paper
) -> dict:
    """The audit's unlearning run of ``method`` on the target's forget items (and retain items when
    ``retain``), restricted to ``components``; ``lr`` default: the audit's full-model rate."""
    from ...ablate.unlearning import unlearn

    lr = lr or ctx.config.full_lr
    res = unlearn(
        subject,
        ctx.target.forget_items,
        ctx.target.retain_items if retain else None,
        components=components,
        config=unlearn_config(ctx, lr, method, **paper),
        progress=ctx.progress,
    )
    return {**unlearning_summary(res, lr), "region": res.components}


def located_components(ctx, subject):
    """The localization's top sub-blocks (attribution patching) as a `ComponentSet`."""
    from ...model.components import ComponentSet

    return ComponentSet.parse(subject, list(ctx.localization["components"]))


def value_vectors(subject, pairs):
    """``[(layer, neuron)]`` value vectors as a `ComponentSet`."""
    from ...model.components import ComponentSet

    return ComponentSet.from_slices(
        subject,
        [subject.anatomy.value_slice(l, [j]) for l, j in pairs],
        [f"blocks.{l}.mlp.value:{j}" for l, j in pairs],
    )


def longest_run(infos: list[dict]) -> dict:
    """The unlearning summary of the run with the most steps (what a NOISE control matches)."""
    return max((i["unlearning"] for i in infos if "unlearning" in i), key=lambda u: u["steps"])


def training_noise(ctx, subject, infos: list[dict], data) -> dict:
    """A training method's NOISE: its longest run's steps at its LR on held-out data, restricted
    to the components it trained (its ``region``; the whole model when it has none)."""
    region = infos[0].get("region")
    return training_noise_on(ctx, subject, infos, data, list(region) if region else None)


def training_noise_on(ctx, subject, infos: list[dict], data, region: list[str] | None) -> dict:
    """`training_noise` restricted to the components named in ``region`` (``None``: the whole model)."""
    from ...model.components import ComponentSet
    from ..noise import finetune_noise

    u = longest_run(infos)
    comps = ComponentSet.parse(subject, region) if region is not None else None
    return finetune_noise(
        subject,
        data,
        steps=max(1, u["steps"]),
        lr=u["lr"],
        batch_size=ctx.config.batch_size,
        seed=ctx.config.seed,
        components=comps,
    )


def timed(method: AuditMethod, ctx, subject) -> dict:
    t0 = time.perf_counter()
    info = method.run(ctx, subject)
    return {"description": method.description, **info, "seed": ctx.seed, "seconds": round(time.perf_counter() - t0, 2)}


def runs_summary(method: AuditMethod, infos: list[dict]) -> dict:
    """The interventions section's entry: the first seed's run, and one line per seed."""
    per_seed = []
    for i in infos:
        u = i.get("unlearning") or {}
        stopped = next(
            (
                i[k]["stopped"]
                for k in ("unlearning", "ablation", "routing", "neuron_adjust", "key_space")
                if (i.get(k) or {}).get("stopped")
            ),
            None,
        )
        curve = u.get("forget_recall_curve") or []
        per_seed.append(
            {
                "seed": i["seed"],
                "steps": u.get("steps"),
                "stopped": stopped,
                "forget_recall": curve[-1][1] if curve else None,
                "seconds": i["seconds"],
            }
        )
    return {**infos[0], "intervention": method.intervention, "seeds": per_seed, "deterministic": method.deterministic}


def describe(m: AuditMethod) -> dict[str, Any]:
    """One row of the docs' and the CLI's method table."""
    return {
        "name": m.name,
        "targets": list(m.targets),
        "requires": list(m.requires),
        "intervention": m.intervention,
        "description": m.description,
    }
