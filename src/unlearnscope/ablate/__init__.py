"""Ablate: static ablations of component sets as reversible edits, and localized unlearning.

    from unlearnscope.ablate import ComponentSet, ablate, unlearn, UnlearnConfig
    cs = ComponentSet.parse(subject, "blocks.1.mlp.value:[3,7] blocks.0.attn.head:2")
    with ablate(subject, cs, "zero") as ed: ...                  # zero | noise | mean | project
    result = unlearn(subject, forget, retain, components=cs, config=UnlearnConfig(method="npo"))

`ComponentSet` lives in `unlearnscope.model.components` (localizers return them too); it is
exported here because this is where sets are cut.  UOE single-expert unlearning: `ablate.uoe`.
"""

from ..model.components import ComponentSet, resolve_name
from .static import MODES, ablate
from .unlearn import METHODS, UnlearnConfig, UnlearnResult, needle, noise_reference, unlearn

__all__ = ["METHODS", "MODES", "ComponentSet", "UnlearnConfig", "UnlearnResult", "ablate", "needle", "noise_reference", "resolve_name", "unlearn"]
