"""Which MoE experts a concept or behaviour uses, and emergent experts for dense models.

from unlearnscope.localize.experts import routing_stats, uoe_attribution, ftri, expert_control
stats = routing_stats(subject, texts)                 # frequency / affinity / entropy per [layer, expert]
ranking = uoe_attribution(subject, forget, contrast=other)   # UOE affinity (differential)
fmap = ftri(subject, prompts, target="refused")       # MoTE's differential activation map
ctl = expert_control(subject, ranking.top_per_layer(1), evaluate, mode="off")   # vs matched random experts
em = emergent_experts(dense_subject, n_experts=8)     # EMoE: clustered FFN neurons as experts
"""

from .attribution import ExpertRanking, attribution_stability, top_overlap, uoe_attribution
from .control import ExpertControl, expert_control, matched_draws
from .emoe import EmergentExperts, balanced_kmeans, emergent_experts
from .ftri_map import FTRIMap, PromptFamily, ftri, refusal_classifier
from .routing_statistics import (
    RoutingAccumulator,
    RoutingComparison,
    RoutingStats,
    compare_routing,
    js_divergence,
    require_moe,
    routing_stats,
    selection_overlap_tracker,
)

__all__ = [
    "EmergentExperts",
    "ExpertControl",
    "ExpertRanking",
    "FTRIMap",
    "PromptFamily",
    "RoutingAccumulator",
    "RoutingComparison",
    "RoutingStats",
    "attribution_stability",
    "balanced_kmeans",
    "compare_routing",
    "emergent_experts",
    "expert_control",
    "ftri",
    "js_divergence",
    "matched_draws",
    "refusal_classifier",
    "require_moe",
    "routing_stats",
    "selection_overlap_tracker",
    "top_overlap",
    "uoe_attribution",
]
