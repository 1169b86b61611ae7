"""Where a concept lives among the MLP value vectors, and SAE features.

    from unlearnscope.localize.concepts import Lexicon, scan_concept, validate_concept_vector
    scan = scan_concept(subject, Lexicon.from_text(subject, "maro tesi paris doctor"))
    scan.top[0]                              # {"layer", "expert", "neuron", "score", "hits", "top_tokens"}
    val = validate_concept_vector(subject, scan.top[0], target=facts_x, unrelated=facts_y)

SAE features (sae-lens): `train_sae`, `load_sae`, `rank_latents`, `ablate_latents`, and
`sae_probe_features` to run linear probes on an SAE's latents.
"""

from .lexicon import Lexicon
from .sae import (
    LatentRanking,
    ablate_latents,
    load_sae,
    rank_latents,
    sae_features,
    sae_hook,
    sae_probe_features,
    train_sae,
)
from .scan import ConceptScan, VectorScores, concept_scores, scan_concept, vector_name, vocab_moments
from .validation import ConceptValidation, validate_concept_vector, validate_concept_vectors
from .vocab import iter_value_vectors, top_tokens, value_groups

__all__ = [
    "ConceptScan",
    "ConceptValidation",
    "LatentRanking",
    "Lexicon",
    "VectorScores",
    "ablate_latents",
    "concept_scores",
    "iter_value_vectors",
    "load_sae",
    "rank_latents",
    "sae_features",
    "sae_hook",
    "sae_probe_features",
    "scan_concept",
    "top_tokens",
    "train_sae",
    "validate_concept_vector",
    "validate_concept_vectors",
    "value_groups",
    "vector_name",
    "vocab_moments",
]
