"""``router_restore`` (MoE only): recall with ORIG's routing decisions replayed in the unlearned
model (`evaluate.router_attack`), and in the details the routing stability of the unlearned
models against ORIG on the forget and retain prompts (top-k overlap, JSD) with its reading."""

from __future__ import annotations

from ..models import Anchor, anchor_of
from ..registry import Measurement, readout
from ..rki import Metric, shows_knowledge
from ..worst_case import option_means, worst_option


def _router(subject, orig: Anchor, facts, order):
    from ..router_attack import original_routing
    from ..whitebox import recall_under

    return recall_under(subject, facts, order, original_routing(subject, orig.obj))[None]


@readout(
    "router_restore",
    "adversarial",
    requires=("lm_head", "original", "moe"),
    on_noise=False,
    worst_case=True,
    section="attacks",
    aliases=("router",),
    source="SEUF / UOE's routing analysis: expert selection restored from ORIG",
)
def measure(m: Measurement) -> list[Metric]:
    """recall with ORIG's routing decisions replayed (MoE)"""
    from ..router_attack import reading, routing_stability

    ms, rules = m.models, m.config.rules
    orig = ms.roles["original"][0]
    vals = ms.map("router_restore", _router, anchor_of(orig), m.data.forget, m.data.order, roles=list(ms.roles))
    metric = worst_option("router_restore", vals, m.data.order, m.seed, {})[0]
    prompts = {"forget": [f.prompt for f in m.data.forget], "retain": [f.prompt for f in m.data.retain]}
    rows = []
    for u in ms.roles["unlearned"]:
        with ms.resident(u), ms.held(u):  # the routing the model actually uses, its intervention included
            rows.append(routing_stability(orig, u, prompts))
    stability = {k: {s: sum(r[k][s] for r in rows) / len(rows) for s in ("top_k_overlap", "jsd")} for k in rows[0]}
    metric.detail["routing_stability"] = stability
    m.section["router_restore"] = {
        "options": ["ORIG's routing"],
        "recovered": option_means(vals),
        "routing_stability": stability,
        "reading": reading(stability, shows_knowledge(metric.rki(rules), rules.margin)),
    }
    return [metric]
