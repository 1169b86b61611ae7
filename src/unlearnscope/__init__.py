"""unlearnscope: mechanistic and parametric analysis of unlearning in transformer language models.

    import unlearnscope as us
    subject = us.load("path/to/model")
    with us.capture(subject, "blocks.*.hook_resid_post") as cache:
        subject.forward(["The capital of France is"])

Heavy modules (torch, transformers, TransformerLens, nnsight) are imported lazily.
"""

from __future__ import annotations

__version__ = "0.2.0"

_LAZY = {
    "load": "unlearnscope.sources",
    "Subject": "unlearnscope.model.subject",
    "capture": "unlearnscope.model.activations",
    "run_with_cache": "unlearnscope.model.activations",
    "hooks": "unlearnscope.model.forward_hooks",
    "intervene": "unlearnscope.model.interventions",
    "Edits": "unlearnscope.model.edits",
    "EditPatch": "unlearnscope.model.edits",
    "export_model": "unlearnscope.model.edits",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'unlearnscope' has no attribute {name!r}")
