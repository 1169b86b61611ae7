"""Localization: where a fact, a concept or a skill lives.

* `vocab` — vocabulary projection (raw / logit lens), streamed over every value vector;
* `concepts` — concept vectors (scan + causal validation);
* `tracing`, `patching`, `lookup` — fact-recall localization → `FactLocalization`;
* `units` — neuron / expert attribution and random-control validation;
* `sae` — SAE features with sae-lens;
* `ffn_stats`, `neuron_adjust`, `key_space`, `skills` — FFN skill key-spaces (Neuron Adjust, Key
  Space Detection) evaluated as relative drops per skill;
* `routing_stats`, `experts`, `ftri`, `expert_control`, `emoe` — MoE experts (import the modules).
"""

from .concepts import ConceptScan, ConceptValidation, scan_concept, validate_concept_vector
from .effects import FactLocalization
from .facts import Fact, as_facts, encode_facts, load_facts, recall
from .ffn_stats import FFNStats, ffn_stats
from .key_space import KeySpaceCube, fit_key_space, generate_with_abstention, key_space_detector, key_space_distance, key_space_roc
from .lexicon import Lexicon
from .lookup import fact_lookup
from .neuron_adjust import NeuronSelection, neuron_adjust, select_neurons
from .patching import activation_patching, attribution_patching, subject_swap
from .skills import Skill, SkillUnlearningResult, ksd_skill_unlearning, na_skill_unlearning, organism_skills
from .tracing import causal_trace
from .units import RandomControl, UnitScores, random_control, unit_attribution
from .validity import agreement, spearman, validate_facts
from .vocab import iter_value_vectors, project, top_tokens

__all__ = [
    "ConceptScan", "ConceptValidation", "FFNStats", "Fact", "FactLocalization", "KeySpaceCube", "Lexicon", "NeuronSelection",
    "RandomControl", "Skill", "SkillUnlearningResult", "UnitScores", "ffn_stats", "fit_key_space", "generate_with_abstention",
    "key_space_detector", "key_space_distance", "key_space_roc", "ksd_skill_unlearning", "na_skill_unlearning", "neuron_adjust",
    "organism_skills", "select_neurons",
    "activation_patching", "agreement", "as_facts", "attribution_patching", "causal_trace", "encode_facts", "fact_lookup",
    "iter_value_vectors", "load_facts", "project", "random_control", "recall", "scan_concept", "spearman", "subject_swap",
    "top_tokens", "unit_attribution", "validate_concept_vector", "validate_facts",
]
