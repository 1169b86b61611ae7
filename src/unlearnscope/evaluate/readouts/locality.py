"""Locality: what the unlearning should have kept, read like recall on other facts.

* ``retain_recall``: recall of the retain entities' facts;
* ``locality``: recall of each other ability given (`VerifyData.locality`), one metric
  ``locality:{name}`` each (facts without a subject are scored per prompt).

"Damaged" compares these with the method's NOISE control (`rki.verdict_of`)."""

from __future__ import annotations

from ..registry import Measurement, readout
from ..rki import Metric
from .recall import recall_metric


@readout(
    "retain_recall",
    "locality",
    always=True,
    requires=("lm_head",),
    description="retain facts answered top-1, per retain entity",
)
def measure_retain(m: Measurement) -> list[Metric]:
    return [recall_metric(m.models, "retain_recall", "locality", m.data.retain)]


@readout(
    "locality",
    "locality",
    always=True,
    metrics="locality:{name}",
    requires=("lm_head",),
    applies=lambda m: bool(m.data.locality),
    description="each other ability given (locality sets), answered top-1",
)
def measure_abilities(m: Measurement) -> list[Metric]:
    return [recall_metric(m.models, f"locality:{name}", "locality", facts) for name, facts in m.data.locality.items()]
