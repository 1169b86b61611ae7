"""A replication card's contrasts as a bar chart with 95 % CIs (the claim's side shaded)."""

from __future__ import annotations


def replication_figure(card):
    import plotly.graph_objects as go

    cs = card.comparisons
    names = [c["name"] for c in cs]
    vals = [c["value"] for c in cs]
    lo = [c["value"] - c["ci"][0] if c["ci"][0] is not None else 0 for c in cs]
    hi = [c["ci"][1] - c["value"] if c["ci"][1] is not None else 0 for c in cs]
    colours = ["#2b8a3e" if c["supports_claim"] else "#c92a2a" for c in cs]
    fig = go.Figure(
        go.Bar(x=names, y=vals, marker_color=colours, error_y={"type": "data", "array": hi, "arrayminus": lo})
    )
    fig.add_hline(y=0, line_color="#444")
    fig.update_layout(
        title=f"{card.paper}: {card.status}", yaxis_title="contrast (claim side: see table)", template="plotly_white"
    )
    return fig
