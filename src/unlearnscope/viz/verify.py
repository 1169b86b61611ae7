"""Figures for verification results.  Every function takes plain dicts (a `Verification`'s
``to_dict()`` or the report JSON), so a report re-renders from its JSON alone."""

from __future__ import annotations

from collections.abc import Mapping

ROLE_STYLE = {
    "original": ("ORIG", "#2a7"),
    "unlearned": ("unlearned", "#c33"),
    "reference": ("REF (never knew)", "#36c"),
    "random_init": ("random-init model", "#999"),
}


def _ci_trace(go, x, rows, name, color, dash=None):
    y = [r[0] for r in rows]
    lo = [r[0] - r[1] if r[1] is not None else 0 for r in rows]
    hi = [r[2] - r[0] if r[2] is not None else 0 for r in rows]
    return go.Scatter(
        x=x,
        y=y,
        name=name,
        mode="lines+markers",
        line=dict(color=color, dash=dash),
        error_y=dict(type="data", symmetric=False, array=hi, arrayminus=lo),
    )


def rki_bars(v: Mapping):
    """RKI with 95% CI per metric (behavioural grey, intrinsic blue, adversarial red)."""
    import plotly.graph_objects as go

    rows = [m for m in v["metrics"] if m.get("rki") and m["rki"]["defined"]]
    color = {"behavioural": "#888", "intrinsic": "#46a", "adversarial": "#c44"}
    fig = go.Figure(
        go.Bar(
            x=[m["name"] for m in rows],
            y=[m["rki"]["value"] for m in rows],
            marker_color=[color.get(m["kind"], "#666") for m in rows],
            error_y=dict(
                type="data",
                symmetric=False,
                array=[m["rki"]["ci"][1] - m["rki"]["value"] for m in rows],
                arrayminus=[m["rki"]["value"] - m["rki"]["ci"][0] for m in rows],
            ),
        )
    )
    fig.add_hline(y=0, line_dash="dot", annotation_text="REF")
    fig.add_hline(y=1, line_dash="dot", annotation_text="ORIG")
    fig.update_layout(
        title=f"Residual Knowledge Index — verdict: {v['verdict'].get('verdict')}", yaxis_title="RKI (95% CI)"
    )
    return fig


def probe_curves(v: Mapping, mode: str = "transfer"):
    """Probe accuracy by (depth, role) for every model, with CI bands and the controls."""
    import plotly.graph_objects as go

    p = v["probes"][mode]
    x = [f"{d}:{r}" for d, r in p["groups"]]
    fig = go.Figure()
    for role, table in p["by_model"].items():
        name, color = ROLE_STYLE.get(role, (role, "#555"))
        fig.add_trace(_ci_trace(go, x, table["task"], name, color))
    unl = p["by_model"].get("unlearned") or next(iter(p["by_model"].values()))
    for key, dash in (("control", "dot"), ("shuffled", "dash"), ("majority", "longdash")):
        fig.add_trace(
            go.Scatter(x=x, y=unl[key], name=f"{key} (unlearned)", mode="lines", line=dict(color="#aaa", dash=dash))
        )
    fig.update_layout(
        title=f"linear probes ({mode}); groups {p.get('chosen_groups')} by {p['rule']}",
        xaxis_title="depth:position",
        yaxis_title="accuracy on forget entities",
        yaxis_range=[0, 1.05],
    )
    return fig


def lens_curves(v: Mapping):
    """Share of forget items whose gold answer is top-1 under the logit lens, per depth and model."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for role, d in v["lens"].items():
        name, color = ROLE_STYLE.get(role, (role, "#555"))
        fig.add_trace(
            go.Scatter(x=d["depths"], y=d["top1_per_depth"], name=name, mode="lines+markers", line=dict(color=color))
        )
    fig.update_layout(
        title="logit lens: gold answer top-1 by depth",
        xaxis_title="depth (input of block d)",
        yaxis_title="share of forget items",
        yaxis_range=[0, 1.05],
    )
    return fig


def relearn_figure(v: Mapping):
    """Recall of held-out forget entities during relearning, per model and learning rate."""
    import plotly.graph_objects as go

    r = v["relearn"]
    fig = go.Figure()
    for role in ("original", "unlearned", "reference"):
        if role not in r:
            continue
        name, color = ROLE_STYLE[role]
        for i, (lr, curve) in enumerate(r[role]["mean_curve"].items()):
            fig.add_trace(
                go.Scatter(
                    x=r[role]["steps"],
                    y=curve,
                    name=f"{name}, lr {lr}",
                    mode="lines+markers",
                    line=dict(color=color, dash=[None, "dash", "dot"][i % 3]),
                )
            )
    fig.update_layout(
        title=f"relearning attack (worst-case lr {r.get('worst_case_lr')})",
        xaxis_title="step",
        yaxis_title="recall of held-out forget entities",
        yaxis_range=[0, 1.05],
    )
    return fig


def rki_heatmap(runs: Mapping[str, Mapping]):
    """Methods × metrics RKI heatmap: 0 = REF, 1 = ORIG."""
    import plotly.graph_objects as go

    names = []
    for v in runs.values():
        names += [m["name"] for m in v["metrics"] if m.get("rki") and m["rki"]["defined"] and m["name"] not in names]
    z = [
        [
            next(
                (m["rki"]["value"] for m in v["metrics"] if m["name"] == n and m.get("rki") and m["rki"]["defined"]),
                None,
            )
            for n in names
        ]
        for v in runs.values()
    ]
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=names,
            y=list(runs),
            colorscale="RdBu",
            reversescale=True,
            zmin=-0.2,
            zmax=1.2,
            colorbar=dict(title="RKI"),
            text=[[f"{x:.2f}" if x is not None else "" for x in row] for row in z],
            texttemplate="%{text}",
        )
    )
    fig.update_layout(title="Residual Knowledge Index by method and metric", xaxis_title="metric", yaxis_title="method")
    return fig


def parametric_figure(traces):
    """`ParametricTraces`: ‖ΔW‖ of the 30 most changed parameters."""
    import plotly.graph_objects as go

    mods = sorted(traces.modules, key=lambda m: -m["delta_norm"])[:30]
    fig = go.Figure(go.Bar(x=[m["param"] for m in mods], y=[m["delta_norm"] for m in mods]))
    fig.update_layout(
        title=f"‖ΔW‖ per parameter (share inside the located region: {traces.region_share})", yaxis_title="‖ΔW‖_F"
    )
    return fig
