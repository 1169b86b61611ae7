"""``random-labels``: Zhang, Choshen & Andreas's forgetting — fine-tuning the whole model on the
forget prompts toward random answers of each fact's relation, until recall of the true answers
reaches ``stop_at``."""

from __future__ import annotations

from dataclasses import replace

from ...errors import UnlearnscopeError
from .base import audit_method, training_noise, unlearn_config, unlearning_summary


def random_labels(items, pool, seed: int) -> list:
    """``items`` with each answer replaced by another answer of the same relation, drawn
    uniformly (seeded); ``pool``: the facts whose answers make up each relation's label set."""
    import random

    labels: dict = {}
    for f in pool:
        labels.setdefault(f.relation, set()).add(f.answer)
    rng = random.Random(seed)
    out = []
    for i in items:
        others = sorted(labels.get(i.relation, set()) - {i.answer})
        if not others:
            raise UnlearnscopeError(
                f"relation {i.relation!r} has one answer only: random-label forgetting needs another label"
            )
        out.append(replace(i, answer=rng.choice(others)))
    return out


@audit_method(
    "random-labels",
    "random-label forgetting: the forget prompts fine-tuned toward random answers of their relation (Zhang, Choshen & "
    "Andreas), whole model",
    noise=training_noise,
    source="Zhang, Choshen & Andreas",
)
def run(ctx, subject) -> dict:
    from ...ablate.unlearning import unlearn

    t, lr = (
        ctx.target,
        ctx.config.localized_lr,
    )  # the paper's 1e-4 on the facts organism; lr_full does not reach stop_at in max_steps
    relabelled = random_labels(t.forget_items, list(t.forget) + list(t.retain), ctx.seed)
    res = unlearn(
        subject,
        relabelled,
        None,
        config=unlearn_config(ctx, lr, "relabel"),
        progress=ctx.progress,
        metric_items=t.forget_items,
    )
    return {**unlearning_summary(res, lr), "region": None}
