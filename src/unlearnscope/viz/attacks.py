"""Figures for the worst-case attacks of a verification (``Verification.attacks`` / a report's
``runs[method]["attacks"]``): plain dicts in, plotly figures out."""

from __future__ import annotations

from collections.abc import Mapping

from .verify import ROLE_STYLE

DASH = ["solid", "dash", "dot", "dashdot", "longdash"]


def _config_label(o: Mapping) -> str:
    c = o["config"]
    n = "all" if c.get("n_examples") is None else c["n_examples"]
    return f"{c['params']} lr {c['lr']:g} n {n}"


def sweep_curves(attacks: Mapping):
    """Recovered forget recall against relearning steps, one line per configuration (trainable
    parameters, learning rate, examples); the never-knew reference under the same attack is the
    dashed floor.  Configurations outside the utility limit are drawn faint."""
    import plotly.graph_objects as go

    s = attacks["relearn:sweep"]
    labels = [_config_label(o) for o in s["options"]]
    fig = go.Figure()
    for j, label in enumerate(dict.fromkeys(labels)):
        idx = [i for i, x in enumerate(labels) if x == label]
        steps = [s["options"][i]["steps"] for i in idx]
        for role in ("unlearned", "reference"):
            if role not in s["recovered"]:
                continue
            name, color = ROLE_STYLE[role]
            ok = all(s["within_utility_limit"][i] for i in idx)
            fig.add_trace(
                go.Scatter(
                    x=steps,
                    y=[s["recovered"][role][i] for i in idx],
                    mode="lines+markers",
                    name=f"{name}: {label}",
                    opacity=1.0 if ok or role == "reference" else 0.35,
                    line=dict(color=color, dash="dash" if role == "reference" else DASH[j % len(DASH)]),
                )
            )
    fig.update_layout(
        title=f"relearning sweep ({s.get('data')} data): recovered forget recall by budget; REF dashed = floor",
        xaxis_title="attack steps",
        yaxis_title="recall of forget entities not trained on",
        yaxis_range=[0, 1.05],
    )
    return fig


def attribution_bars(attacks: Mapping):
    """Recovery attribution: the forget recall each component brings back when reverted to ORIG's
    weights (unlearned models, and REF with the same component as the floor)."""
    import plotly.graph_objects as go

    r = attacks["component_revert"]
    fig = go.Figure()
    for role in ("unlearned", "reference"):
        if role in r["recovered"]:
            name, color = ROLE_STYLE[role]
            fig.add_trace(go.Bar(x=r["options"], y=r["recovered"][role], name=name, marker_color=color))
    fig.add_hline(y=r["recall_before"], line_dash="dot", annotation_text="unlearned, nothing reverted")
    fig.update_layout(
        title="recovery attribution: forget recall with one component reverted to ORIG",
        barmode="group",
        yaxis_title="forget recall",
        yaxis_range=[0, 1.05],
    )
    return fig


def direction_layers(attacks: Mapping):
    """Forget recall with the unlearning direction projected out, per layer."""
    import plotly.graph_objects as go

    d = attacks["direction_ablation"]
    fig = go.Figure()
    for role in ("unlearned", "original", "reference"):
        if role in d["recovered"]:
            name, color = ROLE_STYLE[role]
            fig.add_trace(
                go.Scatter(
                    x=d["options"], y=d["recovered"][role], name=name, mode="lines+markers", line=dict(color=color)
                )
            )
    fig.update_layout(
        title="direction ablation: forget recall with the layer's unlearning direction projected out",
        yaxis_title="forget recall",
        yaxis_range=[0, 1.05],
    )
    return fig
