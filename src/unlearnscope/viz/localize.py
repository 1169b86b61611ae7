"""Figures for localization results: effect heatmaps, unit scores, random controls, concept scans
and their causal validation, SAE latent rankings.  Each takes the result object (read by its
fields, so these functions import nothing from `localize`)."""

from __future__ import annotations


def fact_localization_figure(loc):
    """One ``[layer, role]`` heatmap per component kind of a `FactLocalization` (diverging at 0)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    K = len(loc.kinds)
    fig = make_subplots(rows=1, cols=K, subplot_titles=loc.kinds, shared_yaxes=True)
    lim = float(loc.effects.abs().max()) or 1.0
    for k in range(K):
        fig.add_trace(
            go.Heatmap(
                z=loc.effects[k].tolist(),
                x=loc.roles,
                y=list(range(loc.effects.shape[1])),
                zmin=-lim,
                zmax=lim,
                colorscale="RdBu",
                reversescale=True,
                showscale=k == K - 1,
            ),
            1,
            k + 1,
        )
        fig.update_xaxes(title_text="position", row=1, col=k + 1)
    fig.update_yaxes(title_text="layer", row=1, col=1)
    fig.update_layout(title=f"{loc.method} over {loc.n_facts} facts")
    return fig


def unit_scores_figure(units):
    """Layer × unit heatmap of a `UnitScores` (rows padded where layers have fewer units)."""
    import plotly.graph_objects as go

    width = max(len(s) for s in units.scores)
    z = [s.tolist() + [None] * (width - len(s)) for s in units.scores]
    fig = go.Figure(go.Heatmap(z=z, colorscale="RdBu", reversescale=True, zmid=0))
    fig.update_layout(
        title=f"unit attribution over {units.n_facts} facts", xaxis_title="unit (neuron / expert)", yaxis_title="layer"
    )
    return fig


def random_control_figure(rc):
    """A `RandomControl`: the located set's drops against the random sets' cloud."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=rc.random_unrelated_drops or [0] * rc.n_random,
            y=rc.random_target_drops,
            mode="markers",
            name=f"{rc.n_random} random sets",
            marker=dict(color="lightgray"),
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[rc.unrelated_drop or 0],
            y=[rc.target_drop],
            mode="markers",
            name="located",
            marker=dict(color="crimson", size=12),
        )
    )
    fig.update_layout(
        title=f"ablation: located vs random (p = {rc.p_value:.3f})",
        xaxis_title="unrelated drop (mean p)",
        yaxis_title="target drop (mean p)",
    )
    return fig


def concept_scan_figure(scan, names: list[str]):
    """A `ConceptScan`: best score per layer, and its top vectors (``names`` of ``scan.top``) as a table."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.35, 0.65],
        specs=[[{"type": "xy"}, {"type": "table"}]],
        subplot_titles=("best score per layer", f"top vectors for {scan.concept!r}"),
    )
    fig.add_trace(go.Bar(x=list(range(len(scan.layer_max))), y=scan.layer_max, name="max score"), 1, 1)
    rows = scan.top[:15]
    fig.add_trace(
        go.Table(
            header=dict(values=["vector", "score", "hits", "top tokens"]),
            cells=dict(
                values=[
                    names[:15],
                    [f"{r['score']:.2f}" for r in rows],
                    [r["hits"] for r in rows],
                    [" ".join(r["top_tokens"][:10]) for r in rows],
                ]
            ),
        ),
        1,
        2,
    )
    fig.update_xaxes(title_text="layer", row=1, col=1)
    fig.update_layout(
        title=f"concept scan ({'logit lens' if scan.lens else 'raw W_U v'}; null mean {scan.score_mean:.2f} ± "
        f"{scan.score_std:.2f})"
    )
    return fig


def concept_validation_figure(val):
    """A `ConceptValidation`: drops on target vs unrelated facts (accuracy, log-prob, 1 − BLEU / ROUGE-L)."""
    import plotly.graph_objects as go

    cats = ["accuracy drop", "log-prob drop (nats)", "1 − BLEU", "1 − ROUGE-L"]
    t = [val.target_acc_drop, val.target_logp_drop, 1 - val.target_bleu, 1 - val.target_rouge_l]
    u = [val.unrelated_acc_drop, val.unrelated_logp_drop, 1 - val.unrelated_bleu, 1 - val.unrelated_rouge_l]
    fig = go.Figure(
        [
            go.Bar(name=f"target (n={val.n_target})", x=cats, y=t),
            go.Bar(name=f"unrelated (n={val.n_unrelated})", x=cats, y=u),
        ]
    )
    fig.update_layout(barmode="group", title=f"{val.mode} ablation of {val.vector}")
    return fig


def latent_ranking_figure(ranking, n: int = 30):
    """A `LatentRanking`: mean target vs control activation of the top ``n`` latents."""
    import plotly.graph_objects as go

    idx = ranking.top(n)
    fig = go.Figure(
        [
            go.Bar(x=[str(i) for i in idx], y=ranking.target_mean[idx].tolist(), name="target"),
            go.Bar(x=[str(i) for i in idx], y=ranking.control_mean[idx].tolist(), name="control"),
        ]
    )
    fig.update_layout(
        barmode="group",
        title=f"top SAE latents at {ranking.hook} ({ranking.positions} positions)",
        xaxis_title="latent",
        yaxis_title="mean activation",
    )
    return fig
