"""``uoe-random``: UOE's control (SEUF Table 3, "+Random expert") — the same training and anchor on
one expert drawn uniformly (seeded by the run's seed) from every MoE layer's routed experts
except the most affine one."""

from __future__ import annotations

from .base import audit_method, training_noise, unlearn_config, unlearning_summary


@audit_method(
    "uoe-random",
    "UOE's control: the same training and anchor on one random expert (not the most affine)",
    noise=training_noise,
    targets=("refusal",),
    requires=("lm_head", "moe"),
    source="SEUF Table 3",
)
def run(ctx, subject) -> dict:
    import torch

    from ...ablate.uoe import expert_components, uoe_unlearn
    from ...localize.experts import uoe_attribution

    c, a = ctx.config, subject.anatomy
    items = ctx.target.forget_items
    top = uoe_attribution(subject, [i.text for i in items]).top(1)[0]
    pool = [(l, e) for l in a.moe_layers for e in range(a.n_experts) if (l, e) != (top[0], top[1])]
    layer, e = pool[int(torch.randint(len(pool), (1,), generator=torch.Generator().manual_seed(ctx.seed)))]
    res = uoe_unlearn(
        subject,
        items,
        expert=(layer, e),
        config=unlearn_config(ctx, c.localized_lr),
        progress=ctx.progress,
        metric_items=items,
    )
    u = {**res.config["uoe"], "excluded_top": [top[0], top[1]]}
    return {**unlearning_summary(res, c.localized_lr), "uoe": u, "region": expert_components(subject, layer, e).names}
