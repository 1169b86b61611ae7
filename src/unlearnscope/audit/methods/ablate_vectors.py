"""``ablate``: the located MLP value vectors (unit attribution, top-n) set to zero, no training.
While forget recall is above ``stop_at`` the count doubles (along the attribution ranking, up to
``max_vectors``), so the ablation is compared with the unlearning runs at the same behavioural
forgetting.  Its NOISE zeroes as many random value vectors per layer."""

from __future__ import annotations

from .base import audit_method, value_vectors


def noise(ctx, subject, infos, data) -> dict:
    from ..noise import random_vectors_noise

    n = infos[0]["ablation"]["n_vectors"]
    return random_vectors_noise(subject, ctx.localization["vector_ranking"][:n], seed=ctx.config.seed)


@audit_method(
    "ablate",
    "the located MLP value vectors (unit attribution, top-n) set to zero; no training",
    noise=noise,
    deterministic=True,
)
def run(ctx, subject) -> dict:
    from ...ablate.static import ablate
    from ...organisms.train import accuracy

    ranking, c = ctx.localization["vector_ranking"], ctx.config
    items = ctx.target.forget_items
    curve, n, done = [[0, accuracy(subject.model, subject.tokenizer, items)]], 0, 0
    while True:
        n = min(len(ranking), max(c.top_vectors, 2 * n))
        ablate(subject, value_vectors(subject, ranking[done:n]), "zero")
        done = n
        curve.append([n, accuracy(subject.model, subject.tokenizer, items)])
        if curve[-1][1] <= c.stop_at or n >= len(ranking):
            break
    stopped = "forget_metric" if curve[-1][1] <= c.stop_at else "max_vectors"
    vec = value_vectors(subject, ranking[:n])
    return {
        "ablation": {
            "mode": "zero",
            "n_vectors": n,
            "n_params": vec.n_params,
            "stopped": stopped,
            "forget_recall_by_n": curve,
        },
        "region": vec.names,
    }
