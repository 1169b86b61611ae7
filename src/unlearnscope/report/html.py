"""Render a report dict (see `build.py`) as one self-contained HTML file: plotly.js is inlined
once, every figure is embedded, nothing is fetched from the network."""

from __future__ import annotations

import html
import json

from ..viz import verify as figs

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.v-erased{background:#dfd}.v-suppressed{background:#ffd}
.v-damaged{background:#fdd}.v-not{background:#fcc}.note{color:#666;font-size:13px}h2{border-bottom:1px solid #ddd}"""


def _e(x) -> str:
    return html.escape(str(x))


def _num(x, nd=2) -> str:
    return "–" if x is None else f"{x:.{nd}f}" if isinstance(x, (int, float)) else _e(x)


def _ci(r) -> str:
    if not r or r.get("value") is None:
        return "–"
    lo, hi = (r.get("ci") or [None, None])[:2]
    return f"{_num(r['value'])} [{_num(lo)}, {_num(hi)}]"


def _fig_html(fig, div_id: str) -> str:
    return f'<div class="figure">{fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False})}</div>'


def _verdict_table(rows) -> str:
    head = "<tr><th class=l>method</th><th class=l>verdict</th><th>behavioural RKI</th><th>intrinsic RKI (worst metric)</th><th>worst adversarial RKI</th><th>locality</th></tr>"
    body = []
    for r in rows:
        cls = "v-" + (r["verdict"] or "").split()[0]
        intr = r["intrinsic_rki"] or {}
        adv = r["adversarial_rki"] or {}
        body.append(f"<tr><td class=l>{_e(r['method'])}</td><td class='l {cls}' title='{_e(r['reason'])}'>{_e(r['verdict'])}"
                    f"{' (' + _e(r['knowledge_verdict']) + ')' if r.get('knowledge_verdict') and r['knowledge_verdict'] != r['verdict'] else ''}</td>"
                    f"<td>{_ci(r['behavioural_rki'])}</td><td>{_ci(intr)} {_e(intr.get('metric', ''))}</td>"
                    f"<td>{_ci(adv)} {_e(adv.get('metric', ''))}</td><td>{_ci(r['locality'])}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _metric_table(v) -> str:
    head = "<tr><th class=l>metric</th><th class=l>kind</th><th>unlearned [CI]</th><th>ORIG</th><th>REF</th><th>RKI [CI]</th><th>entities</th></tr>"
    rows = []
    for m in v["metrics"]:
        o, r = m.get("original") or {}, m.get("reference") or {}
        rki = m.get("rki") or {}
        why = f" title='{_e(rki.get('why'))}'" if rki.get("why") else ""
        rows.append(f"<tr><td class=l>{_e(m['name'])}</td><td class=l>{_e(m['kind'])}</td><td>{_ci({'value': m['agg_value'], 'ci': m['ci']})}</td>"
                    f"<td>{_num(o.get('agg_value'))}</td><td>{_num(r.get('agg_value'))}</td><td{why}>{_ci(rki)}</td><td>{m['n_entities']}</td></tr>")
    return f"<table>{head}{''.join(rows)}</table>"


def _parametric(v) -> str:
    p = v.get("parametric") or {}
    if not p:
        return ""
    s = p.get("summary", {})
    mods = sorted(p.get("modules", []), key=lambda m: -m["delta_norm"])[:10]
    rows = "".join(f"<tr><td class=l>{_e(m['param'])}</td><td>{_num(m['delta_norm'], 4)}</td><td>{_num(m['relative'], 4)}</td><td>{_num(m['effective_rank'])}</td></tr>" for m in mods)
    vec = "".join(f"<tr><td class=l>L{x['layer']} n{x['neuron']}</td><td>{_num(x['cos'], 4)}</td><td>{_num(x['relative_change'], 4)}</td><td>{_num(x['jaccard@50'])}</td><td>{_num(x['jaccard@200'])}</td></tr>"
                  for x in p.get("vectors", []))
    out = f"<p>total ‖ΔW‖ = {_num(s.get('total_delta_norm'), 4)}; share of ‖ΔW‖² inside the located region: {_num(s.get('region_share'))}</p>"
    if vec:
        out += f"<table><tr><th class=l>vector</th><th>cos</th><th>‖Δ‖/‖v‖</th><th>Jaccard@50</th><th>Jaccard@200</th></tr>{vec}</table>"
    return out + f"<table><tr><th class=l>parameter (top 10 by ‖ΔW‖)</th><th>‖ΔW‖</th><th>‖ΔW‖/‖W‖</th><th>effective rank</th></tr>{rows}</table>"


def render_html(report: dict) -> str:
    from plotly.offline import get_plotlyjs

    import itertools

    counter = itertools.count()

    def _fig(fig) -> str:  # deterministic element ids: the same JSON renders the same HTML
        return _fig_html(fig, f"figure-{next(counter)}")

    runs = report["runs"]
    first = next(iter(runs.values()))
    cfg = first.get("config", {}).get("verdict", {})
    parts = [f"<h1>Intrinsic evaluation report — {_e(report['name'])}</h1>",
             f"<p class=note>created {_e(report['created'])}; verdict margins (pre-registered): equivalence ±{_e(cfg.get('margin'))}, "
             f"locality {_e(cfg.get('locality_margin'))}, min ORIG−REF gap {_e(cfg.get('min_gap'))}, {_e(cfg.get('n_boot'))} entity-bootstrap resamples, "
             f"{_e(cfg.get('level'))} CIs. RKI = (m_unl − m_REF)/(m_ORIG − m_REF): 0 = never knew, 1 = intact.</p>",
             "<h2>R10 · Verdicts</h2>", _verdict_table(report["verdict_table"])]
    if len(runs) > 1:
        parts += ["<h2>R6 · RKI by method and metric</h2>", _fig(figs.rki_heatmap(runs))]
    parts += ["<h2>R0 · Provenance</h2>", f"<pre>{_e(json.dumps(report.get('provenance', {}), indent=1))}</pre>"]
    for method, v in runs.items():
        parts += [f"<h2>Method: {_e(method)}</h2>", f"<p>{_e(v['verdict'].get('reason'))}</p>"]
        parts += [f"<p class=note>warning: {_e(w)}</p>" for w in v.get("warnings", [])]
        parts += ["<h3>Metrics beside their references</h3>", _metric_table(v), _fig(figs.rki_bars(v))]
        if v.get("parametric"):
            parts += ["<h3>R2 · Parametric traces</h3>", _parametric(v)]
        if v.get("lens"):
            parts += ["<h3>R3 · Logit lens</h3>", _fig(figs.lens_curves(v))]
        for mode in v.get("probes", {}):
            parts += [f"<h3>R4 · Linear probes ({_e(mode)})</h3>", "<p class=note>A null probe means “not linearly decodable”, never “erased”.</p>",
                      _fig(figs.probe_curves(v, mode))]
        if v.get("relearn"):
            parts += ["<h3>R6 · Relearning</h3>", _fig(figs.relearn_figure(v))]
    parts += ["<h2>Run configuration</h2>", f"<pre>{_e(json.dumps(report.get('config', {}), indent=1))}</pre>"]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(report['name'])} — unlearnscope report</title>"
            f"<style>{CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head><body>{''.join(parts)}</body></html>")
