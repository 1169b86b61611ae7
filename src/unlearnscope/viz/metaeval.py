"""Figures for a meta-evaluation (a `MetaEval`'s ``to_dict()`` or its JSON): ROC curves of every
readout over the population, and each member's value per readout."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def roc_points(knows: Sequence[float], never_knew: Sequence[float]) -> tuple[list[float], list[float]]:
    """``(FPR, TPR)`` of the rule "knows if value >= t" over every threshold t (from (0, 0) to (1, 1))."""
    ts = sorted(set(knows) | set(never_knew), reverse=True)
    fpr, tpr = [0.0], [0.0]
    for t in ts:
        tpr.append(sum(v >= t for v in knows) / len(knows))
        fpr.append(sum(v >= t for v in never_knew) / len(never_knew))
    return fpr, tpr


def roc_figure(m: Mapping):
    """One ROC curve per readout (legend: AUC with its CI); the diagonal is no separation."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for r in m["rows"]:
        if not r["knows_values"] or not r["never_knew_values"]:
            continue
        fpr, tpr = roc_points(r["knows_values"], r["never_knew_values"])
        fig.add_trace(
            go.Scatter(
                x=fpr,
                y=tpr,
                mode="lines+markers",
                line_shape="hv",
                name=f"{r['name']}: AUC {r['faithfulness_auc']:.2f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}]",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[0, 1],
            y=[0, 1],
            mode="lines",
            line=dict(color="#aaa", dash="dot"),
            name="no separation",
            showlegend=False,
        )
    )
    fig.update_layout(
        title="faithfulness: knows vs never-knew models",
        xaxis_title="never-knew models read as knowing (FPR)",
        yaxis_title="knowing models read as knowing (TPR)",
        xaxis_range=[-0.02, 1.02],
        yaxis_range=[-0.02, 1.02],
    )
    return fig


def member_values_figure(m: Mapping):
    """Each member's value per readout, coloured by group (knows / never knew)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    names = [r["name"] for r in m["rows"]]
    for key, label, color in (("knows_values", "knows", "#2a7"), ("never_knew_values", "never knew", "#36c")):
        xs = [n for r in m["rows"] for n in [r["name"]] * len(r[key])]
        ys = [v for r in m["rows"] for v in r[key]]
        fig.add_trace(go.Box(x=xs, y=ys, name=label, marker_color=color, boxpoints="all", jitter=0.3))
    fig.update_layout(
        boxmode="group",
        title="readout value per model (mean over forget entities; higher = knows more)",
        xaxis=dict(categoryorder="array", categoryarray=names),
    )
    return fig
