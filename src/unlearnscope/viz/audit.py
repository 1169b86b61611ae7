"""Figures for the audit's own sections (plain dicts in, plotly figures out)."""

from __future__ import annotations

from collections.abc import Mapping


def localization_effects(loc: Mapping):
    """Attribution-patching effect per (kind, layer) at each position role, the located components marked."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    e = loc["effects"]
    kinds, roles, vals = e["kinds"], e["roles"], e["values"]  # [kind, layer, role]
    fig = make_subplots(rows=1, cols=len(kinds), subplot_titles=kinds, shared_yaxes=True)
    for k, kind in enumerate(kinds):
        fig.add_trace(
            go.Heatmap(
                z=vals[k],
                x=roles,
                y=[f"L{l}" for l in range(len(vals[k]))],
                coloraxis="coloraxis",
                hovertemplate=f"{kind} %{{y}} %{{x}}: %{{z:.3f}}<extra></extra>",
            ),
            1,
            k + 1,
        )
    fig.update_layout(
        title=f"Where the forget facts are computed (attribution patching); located: {', '.join(loc['components'])}",
        coloraxis=dict(colorscale="RdBu", cmid=0),
        height=360,
    )
    return fig


def random_control_cloud(rc: Mapping):
    """Located units' ablation drop on forget vs retain facts against matched random unit sets."""
    import plotly.graph_objects as go

    fig = go.Figure()
    xs = rc.get("random_unrelated_drops") or [0.0] * len(rc["random_target_drops"])
    fig.add_trace(
        go.Scatter(
            x=xs,
            y=rc["random_target_drops"],
            mode="markers",
            name=f"{rc['n_random']} random sets",
            marker=dict(color="lightgray"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[rc.get("unrelated_drop") or 0.0],
            y=[rc["target_drop"]],
            mode="markers",
            name="located",
            marker=dict(color="#c33", size=12, symbol="star"),
        )
    )
    fig.update_layout(
        title=f"Located vectors vs random (p = {rc['p_value']:.3f})",
        xaxis_title="drop in p(answer), retain facts",
        yaxis_title="drop in p(answer), forget facts",
        height=380,
    )
    return fig


def unlearning_curves(interventions: Mapping):
    """Forget recall during each unlearning run (the shared stopping rule)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, info in interventions.items():
        curve = (info.get("unlearning") or {}).get("forget_recall_curve") or []
        if curve:
            fig.add_trace(go.Scatter(x=[p[0] for p in curve], y=[p[1] for p in curve], mode="lines+markers", name=name))
    fig.update_layout(
        title="Forget recall during unlearning", xaxis_title="step", yaxis_title="forget recall (top-1)", height=340
    )
    return fig
