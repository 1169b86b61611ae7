"""Localization: where a fact, a concept or a skill lives.

* `vocab` — vocabulary projection (raw / logit lens), streamed over every value vector;
* `concepts` — concept vectors (scan + causal validation);
* `tracing`, `patching`, `lookup` — fact-recall localization → `FactLocalization`;
* `units` — neuron / expert attribution and random-control validation;
* `sae` — SAE features with sae-lens.
"""

from .concepts import ConceptScan, ConceptValidation, scan_concept, validate_concept_vector
from .effects import FactLocalization
from .facts import Fact, as_facts, encode_facts, load_facts, recall
from .lexicon import Lexicon
from .lookup import fact_lookup
from .patching import activation_patching, attribution_patching, subject_swap
from .tracing import causal_trace
from .units import RandomControl, UnitScores, random_control, unit_attribution
from .validity import agreement, spearman, validate_facts
from .vocab import iter_value_vectors, project, top_tokens

__all__ = [
    "ConceptScan", "ConceptValidation", "Fact", "FactLocalization", "Lexicon", "RandomControl", "UnitScores",
    "activation_patching", "agreement", "as_facts", "attribution_patching", "causal_trace", "encode_facts", "fact_lookup",
    "iter_value_vectors", "load_facts", "project", "random_control", "recall", "scan_concept", "spearman", "subject_swap",
    "top_tokens", "unit_attribution", "validate_concept_vector", "validate_facts",
]
