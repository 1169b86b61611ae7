"""``format``: recall of the forget facts under held-out renderings (paraphrases, multiple choice,
other templates: `VerifyData.formats`), one metric ``format:{name}`` per rendering."""

from __future__ import annotations

from ..readouts.recall import recall_metric
from ..registry import Measurement, readout
from ..rki import Metric

NO_DATA = "not run: no held-out renderings of the forget facts (formats) were given"


@readout(
    "format",
    "adversarial",
    metrics="format:{name}",
    requires=("lm_head",),
    weights_only=True,
    missing=lambda m: NO_DATA if not m.data.formats else None,
)
def measure(m: Measurement) -> list[Metric]:
    """recall of the forget facts in each held-out rendering"""
    return [
        recall_metric(m.models, f"format:{name}", "adversarial", facts, None, {"n_items": len(facts)})
        for name, facts in m.data.formats.items()
    ]
