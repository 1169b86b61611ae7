"""Figures for MoE analyses: layer × expert heatmaps, per-step curves, random-expert controls."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    import plotly.graph_objects as go


def expert_heatmap(
    values: torch.Tensor, layers: Sequence[int], *, title: str = "", label: str = "", diverging: bool = False
) -> go.Figure:
    """Heatmap of a ``[layer, expert]`` tensor (rows = MoE layers, columns = routed experts).

    ``diverging`` centres the colour scale on 0 (differential maps, frequency shifts)."""
    import plotly.graph_objects as go

    z = values.detach().float().cpu()
    kw = {"colorscale": "Viridis"}
    if diverging:
        lim = float(z.abs().max()) or 1.0
        kw = {"colorscale": "RdBu", "reversescale": True, "zmin": -lim, "zmax": lim}
    fig = go.Figure(
        go.Heatmap(z=z.tolist(), x=list(range(z.shape[1])), y=[str(l) for l in layers], colorbar={"title": label}, **kw)
    )
    fig.update_layout(title=title, xaxis_title="expert", yaxis_title="layer", yaxis_type="category")
    return fig


def step_curves(curves: Mapping[str, Sequence[tuple[int, float]]], *, title: str = "", y_title: str = "") -> go.Figure:
    """Line plot of named ``[(step, value)]`` curves (e.g. selection overlap during unlearning)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, pts in curves.items():
        pts = list(pts)
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=name))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title=y_title)
    return fig


def expert_control_figure(ctl):
    """An `ExpertControl`: each metric's change under the located experts vs the random draws."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for i, m in enumerate(ctl.baseline):
        rd = ctl.random_deltas(m)
        fig.add_trace(
            go.Scatter(
                x=[m] * len(rd),
                y=rd,
                mode="markers",
                marker=dict(color="lightgray"),
                name="random experts",
                showlegend=i == 0,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=[m],
                y=[ctl.delta(m)],
                mode="markers",
                marker=dict(color="crimson", size=12, symbol="diamond"),
                name="located experts",
                showlegend=i == 0,
            )
        )
    fig.update_layout(
        title=f"experts {ctl.mode}: change vs baseline ({len(ctl.random)} random draws)", yaxis_title="Δ metric"
    )
    return fig
