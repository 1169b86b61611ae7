"""Figures for FFN skill analyses: statistics, per-layer δ distributions, key-space projections
with the cube's acceptance region, ROC curves over λ and relative drops per skill."""

from __future__ import annotations

from collections.abc import Mapping

import torch


def stats_figure(stats, layer: int | None = None):
    """Per-neuron mean ± standard deviation of one layer's FFN site, neurons sorted by mean."""
    import plotly.graph_objects as go

    i = stats.row(stats.layers[-1] if layer is None else layer)
    order = stats.mean[i].argsort()
    fig = go.Figure(
        go.Scatter(
            y=stats.mean[i][order].tolist(),
            error_y={"array": stats.std[i][order].tolist(), "thickness": 0.5},
            mode="markers",
            marker={"size": 3},
            name="mean ± std",
        )
    )
    fig.update_layout(
        title=f"layer {stats.layers[i]} {stats.site} ({stats.positions} tokens, n={stats.count})",
        xaxis_title="neuron (sorted by mean)",
        yaxis_title="activation",
    )
    return fig


def delta_figure(selection):
    """Distribution of δ = μ_f − μ_r per layer (box per layer), the global threshold τ, and how
    many neurons each layer contributes to the selection."""
    import plotly.graph_objects as go

    counts = selection.per_layer_counts()
    fig = go.Figure()
    for layer, d in zip(selection.stats_layers, selection.delta, strict=True):
        fig.add_trace(
            go.Box(
                y=d.tolist(), name=f"L{layer} ({counts.get(layer, 0)} sel.)", boxpoints="outliers", marker={"size": 2}
            )
        )
    fig.add_hline(y=selection.tau, line_dash="dash", annotation_text=f"τ (top {selection.top_p:.1%})")
    fig.update_layout(
        title=f"δ = μ_forget − μ_retain of {selection.site} activations; {selection.n_selected} of {selection.n_total} "
        "selected",
        yaxis_title="δ",
        showlegend=False,
    )
    return fig


def _pca2(x: torch.Tensor) -> torch.Tensor:
    x = x - x.mean(0)
    _, _, v = torch.linalg.svd(x, full_matrices=False)
    return x @ v[:2].T


def _markers(go, x: torch.Tensor, y: torch.Tensor, name: str, symbols: list[str], *, legend: bool):
    """One skill's keys as a scatter trace (both panels share the skill's legend entry)."""
    marker = {"symbol": symbols, "size": 6}
    return go.Scatter(
        x=x.tolist(), y=y.tolist(), mode="markers", name=name, legendgroup=name, showlegend=legend, marker=marker
    )


def cube_figure(cube, keys: Mapping[str, torch.Tensor] | None = None, lam: float = 1.0):
    """Keys by skill in two views: the plane of the two cube neurons that separate other skills
    most (the cube's acceptance region there is exactly the drawn rectangle μ ± λ·k*·s), and a
    PCA projection.  Filled markers are detected (inside the cube on *every* neuron)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    if not keys:
        raise ValueError(
            "cube_figure needs keys: {skill: [n, n_features] tensor} (e.g. from ffn_stats(..., keep=True))"
        )
    names = list(keys)
    allk = torch.cat([keys[n].float() for n in names])
    idx = cube.neurons if cube.neurons is not None else torch.arange(cube.mu.numel())
    z = (allk[:, idx] - cube.mu[idx]).abs() / cube.scale[idx]  # [n, cube neurons]
    top = idx[z.mean(0).topk(min(2, idx.numel())).indices].tolist()
    a, b = (top + top)[:2]
    pcs = _pca2(allk)
    fig = make_subplots(rows=1, cols=2, subplot_titles=(f"neurons {a} and {b} (cube region)", "PCA of keys"))
    start = 0
    for n in names:
        k = keys[n].float()
        inside = cube.contains(k, lam)
        sym = ["circle" if v else "circle-open" for v in inside.tolist()]
        p = pcs[start : start + k.shape[0]]
        fig.add_trace(_markers(go, k[:, a], k[:, b], n, sym, legend=True), row=1, col=1)
        fig.add_trace(_markers(go, p[:, 0], p[:, 1], n, sym, legend=False), row=1, col=2)
        start += k.shape[0]
    half = lam * cube.k_star * cube.scale
    fig.add_shape(
        type="rect",
        x0=float(cube.mu[a] - half[a]),
        x1=float(cube.mu[a] + half[a]),
        y0=float(cube.mu[b] - half[b]),
        y1=float(cube.mu[b] + half[b]),
        line={"dash": "dash"},
        row=1,
        col=1,
    )
    fig.update_layout(
        title=f"key space at layer {cube.layer}: cube μ ± {lam:g}·k*·s (k* = {cube.k_star:.2f}); filled = detected"
    )
    return fig


def roc_figure(roc, lam: float | None = None):
    """TPR against FPR as λ grows; the AUC in the title; optionally mark one λ."""
    import plotly.graph_objects as go

    fig = go.Figure(
        go.Scatter(
            x=roc.fpr.tolist(),
            y=roc.tpr.tolist(),
            mode="lines",
            name="cube",
            text=[f"λ={v:.3g}" for v in roc.lambdas.tolist()],
        )
    )
    fig.add_trace(go.Scatter(x=[0, 1], y=[0, 1], mode="lines", line={"dash": "dot"}, name="chance"))
    if lam is not None:
        t, f = roc.at(lam)
        fig.add_trace(go.Scatter(x=[f], y=[t], mode="markers", marker={"size": 10}, name=f"λ = {lam:g}"))
    fig.update_layout(
        title=f"key-space detection ROC over λ (AUC {roc.auc:.3f}; {roc.n_forget} forget / {roc.n_retain} retain "
        "prompts)",
        xaxis_title="FPR (retain prompts detected)",
        yaxis_title="TPR (forget prompts detected)",
    )
    return fig


def drops_figure(result):
    """Relative drop per skill, with the paper's bars (≥ 0.8 on the forget skill, ≤ 0.1 elsewhere)."""
    import plotly.graph_objects as go

    rows = result.skills
    fig = go.Figure(
        go.Bar(
            x=[r["skill"] for r in rows],
            y=[r["relative_drop"] or 0.0 for r in rows],
            marker={"color": ["crimson" if r["role"] == "forget" else "steelblue" for r in rows]},
            text=[f"{r['acc_orig']:.2f}→{r['acc_new']:.2f}" for r in rows],
        )
    )
    fig.add_hline(y=0.8, line_dash="dash", annotation_text="forget ≥ 0.8")
    fig.add_hline(y=0.1, line_dash="dot", annotation_text="retain ≤ 0.1")
    fig.update_layout(
        title=f"{result.method.upper()}: forget {result.forget_skill!r} — relative drop per skill",
        yaxis_title="(acc_orig − acc_new) / acc_orig",
    )
    return fig
