"""The intrinsic evaluation report as data: one JSON document holding every number shown.

    report = build_report("facts-forget", {"ga": verification, "located": other}, provenance=prov)
    html_path, json_path = write_report(report, "reports/facts-forget")

``report["verdict_table"]`` has one row per method (verdict, behavioural / intrinsic / worst-case
adversarial RKI with CIs, locality); ``report["runs"][method]`` is that method's full
`Verification` (metrics beside their ORIG / REF values, probes with controls, lens, relearning,
parametric traces).  The HTML (`html.render_html`) is a pure function of this JSON.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..errors import UnlearnscopeError
from .rows import REPORT_VERSION, Intervention, Source, VerdictRow, verdict_row  # noqa: F401  (re-exported)


def build_report(
    name: str,
    runs: dict,
    *,
    provenance: dict | None = None,
    config: dict | None = None,
    sections: dict | None = None,
    output_metrics: dict | None = None,
) -> dict:
    """``runs``: ``{method: Verification or its to_dict()}`` (at least one).  ``sections``: the
    audit's other results (``localization``, ``interventions``, ``noise``, ...), kept as given;
    ``output_metrics``: ``{model: {metric: {"agg_value", ...}}}`` (`evaluate.output_metrics`)."""
    if not runs:
        raise UnlearnscopeError("a report needs at least one verified method")
    as_dict = {m: (v.to_dict() if hasattr(v, "to_dict") else dict(v)) for m, v in runs.items()}
    for v in as_dict.values():  # each method's NOISE values beside its metrics
        v["noise"] = {m["name"]: m.get("noise") for m in v["metrics"]}
    iv = (sections or {}).get("interventions", {})
    kinds = {m: iv.get(m, {}).get("intervention", "weights") for m in as_dict}
    sources = {m: iv.get(m, {}).get("source", "method") for m in as_dict}
    return {
        "kind": "intrinsic_evaluation_report",
        "version": REPORT_VERSION,
        "name": name,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "verdict_table": [verdict_row(m, v, kinds[m], sources[m]).to_dict() for m, v in as_dict.items()],
        "provenance": provenance or {},
        "config": config or {},
        "sections": sections or {},
        "runs": as_dict,
        "output_metrics": output_metrics
        or {},  # per model, open-unlearning's metric names and shape (evaluate.output_metrics)
    }


def load_report(path: str | os.PathLike) -> dict:
    p = Path(path)
    if p.is_dir():
        p = p / "report.json"
    try:
        data = json.loads(p.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise UnlearnscopeError(f"cannot read a report from {p}: {err}") from err
    if data.get("kind") != "intrinsic_evaluation_report":
        raise UnlearnscopeError(f"{p} is not an unlearnscope report.json")
    return data


def write_report(report: dict, out_dir: str | os.PathLike, *, screenshot: bool = False) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.json`` into ``out_dir`` atomically (both or neither)."""
    from ..model.edits import atomic_dir
    from ..results import to_jsonable
    from .html import render_html
    from .schema import VALIDATE_ENV, validate_report

    out = Path(out_dir)
    if os.environ.get(VALIDATE_ENV):
        validate_report(report)
    html = render_html(report)
    try:
        with atomic_dir(out) as tmp:
            (tmp / "report.json").write_text(json.dumps(to_jsonable(report), indent=1))
            (tmp / "report.html").write_text(html, encoding="utf-8")
    except OSError as err:
        raise UnlearnscopeError(f"cannot write the report into {out}: {err}") from err
    return out / "report.html", out / "report.json"
