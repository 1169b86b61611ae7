"""``reintroduce``: recall of each forget fact after the same fact is stated in another rendering
(the restatements: `VerifyData.restatements`) — knowledge that comes back when reminded."""

from __future__ import annotations

from ..readouts.recall import recall_metric
from ..registry import Measurement, readout
from ..rki import Metric

NO_DATA = "not run: no other renderings of the forget facts (restatements) were given"


@readout(
    "reintroduce",
    "adversarial",
    requires=("lm_head",),
    weights_only=True,
    missing=lambda m: NO_DATA if m.data.restatements is None else None,
)
def measure(m: Measurement) -> list[Metric]:
    """recall of the forget facts after the same fact is stated once in another rendering"""
    from ..prompt_attacks import incontext_facts

    facts = incontext_facts(
        m.data.forget, m.data.demos, 1, mode="reintroduce", restatements=m.data.restatements, bos=m.config.bos
    )
    return [
        recall_metric(
            m.models,
            "reintroduce",
            "adversarial",
            facts,
            m.data.order,
            {"k": 1, "stated": "the queried fact in another rendering"},
        )
    ]
