"""The report's worst-case attacks section: a worst-case table over methods and attacks, then per
method the relearning sweep's recovery curves (REF's floor beside them), the direction-ablation
layers and the recovery attribution bars."""

from __future__ import annotations

from ..viz import attacks as figs
from .fmt import esc as _e
from .fmt import num as _n
from .fmt import with_ci

WORST_CASE = ("relearn:sweep", "relearn", "direction_ablation", "router_restore")


def _chosen(m: dict, attacks: dict) -> str:
    d = m.get("detail") or {}
    if m["name"] == "relearn:sweep":
        picks = d.get("worst_case") or []
        return "; ".join(
            dict.fromkeys(f"{p['config']['params']} lr {p['config']['lr']:g}, {p['steps']} steps" for p in picks)
        )
    if m["name"] == "direction_ablation":
        return "layer " + ", ".join(dict.fromkeys(str(x) for x in d.get("layers", [])))
    if m["name"] == "relearn":
        return "lr " + ", ".join(dict.fromkeys(f"{x:g}" for x in d.get("lrs", [])))
    if m["name"].startswith("quant"):
        return f"{d.get('bits')}-bit round trip"
    return ""


def _locality(m: dict, attacks: dict) -> str:
    s = attacks.get("relearn:sweep")
    if m["name"] != "relearn:sweep" or not s:
        return "–"
    return (
        " / ".join(dict.fromkeys(_n(s["locality"][c]) for c in s.get("chosen", [])))
        + f" (limit {s['utility_limit']:g} × {_n(s['retain_recall_before'])})"
    )


def _is_attack(name: str) -> bool:
    return name in WORST_CASE or name.startswith("quant")


def worst_case_table(runs: dict) -> str:
    rows = []
    for method, v in runs.items():
        attacks = v.get("attacks") or {}
        for m in v["metrics"]:
            if not _is_attack(m["name"]):
                continue
            r, ref, orig = m.get("rki") or {}, m.get("reference") or {}, m.get("original") or {}
            rki = with_ci(r) if r.get("defined") else "–"
            rows.append(
                f"<tr><td class=l>{_e(method)}</td><td class=l>{_e(m['name'])}</td><td "
                f"class=l>{_e(_chosen(m, attacks))}</td>"
                f"<td>{with_ci({'value': m['agg_value'], 'ci': m['ci']})}</td><td>{_n(orig.get('agg_value'))}</td>"
                f"<td>{_n(ref.get('agg_value'))}</td><td>{rki}</td><td>{_e(_locality(m, attacks))}</td></tr>"
            )
    if not rows:
        return "<p class=note>No worst-case attack was run (audit --attacks off).</p>"
    return (
        "<table><tr><th class=l>method</th><th class=l>attack</th><th class=l>worst case "
        "(cross-fitted)</th><th>recovered recall [CI]</th>"
        f"<th>ORIG</th><th>REF floor</th><th>RKI [CI]</th><th>retain recall after</th></tr>{''.join(rows)}</table>"
        "<p class=note>Each attack runs the same way on the unlearned models, ORIG and the never-knew models (REF's "
        "value under the attack is its floor). The worst-case option (layer, sweep configuration, learning rate) is "
        "chosen on one half of the entities and scored on the other; sweep configurations that drop retain recall "
        "below the utility limit are not eligible.</p>"
    )


def attacks_section(runs: dict, fig) -> list[str]:
    """HTML parts of the section; ``fig`` renders a plotly figure (deterministic ids)."""
    parts = ["<h2>Worst-case attacks</h2>", worst_case_table(runs)]
    for method, v in runs.items():
        a = v.get("attacks") or {}
        if not a:
            continue
        parts.append(f"<h3>{_e(method)}</h3>")
        if "relearn:sweep" in a:
            parts.append(fig(figs.sweep_curves(a)))
        if "direction_ablation" in a:
            parts.append(fig(figs.direction_layers(a)))
        if "component_revert" in a:
            parts += [
                f"<p>{_e(a['component_revert']['reading'])}. Recovery attribution is not used in the verdict: ORIG's "
                "weights put back can carry the facts whatever the unlearning did.</p>",
                fig(figs.attribution_bars(a)),
            ]
        if "router_restore" in a and a["router_restore"].get("routing_stability"):
            st = a["router_restore"]["routing_stability"]
            parts.append(
                "<p>routing stability against ORIG: "
                + "; ".join(
                    f"{_e(k)}: top-k overlap {_n(x['top_k_overlap'])}, JSD {x['jsd']:.4f}" for k, x in st.items()
                )
                + f". {_e(a['router_restore'].get('reading', ''))}</p>"
            )
    return parts
