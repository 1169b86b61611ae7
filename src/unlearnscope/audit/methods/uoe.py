"""``uoe``: UOE (SEUF) — gradient ascent on the most refusal-affine expert and its router, with the
router anchor, at the audit's localized learning rate."""

from __future__ import annotations

from .base import audit_method, training_noise, unlearn_config, unlearning_summary


@audit_method(
    "uoe",
    "UOE: gradient ascent on the most refusal-affine expert and its router, with the router anchor",
    noise=training_noise,
    targets=("refusal",),
    requires=("lm_head", "moe"),
    source="SEUF / UOE",
)
def run(ctx, subject) -> dict:
    from ...ablate.uoe import expert_components, uoe_unlearn

    c = ctx.config
    items = ctx.target.forget_items
    res = uoe_unlearn(
        subject, items, config=unlearn_config(ctx, c.localized_lr), progress=ctx.progress, metric_items=items
    )
    u = res.config["uoe"]
    return {
        **unlearning_summary(res, c.localized_lr),
        "uoe": u,
        "region": expert_components(subject, u["layer"], u["expert"]).names,
    }
