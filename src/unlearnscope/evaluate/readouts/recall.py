"""``recall``: the behavioural readout — per forget entity, the share of its facts whose answer is
the model's top-1 next token at the prompt's last position (`evaluate.recall.entity_recall`)."""

from __future__ import annotations

from ..models import ModelSet, metric
from ..recall import entity_recall
from ..registry import Measurement, readout
from ..rki import Metric


def recall_metric(ms: ModelSet, name: str, kind: str, facts, order=None, detail=None) -> Metric:
    """Recall of ``facts`` per entity (columns in ``order``) on every model of ``ms``'s roles."""
    return metric(name, kind, ms.map("recall", entity_recall, facts, order, roles=ms.roles), detail)


@readout(
    "recall",
    "behavioural",
    always=True,
    weights_only=True,
    requires=("lm_head",),
    description="forget facts answered top-1, per entity (what the model says)",
)
def measure(m: Measurement) -> list[Metric]:
    return [recall_metric(m.models, "recall", "behavioural", m.data.forget, m.data.order)]
