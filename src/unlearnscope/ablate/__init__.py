"""Ablate: static ablations of component sets as reversible edits, and localized unlearning.

    from unlearnscope.ablate import ComponentSet, ablate, unlearn, UnlearnConfig, UNLEARNING_METHODS
    cs = ComponentSet.parse(subject, "blocks.1.mlp.value:[3,7] blocks.0.attn.head:2")
    with ablate(subject, cs, "zero") as ed: ...                  # zero | noise | mean | project
    result = unlearn(subject, forget, retain, components=cs, config=UnlearnConfig(method="npo"))
    UNLEARNING_METHODS.names()                                   # the registered objectives (`ablate.methods`)

`ComponentSet` lives in `unlearnscope.model.components` (localizers return them too); it is
exported here because this is where sets are cut.  UOE single-expert unlearning: `ablate.uoe`.
Names are imported lazily (importing this package does not import torch).
"""

from __future__ import annotations

_LAZY = {
    "ComponentSet": "unlearnscope.model.components",
    "resolve_name": "unlearnscope.model.components",
    "MODES": "unlearnscope.ablate.static",
    "ablate": "unlearnscope.ablate.static",
    "UNLEARNING_METHODS": "unlearnscope.ablate.methods",
    "UnlearningMethod": "unlearnscope.ablate.methods",
    "UnlearnConfig": "unlearnscope.ablate.unlearning",
    "UnlearnResult": "unlearnscope.ablate.unlearning",
    "needle": "unlearnscope.ablate.unlearning",
    "noise_reference": "unlearnscope.ablate.unlearning",
    "unlearn": "unlearnscope.ablate.unlearning",
    "paper_defaults": "unlearnscope.ablate.unlearning",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
