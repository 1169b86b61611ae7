"""Render a report dict (see `build.py`) as one self-contained HTML file: plotly.js is inlined
once, every figure is embedded, nothing is fetched from the network."""

from __future__ import annotations

import json

from ..viz import audit as audit_figs
from ..viz import verify as figs
from .attacks import attacks_section
from .fmt import esc as _e
from .fmt import num as _num
from .fmt import with_ci as _ci
from .outputs import output_metrics_section

NOT_COVERED = {
    "causal depth": "weight restoration into the located units (UDS-style patching depth is the causal_depth readout)",
    "privacy": "the Reference and GradNorm membership attacks (LOSS, zlib, Min-K% and Min-K%++ are in the output "
    "metrics)",
}

VERDICT_RULES = (
    "Rules: a readout shows no residual knowledge when its RKI's CI upper bound is ≤ {m} (one-sided: at or below the "
    "never-knew level counts as gone; clearly below it is over-unlearning, i.e. damage). Erased needs behaviour, at "
    "least one intrinsic readout and at least one relearning attack, all defined and all showing none; a missing "
    "family makes the verdict inconclusive. Suppressed: behaviour shows none but some intrinsic or adversarial readout "
    "shows knowledge (CI above "
    "0, RKI > {m}). "
    "Damaged: a locality drop beyond the method's NOISE control by more than {l} (CI); over-unlearning is "
    "listed in the reason as damage to that ability. An inference-time intervention is also attacked on the weights "
    "alone: knowledge back without it is held in the weights and never erased. The never-knew level is a population of "
    "never-knew models and the CIs resample them, the entities and the unlearning seeds; seeds that disagree read "
    "unstable. Probe groups and relearning learning rates are chosen on one half of the entities and scored on the "
    "other."
)

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td.l,th.l{text-align:left}.v-erased{background:#dfd}.v-suppressed{background:#ffd}
.v-damaged{background:#fdd}.v-not{background:#fcc}.note{color:#666;font-size:13px}h2{border-bottom:1px solid #ddd}"""


def _fig_html(fig, div_id: str) -> str:
    inner = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config={"displaylogo": False})
    return f'<div class="figure">{inner}</div>'


def _seeds_cell(r) -> str:
    seeds = r.get("seeds") or []
    if len(seeds) < 2:
        return _e(r.get("stability") or "")
    return _e(f"{r.get('stability')}: " + ", ".join(f"seed {s['seed']} {s['verdict']}" for s in seeds))


def _missing_cell(missing: list[dict]) -> str:
    return "; ".join(f"{_e(x['name'])}: {_e(x['why'])}" for x in missing) or "–"


def _verdict_table(rows) -> str:
    head = (
        "<tr><th class=l>method</th><th class=l>verdict</th><th>behavioural RKI</th><th>worst intrinsic "
        "RKI</th><th>worst adversarial RKI</th><th>locality (worst retained share)</th><th class=l>seeds</th><th "
        "class=l>intervention</th><th class=l>readouts not used</th></tr>"
    )
    body = []
    for r in rows:
        cls = "v-" + (r["verdict"] or "").split()[0]
        intr = r["intrinsic_rki"] or {}
        adv = r["adversarial_rki"] or {}
        missing = r.get("missing_readouts") or []
        knowledge = r.get("knowledge_verdict")
        beside = f" ({_e(knowledge)})" if knowledge and knowledge != r["verdict"] else ""
        body.append(
            f"<tr><td class=l>{_e(r['method'])}</td><td class='l {cls}' title='{_e(r['reason'])}'>{_e(r['verdict'])}"
            f"{beside}</td>"
            f"<td>{_ci(r['behavioural_rki'])}</td><td>{_ci(intr)} {_e(intr.get('metric', ''))}</td>"
            f"<td>{_ci(adv)} {_e(adv.get('metric', ''))}</td><td>{_ci(r['locality'])} "
            f"{_e((r['locality'] or {}).get('metric', ''))}</td>"
            f"<td class=l>{_seeds_cell(r)}</td><td class=l>{_e(r.get('intervention') or 'weights')}"
            f"{' — held in the weights' if r.get('held_in_weights') else ''}</td>"
            f"<td class=l>{_missing_cell(missing)}</td></tr>"
        )
    reasons = "".join(f"<li><b>{_e(r['method'])}</b>: {_e(r['reason'])}</li>" for r in rows)
    return f"<table>{head}{''.join(body)}</table><ul class=note>{reasons}</ul>"


def _metric_table(v) -> str:
    head = (
        "<tr><th class=l>metric</th><th class=l>kind</th><th>unlearned "
        "[CI]</th><th>ORIG</th><th>REF</th><th>NOISE</th><th>RKI [CI]</th><th>entities</th><th class=l>faithfulness "
        "(metaeval AUC)</th></tr>"
    )
    rows = []
    for m in v["metrics"]:
        o, r, nz = m.get("original") or {}, m.get("reference") or {}, m.get("noise") or {}
        rki = m.get("rki") or {}
        why = f" title='{_e(rki.get('why'))}'" if rki.get("why") else ""
        rows.append(
            f"<tr><td class=l>{_e(m['name'])}</td><td "
            f"class=l>{_e(m['kind'])}</td><td>{_ci({'value': m['agg_value'], 'ci': m['ci']})}</td>"
            f"<td>{_num(o.get('agg_value'))}</td><td>{_num(r.get('agg_value'))}</td><td>{_num(nz.get('agg_value'))}</td>"
            f"<td{why}>{_ci(rki)}</td><td>{m['n_entities']}</td><td class=l>{_faith_cell(m)}</td></tr>"
        )
    return f"<table>{head}{''.join(rows)}</table>"


def _faith_cell(m: dict) -> str:
    f = m.get("faithfulness") or {}
    if m.get("kind") == "locality":
        return ""
    if f.get("auc") is None:
        return _e(f.get("status") or "not meta-evaluated")
    lo, hi = f["ci"]
    flag = "" if m.get("used_in_verdict", True) else " — not used in the verdict"
    return f"{_num(f['auc'])} [{_num(lo)}, {_num(hi)}] {_e(f['status'])}{flag}"


def _self_check(sc: dict) -> str:
    if sc.get("status") != "meta-evaluated":
        return f"<p>Not meta-evaluated: {_e(sc.get('how', ''))}</p>"
    rows = "".join(
        f"<tr><td class=l>{_e(k)}</td><td>{_num(r['auc'])} [{_num(r['ci'][0])}, {_num(r['ci'][1])}]</td>"
        f"<td>{_e(', '.join(f'{c} {_num(x)}' for c, x in (r.get('robustness') or {}).items()))}</td>"
        f"<td class=l>{'yes' if r['auc'] >= sc['floor'] or k == 'recall' or sc.get('use_unfaithful') else 'no'}"
        "</td></tr>"
        for k, r in sc["readouts"].items()
    )
    return (
        f"<p class=note>{_e(sc['source'])}; floor {_e(sc['floor'])}: readouts below it are not used in verdicts"
        f"{' (used anyway: use_unfaithful)' if sc.get('use_unfaithful') else ''}.</p><table><tr><th "
        "class=l>readout</th><th>faithfulness AUC [CI]</th><th>robustness (share of the gap unmoved)</th><th "
        f"class=l>used</th></tr>{rows}</table>"
    )


def _parametric(v) -> str:
    p = v.get("parametric") or {}
    if not p:
        return ""
    s = p.get("summary", {})
    mods = sorted(p.get("modules", []), key=lambda m: -m["delta_norm"])[:10]
    rows = "".join(
        f"<tr><td class=l>{_e(m['param'])}</td><td>{_num(m['delta_norm'], 4)}</td><td>"
        f"{_num(m['relative'], 4)}</td><td>{_num(m['effective_rank'])}</td></tr>"
        for m in mods
    )
    vec = "".join(
        f"<tr><td class=l>L{x['layer']} "
        f"n{x['neuron']}</td><td>{_num(x['cos'], 4)}</td><td>{_num(x['relative_change'], 4)}</td><td>"
        f"{_num(x['jaccard@50'])}</td><td>{_num(x['jaccard@200'])}</td></tr>"
        for x in p.get("vectors", [])
    )
    out = (
        f"<p>total ‖ΔW‖ = {_num(s.get('total_delta_norm'), 4)}; share of ‖ΔW‖² inside the located region: "
        f"{_num(s.get('region_share'))}</p>"
    )
    ns = (p.get("noise") or {}).get("summary")
    if ns:
        rel = (p.get("relative_to_noise") or {}).get("total_delta_norm")
        out += (
            "<p class=note>The method's NOISE control (the same kind and size of change on held-out data): total ‖ΔW‖ "
            f"= {_num(ns.get('total_delta_norm'), 4)}"
            f"{f' (the unlearned models moved {rel:.1f}× as far)' if rel is not None else ''}, "
            f"mean cos of the located vectors {_num(ns.get('mean_cos'), 4)}, mean ‖Δ‖/‖v‖ "
            f"{_num(ns.get('mean_relative_change'), 4)}, "
            f"mean Jaccard@50 {_num(ns.get('mean_jaccard@50'))}; unlearned: mean cos {_num(s.get('mean_cos'), 4)}, "
            f"mean ‖Δ‖/‖v‖ {_num(s.get('mean_relative_change'), 4)}, mean Jaccard@50 "
            f"{_num(s.get('mean_jaccard@50'))}.</p>"
        )
    if vec:
        out += (
            "<table><tr><th class=l>vector</th><th>cos</th><th>‖Δ‖/‖v‖</th><th>Jaccard@50</th><th>"
            f"Jaccard@200</th></tr>{vec}</table>"
        )
    return (
        out + "<table><tr><th class=l>parameter (top 10 by ‖ΔW‖)</th><th>‖ΔW‖</th><th>‖ΔW‖/‖W‖</th><th>effective "
        f"rank</th></tr>{rows}</table>"
    )


def _what_it_did(i: dict) -> str:
    u, a, rt = i.get("unlearning") or {}, i.get("ablation") or {}, i.get("routing") or {}
    what = []
    if rt:
        what.append(
            f"{len(rt['experts'])} experts off ({rt['per_layer']} per layer), refusal by count per layer "
            + ", ".join(f"{k}: {r:.2f}" for k, r in rt["refusal_by_k"])
        )
    if a:
        by_n = a.get("forget_recall_by_n") or []
        what.append(
            f"{a['mode']}-ablated {a['n_vectors']} vectors ({a['n_params']} parameters)"
            + (f", forget recall by count {', '.join(f'{n}: {r:.2f}' for n, r in by_n)}" if by_n else "")
        )
    na, ks = i.get("neuron_adjust") or {}, i.get("key_space") or {}
    if na:
        what.append(
            f"Neuron Adjust on {na['n_neurons']} of {na['of']} FFN neurons (top {na['top_p']:g}), refusal by share "
            + ", ".join(f"{p:g}: {r:.2f}" for p, r in na["refusal_by_top_p"])
        )
    if ks:
        what.append(
            f"key-space cube on layer {ks['layer']} ({ks['n_neurons']} neurons, λ {ks['lam']:g}; calibration TPR "
            f"{_num(ks['calibration_tpr'])}, "
            f"worst-skill FPR {_num(ks['calibration_fpr_worst_skill'])}), refusal {_num(ks['refusal_before'])} → "
            f"{_num(ks['refusal_after'])}"
        )
    if u:
        last = u["forget_recall_curve"][-1][1] if u.get("forget_recall_curve") else None
        what.append(
            f"{u['method']} lr {u['lr']:g}: {u['steps']} steps on {u['n_params_trained']} parameters, stopped by "
            f"{u['stopped']}, forget recall {_num(last)}"
        )
    seeds = i.get("seeds") or []
    if len(seeds) > 1:
        what.append(
            "per seed: "
            + ", ".join(f"seed {s['seed']} {s['steps']} steps, recall {_num(s['forget_recall'])}" for s in seeds)
        )
    return "; ".join(what)


def _noise_cell(n: dict | None) -> str:
    if not n:
        return "–"
    if n.get("kind") == "fine-tune":
        return (
            f"fine-tuned on held-out data, {n['steps']} steps at lr {n['lr']:g} on {n['n_params_trained']} parameters"
        )
    text = f"{n['kind']}: {n.get('n_vectors', len(n.get('experts', [])))}"
    return text + (f"; then {_noise_cell(n['then'])}" if n.get("then") else "")


def _interventions(iv: dict, noise: dict | None) -> str:
    rows = []
    for name, i in iv.items():
        region = ", ".join(i.get("region") or []) or "whole model"
        rows.append(
            f"<tr><td class=l>{_e(name)}</td><td class=l>{_e(i.get('description', ''))} "
            f"({_e(i.get('intervention', 'weights'))})</td>"
            f"<td class=l>{_e(_what_it_did(i))}</td><td class=l>{_e(region[:200])}</td><td "
            f"class=l>{_e(_noise_cell((noise or {}).get(name)))}</td>"
            f"<td>{_num(i.get('seconds'), 1)}</td></tr>"
        )
    return (
        "<table><tr><th class=l>method</th><th class=l>what it does</th><th class=l>what it did</th><th "
        "class=l>region</th>"
        f"<th class=l>its NOISE control</th><th>s</th></tr>{''.join(rows)}</table>"
        "<p class=note>Each method's NOISE control is the same kind and size of change aimed at nothing; every metric "
        "is also measured on it.</p>"
    )


def _expert_localization(loc: dict) -> str:
    top = ", ".join(f"L{r['layer']}·e{r['expert']} ({r['score']:.2f})" for r in loc["ranking"][:8])
    out = (
        f"<p>{_e(loc['method'])}; classes from ORIG's own answers: {_e(loc.get('class_counts'))}.<br>Top experts: "
        f"{_e(top)}</p>"
    )
    ec = loc.get("expert_control")
    if ec:
        rows = "".join(
            f"<tr><td class=l>{_e(k)}</td><td>{_num(v['baseline'])}</td><td>{_num(v['located'])}</td><td>"
            f"{_num(v['delta'])}</td>"
            f"<td>{_num(v['random_mean_delta'])}</td><td>{_num(v['p_value'], 3)}</td></tr>"
            for k, v in ec.items()
        )
        out += (
            "<table><tr><th class=l>behaviour (experts-off set vs matched random expert "
            "sets)</th><th>ORIG</th><th>located off</th><th>Δ</th>"
            f"<th>mean Δ, random sets</th><th>p (vs random)</th></tr>{rows}</table>"
        )
    return out


def _behaviour(beh: dict) -> str:
    keys = sorted({k for v in beh.values() for k in v})
    head = "".join(f"<th>{_e(k)}</th>" for k in keys)
    rows = "".join(
        f"<tr><td class=l>{_e(m)}</td>" + "".join(f"<td>{_num(v.get(k))}</td>" for k in keys) + "</tr>"
        for m, v in beh.items()
    )
    return (
        f"<table><tr><th class=l>model</th>{head}</tr>{rows}</table><p class=note>Top-1 rates on the organism's "
        "domains (one batched pass).</p>"
    )


def _localization(loc: dict) -> str:
    if loc.get("skipped"):
        return f"<p>Not localized: {_e(loc['skipped'])}.</p>"
    if loc.get("kind") == "experts":
        return _expert_localization(loc)
    if loc.get("kind") == "ffn":
        return f"<p>{_e(loc['method'])}; each method's fitted neurons or cube are listed under its intervention.</p>"
    rc = loc.get("random_control") or {}
    vec = ", ".join(f"L{v['layer']}·n{v['neuron']}" for v in loc["vectors"][:20])
    out = (
        f"<p>Components ({_e(loc['components_method'])}): <b>{_e(', '.join(loc['components']))}</b>.<br>"
        f"Vectors ({_e(loc['vectors_method'])}, {len(loc['vectors'])}): {_e(vec)}</p>"
    )
    if rc:
        out += (
            "<table><tr><th class=l>located vectors zeroed</th><th>drop, forget facts</th><th>drop, retain "
            "facts</th><th>specificity</th>"
            f"<th>random sets</th><th>mean random drop (forget)</th><th>p (vs random)</th></tr>"
            f"<tr><td class=l>{len(rc['units'])} "
            f"units</td><td>{_num(rc['target_drop'], 3)}</td><td>{_num(rc.get('unrelated_drop'), 3)}</td>"
            f"<td>{_num(rc.get('specificity'))}</td><td>{rc['n_random']}</td>"
            f"<td>{_num(sum(rc['random_target_drops']) / max(1, len(rc['random_target_drops'])), 3)}</td><td>"
            f"{_num(rc['p_value'], 3)}</td></tr></table>"
            "<p class=note>Drops are mean p(answer) before − after zeroing, on ORIG; random sets are matched in layer "
            "and count.</p>"
        )
    return out


def _specificity(runs: dict) -> str:
    rows = []
    for method, v in runs.items():
        for m in v["metrics"]:
            if m["kind"] == "locality":
                o, r, nz, loc = (
                    m.get("original") or {},
                    m.get("reference") or {},
                    m.get("noise") or {},
                    m.get("locality") or {},
                )
                rows.append(
                    f"<tr><td class=l>{_e(method)}</td><td "
                    f"class=l>{_e(m['name'])}</td><td>{_ci({'value': m['agg_value'], 'ci': m['ci']})}</td>"
                    f"<td>{_num(o.get('agg_value'))}</td><td>{_num(r.get('agg_value'))}</td><td>{_num(nz.get('agg_value'))}</td><td>{_ci(loc)}</td>"
                    f"<td>{_ci(loc.get('beyond_noise'))}</td></tr>"
                )
    return (
        "<table><tr><th class=l>method</th><th class=l>metric (retain entities)</th><th>unlearned "
        "[CI]</th><th>ORIG</th><th>REF</th><th>NOISE</th>"
        f"<th>retained share [CI]</th><th>drop beyond NOISE [CI]</th></tr>{''.join(rows)}</table>"
        "<p class=note>Damaged: the drop beyond the method's own NOISE control, (m_unl − m_NOISE)/m_ORIG, has its CI "
        "below −locality margin.</p>"
    )


def _readout_figures(v: dict, fig) -> list[str]:
    """Each registered readout's figures for one method (`evaluate.registry.Readout.figure`), in
    the verification's order; a readout that did not run shows none."""
    from ..evaluate.registry import builtin

    parts = []
    for r in builtin():
        for title, note, f in r.figure(v) if r.figure is not None else []:
            parts += [f"<h3>{_e(title)}</h3>", *([f"<p class=note>{_e(note)}</p>"] if note else []), fig(f)]
    return parts


def _header(report: dict, rules: dict) -> list[str]:
    """Title, the pre-registered verdict margins and the RKI definition."""
    g = lambda k: _e(rules.get(k))
    return [
        f"<h1>Intrinsic evaluation report — {_e(report['name'])}</h1>",
        f"<p class=note>created {_e(report['created'])}; verdict margins (pre-registered): residual knowledge margin "
        f"{g('margin')}, locality {g('locality_margin')}, min ORIG−REF gap {g('min_gap')}, {g('n_boot')} bootstrap "
        f"resamples over entities and models, {g('level')} CIs. RKI = (m_unl − m_REF)/(m_ORIG − m_REF): 0 = never "
        "knew, 1 = intact.</p>",
        f"<p class=note>{_e(VERDICT_RULES.format(m=rules.get('margin'), l=rules.get('locality_margin')))}</p>",
    ]


def _audit_sections(sec: dict, fig) -> list[str]:
    """Interventions and localization validity (audit reports only)."""
    parts: list[str] = []
    if sec.get("interventions"):
        parts += ["<h2>Interventions</h2>", _interventions(sec["interventions"], sec.get("noise"))]
        if any((i.get("unlearning") or {}).get("forget_recall_curve") for i in sec["interventions"].values()):
            parts.append(fig(audit_figs.unlearning_curves(sec["interventions"])))
    loc = sec.get("localization")
    if loc:
        parts += ["<h2>Localization validity</h2>", _localization(loc)]
        if loc.get("effects"):
            parts.append(fig(audit_figs.localization_effects(loc)))
        if loc.get("random_control"):
            parts.append(fig(audit_figs.random_control_cloud(loc["random_control"])))
    return parts


def _method_section(method: str, v: dict, fig) -> list[str]:
    """One method's verdict reason, warnings, metric table and readout figures."""
    parts = [f"<h2>Method: {_e(method)}</h2>", f"<p>{_e(v['verdict'].get('reason'))}</p>"]
    parts += [f"<p class=note>warning: {_e(w)}</p>" for w in v.get("warnings", [])]
    parts += ["<h3>Metrics beside their references</h3>", _metric_table(v), fig(figs.rki_bars(v))]
    if v.get("parametric"):
        parts += ["<h3>Parametric traces</h3>", _parametric(v)]
    return parts + _readout_figures(v, fig)


def render_html(report: dict) -> str:
    """The report as one self-contained HTML page (plotly inlined, deterministic element ids)."""
    import itertools

    from plotly.offline import get_plotlyjs

    counter = itertools.count()

    def _fig(fig) -> str:  # deterministic element ids: the same JSON renders the same HTML
        return _fig_html(fig, f"figure-{next(counter)}")

    runs = report["runs"]
    first = next(iter(runs.values()))
    parts = _header(report, first.get("config", {}).get("rules", {}))
    parts += ["<h2>Verdicts</h2>", _verdict_table(report["verdict_table"])]
    if len(runs) > 1:
        parts += ["<h2>Residual knowledge by method and metric</h2>", _fig(figs.rki_heatmap(runs))]
    sec = report.get("sections") or {}
    parts += _audit_sections(sec, _fig)
    parts += attacks_section(runs, _fig)
    parts += output_metrics_section(report.get("output_metrics") or {}, sec.get("output_metrics"))
    parts += ["<h2>Specificity</h2>", _specificity(runs)]
    if sec.get("behaviour"):
        parts.append(_behaviour(sec["behaviour"]))
    if sec.get("metric_self_check"):
        parts += ["<h2>Metric self-check</h2>", _self_check(sec["metric_self_check"])]
    parts += ["<h2>Provenance</h2>", f"<pre>{_e(json.dumps(report.get('provenance', {}), indent=1))}</pre>"]
    for method, v in runs.items():
        parts += _method_section(method, v, _fig)
    parts += [
        "<h2>Not covered by this report</h2>",
        "<ul>" + "".join(f"<li>{k}: {_e(v)}</li>" for k, v in NOT_COVERED.items()) + "</ul>",
    ]
    parts += ["<h2>Run configuration</h2>", f"<pre>{_e(json.dumps(report.get('config', {}), indent=1))}</pre>"]
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{_e(report['name'])} — unlearnscope report</title>"
        f"<style>{CSS}</style><script type='text/javascript'>{get_plotlyjs()}</script></head>"
        f"<body>{''.join(parts)}</body></html>"
    )
