"""The meta-evaluation report: ``metaeval.html`` (one self-contained file, plotly inlined) and
``metaeval.json`` (the `MetaEval` result), written atomically."""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

COLUMNS = (
    "readout",
    "kind",
    "faithfulness AUC [CI]",
    "quant8",
    "quant4",
    "relearn R",
    "AUC after quant4 / relearn",
    "used in verdicts",
)


def _n(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def _row(r: dict, floor: float) -> str:
    rob, after = r["robustness"], r.get("auc_after", {})
    flag = "" if r["faithfulness_auc"] >= floor else " style='background:#fdd'"
    used = "yes" if r["used_in_verdicts"] else f"no (AUC < {floor})"
    cells = [
        html.escape(r["name"]),
        r["kind"],
        f"{_n(r['faithfulness_auc'])} [{_n(r['ci'][0])}, {_n(r['ci'][1])}]",
        _n(rob.get("quant8")),
        _n(rob.get("quant4")),
        _n(rob.get("relearn")),
        f"{_n(after.get('quant4'))} / {_n(after.get('relearn'))}",
        used,
    ]
    return f"<tr{flag}>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def render_metaeval(m: dict) -> str:
    from plotly.offline import get_plotlyjs

    from ..viz.metaeval import member_values_figure, roc_figure

    floor = m["config"]["floor"]
    pop = "".join(
        f"<tr><td>{html.escape(p['name'])}</td><td>{p['group']}</td><td>{html.escape(p['how'])}</td></tr>"
        for p in m["population"]
    )
    table = "".join(_row(r, floor) for r in m["rows"])
    figs = "".join(
        f.to_html(full_html=False, include_plotlyjs=False, div_id=f"figure-{i}")
        for i, f in enumerate((roc_figure(m), member_values_figure(m)))
    )
    o = m["organism"]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>metaeval — {html.escape(o['name'])}</title>"
        "<style>body{font-family:system-ui,sans-serif;margin:2em "
        "auto;max-width:1100px}table{border-collapse:collapse;font-size:14px}"
        "td,th{border:1px solid #ccc;padding:4px 8px}</style>"
        f"<script type='text/javascript'>{get_plotlyjs()}</script></head><body>"
        f"<h1>Meta-evaluation of the readouts — {html.escape(o['name'])} ({html.escape(o['size'])}, seed "
        f"{o['seed']})</h1>"
        "<p>Faithfulness: the AUC with which a readout's value (mean over the forget entities) separates models that "
        "know the facts "
        f"from models that never knew them, with a bootstrap CI over models. Robustness: the stability "
        "1 − |after − before| / (|before| + |after|) under 8- and 4-bit per-channel round-to-nearest quantization "
        "(mean over every model), and R = 1 − |Δ_unl − Δ_never| / (|Δ_unl| + |Δ_never|) after a brief fine-tune on "
        "unrelated data. Readouts below "
        f"the floor {floor} (red) are not used in verdicts unless asked. Measured against ORIG and REF (seed 0), which "
        "are not scored.</p>"
        f"<table><tr>{''.join(f'<th>{c}</th>' for c in COLUMNS)}</tr>{table}</table>{figs}"
        f"<h2>Population</h2><table><tr><th>member</th><th>group</th><th>how it was made</th></tr>{pop}</table>"
        f"<p>{m['seconds']:.0f} "
        f"s</p><h2>Configuration</h2><pre>{html.escape(json.dumps(m['config'], indent=1, default=str))}</pre>"
        "</body></html>"
    )


def write_metaeval_report(result, out: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``metaeval.html`` and ``metaeval.json`` into ``out`` (both or neither)."""
    from ..model.edits import atomic_dir
    from ..results import to_jsonable

    out = Path(out)
    d = result.to_dict()
    page = render_metaeval(d)
    with atomic_dir(out) as tmp:
        (tmp / "metaeval.json").write_text(json.dumps(to_jsonable(d), indent=1))
        (tmp / "metaeval.html").write_text(page, encoding="utf-8")
    return out / "metaeval.html", out / "metaeval.json"
