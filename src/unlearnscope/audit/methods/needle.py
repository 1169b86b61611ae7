"""``needle``: ConceptVectors' Needle on the located value vectors — N(0, σ²) noise on them, then
gradient ascent on them only at the paper's learning rate and weight decay (`ablate.unlearning`'s
Needle settings).  The audit's budget replaces the paper's single epoch: the learning rate warms
up over one epoch of batches of 32, then stays constant until the stopping rule or ``max_steps``
(one epoch does not reach the audit's equal forgetting)."""

from __future__ import annotations

from .base import audit_method, training_noise, unlearn_run, value_vectors


def noise(ctx, subject, infos, data) -> dict:
    """Needle's NOISE: the same N(0, σ²) noise on the same vectors, then the same training on held-out data."""
    from ...ablate.static import ablate
    from ...ablate.unlearning import NEEDLE_SIGMA
    from ...model.components import ComponentSet

    region = list(infos[0]["region"])
    ablate(subject, ComponentSet.parse(subject, region), "noise", sigma=NEEDLE_SIGMA, seed=ctx.config.seed)
    return {
        "kind": f"N(0, {NEEDLE_SIGMA}²) noise on the same vectors",
        "n_vectors": len(region),
        "sigma": NEEDLE_SIGMA,
        "then": training_noise(ctx, subject, infos, data),
    }


@audit_method(
    "needle",
    "ConceptVectors' Needle on the located value vectors: N(0, 0.1^2) noise, then gradient ascent on them only",
    noise=noise,
    source="Hong et al., ConceptVectors",
)
def run(ctx, subject) -> dict:
    from ...ablate.static import ablate
    from ...ablate.unlearning import NEEDLE_BATCH, NEEDLE_SIGMA, paper_defaults

    vec = value_vectors(subject, [(v["layer"], v["neuron"]) for v in ctx.localization["vectors"]])
    ablate(subject, vec, "noise", sigma=NEEDLE_SIGMA, seed=ctx.seed)
    paper = paper_defaults()["needle"]["config"]
    warmup = max(1, len(ctx.target.forget_items) // NEEDLE_BATCH)
    return {
        **unlearn_run(
            ctx,
            subject,
            components=vec,
            lr=paper["lr"],
            weight_decay=paper["weight_decay"],
            schedule="constant",
            warmup_steps=warmup,
            loss_on=paper["loss_on"],
        ),
        "needle_noise": {"sigma": NEEDLE_SIGMA, "n_vectors": len(ctx.localization["vectors"])},
    }
