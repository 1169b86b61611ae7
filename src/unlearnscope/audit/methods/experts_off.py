"""``experts-off``: the fTRI-ranked refusal experts switched off at inference (pre-selection
mask), per layer, as many as needed to reach ``stop_at``.  Its NOISE switches off as many other
experts per layer."""

from __future__ import annotations

from .base import audit_method


def noise(ctx, subject, infos, data) -> dict:
    from ..noise import random_experts_noise

    return random_experts_noise(subject, infos[0]["routing"]["experts"], seed=ctx.config.seed)


@audit_method(
    "experts-off",
    "the fTRI-ranked refusal experts switched off at inference (pre-selection mask), per layer, as many as needed",
    noise=noise,
    intervention="inference-time",
    deterministic=True,
    targets=("refusal",),
    requires=("lm_head", "moe"),
    source="MoTE (fTRI)",
)
def run(ctx, subject) -> dict:
    from ...model.routing import RoutingOverride, route
    from ...organisms.train import accuracy

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
    return {
        "routing": {
            "mode": "off",
            "experts": [list(e) for e in experts],
            "per_layer": k,
            "refusal_by_k": curve,
            "stopped": "forget_metric" if curve[-1][1] <= c.stop_at else "max_experts",
        },
        "override": ov.to_dict(),
        "region": None,
    }
