"""Where a skill lives in the FFN key space: statistics, Neuron Adjust, Key Space Detection.

    from unlearnscope.localize.skills import organism_skills, ksd_skill_unlearning, na_skill_unlearning
    skills = organism_skills(org)                           # {"arith": Skill(fit, eval), ...}
    r = ksd_skill_unlearning(subject, skills, "arith")      # cube + λ chosen on fit items only
    r.row("arith")["relative_drop"], r.tpr, r.fpr

Building blocks: `ffn_stats` (streamed FFN statistics), `select_neurons` / `neuron_adjust` (Li,
Sun & Weng: map forget-like pre-activations into the retain distribution), `fit_key_space` /
`key_space_detector` / `generate_with_abstention` (abstain when a query's key falls in the skill's
hypercube).
"""

from .ffn_statistics import FFNStats, ffn_site, ffn_stats, resolve_layers
from .key_space import (
    KeySpaceCube,
    KeySpaceDetector,
    KeySpaceROC,
    KeySpaceSteerer,
    fit_key_space,
    generate_with_abstention,
    key_space_detector,
    key_space_distance,
    key_space_roc,
    key_space_steering,
)
from .neuron_adjustment import NeuronSelection, adjust_values, neuron_adjust, select_neurons
from .unlearning import (
    Skill,
    SkillUnlearningResult,
    ksd_skill_unlearning,
    na_skill_unlearning,
    organism_skills,
    split_items,
)

__all__ = [
    "FFNStats",
    "KeySpaceCube",
    "KeySpaceDetector",
    "KeySpaceROC",
    "KeySpaceSteerer",
    "NeuronSelection",
    "Skill",
    "SkillUnlearningResult",
    "adjust_values",
    "ffn_site",
    "ffn_stats",
    "fit_key_space",
    "generate_with_abstention",
    "key_space_detector",
    "key_space_distance",
    "key_space_roc",
    "key_space_steering",
    "ksd_skill_unlearning",
    "na_skill_unlearning",
    "neuron_adjust",
    "organism_skills",
    "resolve_layers",
    "select_neurons",
    "split_items",
]
