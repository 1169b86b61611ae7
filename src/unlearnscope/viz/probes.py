"""Figures for probe results: accuracy per (depth, role) with controls, logit-lens ranks."""

from __future__ import annotations


def probe_run_figure(run):
    """A `ProbeRun`: accuracy per (depth, role) for the task and every control."""
    import plotly.graph_objects as go

    x = [f"{d}:{r}" for d, r in run.groups]
    fig = go.Figure()
    for which, dash in (("task", None), ("control", "dot"), ("shuffled", "dash"), ("majority", "dashdot")):
        if which in run.correct:
            fig.add_trace(
                go.Scatter(x=x, y=run.accuracy(which).tolist(), name=which, mode="lines+markers", line=dict(dash=dash))
            )
    fig.update_layout(
        title=f"{run.mode} probes on the forget entities",
        xaxis_title="depth:role",
        yaxis_title="accuracy",
        yaxis_range=[0, 1.02],
    )
    return fig


def lens_ranks_figure(lens, title: str = "logit lens: gold-answer log10(1 + rank)"):
    """`LensRanks`: depth × example heatmap of ``log10(1 + rank)`` (0 = top-1)."""
    import plotly.graph_objects as go
    import torch

    z = torch.log10(1 + lens.ranks.float()).tolist()
    fig = go.Figure(
        go.Heatmap(
            z=z,
            y=[f"depth {d}" for d in lens.depths],
            colorscale="Viridis",
            reversescale=True,
            colorbar=dict(title="log10(1+rank)"),
        )
    )
    fig.update_layout(title=title, xaxis_title="forget item", yaxis_title="depth")
    return fig
