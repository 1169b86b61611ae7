"""The typed results of a verification: RKIs, metric summaries, findings and verdicts.

Each is a dataclass whose ``to_dict()`` is its JSON in ``report.json`` (field names as there, or
as ``metadata["json"]`` says) and which reads like that JSON too (``verdict["knowledge_verdict"]``
is ``verdict.knowledge``).  The labels are `Literal`\\ s:

* `Knowledge` — what is left of the knowledge: ``erased`` | ``suppressed`` | ``not unlearned`` |
  ``inconclusive`` | ``no reference`` (no never-knew model to compare with) | ``no verdict``
  (an encoder: no behaviour to read);
* `Label` — the verdict shown first: a `Knowledge` label, ``damaged`` (locality dropped beyond
  NOISE; the knowledge label is kept beside it) or ``unstable`` (the unlearning seeds disagree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from ..results import Record

Knowledge = Literal["erased", "suppressed", "not unlearned", "inconclusive", "no reference", "no verdict"]
Label = Literal[
    "erased", "suppressed", "not unlearned", "inconclusive", "no reference", "no verdict", "damaged", "unstable"
]
Stability = Literal["stable", "unstable", "single seed"]
OPTIONAL = {"omit_none": True}


def _ci(value) -> tuple[float | None, float | None]:
    lo, hi = value
    return (lo, hi)


@dataclass(frozen=True)
class RKI(Record):
    """``(m_unl − m_REF) / (m_ORIG − m_REF)`` with its bootstrap CI; ``defined`` False (and
    ``why``) when ORIG and REF do not separate; ``metric``: which readout a worst-case RKI is."""

    value: float | None
    ci: tuple[float | None, float | None]
    defined: bool
    why: str | None = None
    metric: str | None = field(default=None, metadata=OPTIONAL)

    @classmethod
    def undefined(cls, why: str) -> RKI:
        return cls(None, (None, None), False, why)

    @classmethod
    def _field_from(cls, name: str, value: Any) -> Any:
        return _ci(value) if name == "ci" else value


@dataclass(frozen=True)
class RoleSummary(Record):
    """A reference role's mean over its models and entities, with its CI."""

    agg_value: float
    ci: tuple[float | None, float | None]
    n_models: int

    @classmethod
    def _field_from(cls, name: str, value: Any) -> Any:
        return _ci(value) if name == "ci" else value


@dataclass(frozen=True)
class MetricSummary(Record):
    """One metric of a verification: the unlearned models' mean (``agg_value``) with its CI, per
    seed and per entity (``value_by_index``, open-unlearning's shape), each reference role's, the
    RKI (``None`` for locality metrics: their ``locality`` is the retained share) and, in a
    verification, its faithfulness and whether the verdict used it."""

    name: str
    kind: str
    agg_value: float
    ci: tuple[float | None, float | None]
    n_entities: int
    by_seed: list[float]
    value_by_index: dict[str, float]
    original: RoleSummary | None = None
    reference: RoleSummary | None = None
    noise: RoleSummary | None = None
    rki: RKI | None = None
    locality: dict | None = field(default=None, metadata=OPTIONAL)
    detail: dict | None = field(default=None, metadata=OPTIONAL)
    faithfulness: dict | None = field(default=None, metadata=OPTIONAL)
    used_in_verdict: bool | None = field(default=None, metadata=OPTIONAL)

    @classmethod
    def _field_from(cls, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in ("original", "reference", "noise"):
            return RoleSummary.from_dict(value)
        if name == "rki":
            return RKI.from_dict(value)
        return _ci(value) if name == "ci" else value


@dataclass(frozen=True)
class Finding(Record):
    """What one readout shows ("decodable", "recovers", "does not recall at margin m" ...): never
    a knowledge verdict, which needs every family."""

    name: str
    kind: str
    rki: RKI
    finding: str

    @classmethod
    def _field_from(cls, name: str, value: Any) -> Any:
        return RKI.from_dict(value) if name == "rki" else value


@dataclass(frozen=True)
class MissingReadout(Record):
    name: str
    why: str


@dataclass(frozen=True)
class SeedVerdict(Record):
    seed: Any
    label: Label = field(metadata={"json": "verdict"})
    knowledge: Knowledge | None = field(default=None, metadata={"json": "knowledge_verdict"})


@dataclass(frozen=True)
class Verdict(Record):
    """The verdict on one target (see `rki.verdict_of`): ``label`` (shown first), ``knowledge`` (what
    is left of the knowledge), ``reason`` in words, the RKIs it rests on (``rki``; the worst
    behavioural, intrinsic and adversarial ones), ``locality`` (retained shares), the readouts
    asked for but not used (``missing_readouts``), per-seed verdicts and their ``stability``; for
    an inference-time intervention, what the weights alone still show (``held_in_weights``)."""

    label: Label = field(metadata={"json": "verdict"})
    knowledge: Knowledge = field(metadata={"json": "knowledge_verdict"})
    reason: str
    config: dict = field(default_factory=dict)
    rki: dict[str, RKI] = field(default_factory=dict)
    missing_readouts: list[MissingReadout] = field(default_factory=list)
    warning: str | None = None
    behavioural_rki: RKI | None = None
    intrinsic_rki: RKI | None = None
    adversarial_rki: RKI | None = None
    locality: dict = field(default_factory=dict)
    over_unlearned: list[str] = field(default_factory=list)
    seeds: list[SeedVerdict] = field(default_factory=list)
    stability: Stability | None = None
    pooled_verdict: Label | None = field(default=None, metadata=OPTIONAL)
    intervention: str | None = field(default=None, metadata=OPTIONAL)
    held_in_weights: list[str] | None = field(default=None, metadata=OPTIONAL)
    weights_only_rki: dict[str, RKI] | None = field(default=None, metadata=OPTIONAL)

    @classmethod
    def _field_from(cls, name: str, value: Any) -> Any:
        if value is None:
            return None
        if name in ("rki", "weights_only_rki"):
            return {k: RKI.from_dict(v) for k, v in value.items()}
        if name in ("behavioural_rki", "intrinsic_rki", "adversarial_rki"):
            return RKI.from_dict(value)
        if name == "missing_readouts":
            return [MissingReadout.from_dict(x) for x in value]
        if name == "seeds":
            return [SeedVerdict.from_dict(x) for x in value]
        return value
