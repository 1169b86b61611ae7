"""The verdict table's rows and the report's version: the types `build` writes and `schema`
describes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from ..evaluate.verdicts import Knowledge, Label, Stability
from ..results import Record

# 3: typed records, readout names are metric names, per-readout settings (CHANGELOG.md); 2: seeds, NOISE per method
REPORT_VERSION = 3
Intervention = Literal["weights", "inference-time"]
Source = Literal["method", "checkpoint"]


@dataclass(frozen=True)
class VerdictRow(Record):
    """One row of the verdict table: the verdict, the RKIs it rests on (``metric``, ``value``,
    ``ci``), the worst retained share, per-seed verdicts, missing readouts, the intervention's kind
    and its ``source`` (``method``: run by the audit; ``checkpoint``: made elsewhere, audited as it is)."""

    method: str
    label: Label = field(metadata={"json": "verdict"})
    knowledge: Knowledge | None = field(metadata={"json": "knowledge_verdict"})
    reason: str
    behavioural_rki: dict | None
    intrinsic_rki: dict | None
    adversarial_rki: dict | None
    locality: dict | None
    seeds: list[dict]
    stability: Stability | None
    missing_readouts: list[dict]
    intervention: Intervention
    held_in_weights: list[str] | None
    source: Source


def verdict_row(method: str, v: dict, intervention: Intervention = "weights", source: Source = "method") -> VerdictRow:
    """The verdict table's row of ``method`` from its verification's JSON ``v``."""
    verdict = v["verdict"]
    pick = lambda r: None if r is None else {k: r.get(k) for k in ("metric", "value", "ci") if k in r}
    locs = [{"metric": k, **v} for k, v in verdict.get("locality", {}).items() if v.get("value") is not None]
    loc = min(locs, key=lambda r: r["value"], default=None)  # the worst retained share
    return VerdictRow(
        method,
        verdict.get("verdict"),
        verdict.get("knowledge_verdict"),
        verdict.get("reason"),
        pick(verdict.get("behavioural_rki")),
        pick(verdict.get("intrinsic_rki")),
        pick(verdict.get("adversarial_rki")),
        loc,
        verdict.get("seeds", []),
        verdict.get("stability"),
        verdict.get("missing_readouts", []),
        verdict.get("intervention", intervention),
        verdict.get("held_in_weights"),
        source,
    )
