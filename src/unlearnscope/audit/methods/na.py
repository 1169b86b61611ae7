"""``na``: Neuron Adjust (Li, Sun & Weng 2025), training-free and applied at inference — forget-like
FFN pre-activations mapped into the retain distribution on every layer, statistics over the fit
items' full texts.  Like ``experts-off`` grows its expert set, the selected share grows over
`NA_TOP_P` until refusal ≤ ``stop_at`` (the largest share if none does); the adjustment's random
draws are seeded by the run's seed, so seeds give its spread.  Dense FFNs only."""

from __future__ import annotations

from .base import audit_method
from .skill_targets import refusal_rate, refusal_skills

NA_TOP_P = (0.03, 0.1, 0.2, 0.3, 0.5)  # the paper's 3 % first; larger shares until the stopping rule is met


@audit_method(
    "na",
    "Neuron Adjust: forget-like FFN pre-activations mapped into the retain distribution at inference, top-p grown to "
    "the stopping rule",
    intervention="inference-time",
    targets=("refusal",),
    requires=("lm_head", "dense"),
    source="Li, Sun & Weng 2025",
)
def run(ctx, subject) -> dict:
    from ...localize.skills import ffn_stats, neuron_adjust, select_neurons

    c, items = ctx.config, ctx.target.forget_items
    skills = refusal_skills(ctx.target)
    fs = ffn_stats(subject, skills["refusal"].fit_texts, site="pre")
    rs = ffn_stats(subject, [t for n, s in skills.items() if n != "refusal" for t in s.fit_texts], site="pre")
    curve = []
    for p in NA_TOP_P:
        sel = select_neurons(fs, rs, top_p=p)
        with neuron_adjust(subject, sel, seed=ctx.seed):
            curve.append([p, refusal_rate(subject, items)])
        if curve[-1][1] <= c.stop_at:
            break
    ctx.localization.setdefault("held", {})[id(subject)] = lambda: neuron_adjust(subject, sel, seed=ctx.seed)
    return {
        "neuron_adjust": {
            "top_p": p,
            "n_neurons": sel.n_selected,
            "of": sel.n_total,
            "tau": round(sel.tau, 4),
            "per_layer": {str(k): v for k, v in sel.per_layer_counts().items()},
            "refusal_by_top_p": curve,
            "seed": ctx.seed,
            "stopped": "forget_metric" if curve[-1][1] <= c.stop_at else "max_share",
        },
        "region": None,
    }
