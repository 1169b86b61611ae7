"""``causal_depth``: per forget entity, ``1 − UDS`` averaged over its facts that have a material
layer (`evaluate.depth`): REF's hidden states patched into ORIG layer by layer are the baseline
effect, every model's likewise the measured one (1 = as ORIG, 0 = as erased as never knowing)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ...errors import UnlearnscopeError
from ..models import Anchor, metric
from ..registry import Measurement, readout
from ..rki import Metric
from ..stats import per_entity

NEEDS_BOTH = "not run: causal depth patches a never-knew model's (REF) hidden states into ORIG; give both"


@dataclass(frozen=True)
class DepthSettings:
    scope: str = "last"  # patch the answer-predicting position ("subject": the subject's tokens)

    def validate(self) -> None:
        if self.scope not in ("last", "subject"):
            raise UnlearnscopeError(f"causal depth scope must be 'last' or 'subject', got {self.scope!r}")


def _depth(subject, target: Anchor):
    """``target.obj``: the patching baseline (S1 on ORIG and REF), keyed by both models' digests and the facts."""
    from ..depth import causal_depth

    return causal_depth(target.obj.original, subject, target.obj).knowledge


def _missing(m: Measurement) -> str | None:
    return None if m.models.has("original") and m.models.has("reference") else NEEDS_BOTH


@readout(
    "causal_depth",
    "intrinsic",
    config=DepthSettings,
    requires=("lm_head",),
    missing=_missing,
    section="depth",
    aliases=("depth",),
    source="UDS (unlearning depth score), ORIG patched with REF's hidden states as the baseline",
)
def measure(m: Measurement) -> list[Metric]:
    """1 − UDS: the share of REF's per-layer patching effect on ORIG that the model does not reproduce"""
    from ..cache import weights_digest
    from ..depth import patching_baseline

    ms, scope = m.models, m.settings.scope
    orig, ref = ms.roles["original"][0], ms.roles["reference"][0]
    with ms.resident(ref):
        base = patching_baseline(orig, ref, m.data.forget, scope=scope)
    keep = base.defined
    facts = [f for f, k in zip(base.facts, keep.tolist(), strict=True) if k]
    facts_key = hashlib.sha256(repr([(f.prompt, f.answer, f.subject) for f in base.facts]).encode()).hexdigest()
    target = Anchor(base, f"{weights_digest(orig)}|{weights_digest(ref)}|{scope}|{facts_key}")
    vals = ms.map("causal_depth", _depth, target, roles=ms.roles)
    m.section.update(
        {
            "scope": scope,
            "tau": base.tau,
            "n_facts": len(base.facts),
            "n_defined": len(facts),
            "baseline_delta_per_layer": base.delta.mean(1).tolist(),
            "material_share_per_layer": base.material.float().mean(1).tolist(),
        }
    )
    per_role = {r: [per_entity(v[keep], [f.subject for f in facts]) for v in vs] for r, vs in vals.items()}
    return [
        metric(
            "causal_depth",
            "intrinsic",
            per_role,
            {
                "score": "1 − UDS: the share of the never-knew model's per-layer patching effect the model does not "
                "reproduce",
                "scope": scope,
                "n_facts": len(facts),
            },
        )
    ]
