"""Where a fact is computed: causal tracing, activation / attribution patching, fact lookup, unit
attribution, and the checks that a localization means something.

    from unlearnscope.localize.facts import attribution_patching, unit_attribution, random_control
    loc = attribution_patching(subject, facts)              # FactLocalization [kind, layer, role]
    loc.components(top_k=4, subject=subject)               # a ComponentSet of whole sub-blocks
    units = unit_attribution(subject, facts)               # one score per neuron / expert
    rc = random_control(subject, [(l, k, j) for l, k, j, _ in units.top(20)], facts, other_facts)

Every patching method takes ``metric=``: a built-in name (``logit_diff``, ``logprob``, ``prob``)
or any function ``(logits [batch, d_vocab], answer [batch], corrupt_answer [batch]) -> [batch]``.
"""

from .attribution import attribution_patching
from .budget import budget_match, flu_components, flu_layers, flu_role, random_components
from .corruption import clean_and_corrupt, subject_swap
from .effects import FactLocalization
from .lookup import fact_lookup
from .metrics import METRICS, logit_diff, logprob, prob
from .patching import activation_patching
from .tracing import causal_trace
from .units import RandomControl, UnitScores, random_control, unit_attribution
from .validity import agreement, validate_facts

__all__ = [
    "METRICS",
    "FactLocalization",
    "RandomControl",
    "UnitScores",
    "activation_patching",
    "agreement",
    "attribution_patching",
    "budget_match",
    "causal_trace",
    "clean_and_corrupt",
    "fact_lookup",
    "flu_components",
    "flu_layers",
    "flu_role",
    "random_components",
    "logit_diff",
    "logprob",
    "prob",
    "random_control",
    "subject_swap",
    "unit_attribution",
    "validate_facts",
]
