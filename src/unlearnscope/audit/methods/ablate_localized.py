"""``ablate+localized``: `ablate_vectors` (the located value vectors zeroed, grown to the stopping
rule), then gradient ascent on the located components.  Its NOISE: as many random vectors zeroed,
then the same training on held-out data."""

from __future__ import annotations

from . import ablate_vectors
from .base import audit_method, located_components, training_noise_on, unlearn_run


def noise(ctx, subject, infos, data) -> dict:
    vec = ablate_vectors.noise(ctx, subject, infos, data)
    n_vec = infos[0]["ablation"]["n_vectors"]
    located = list(infos[0]["region"][n_vec:])  # the located components (after the vectors)
    return {**vec, "then": training_noise_on(ctx, subject, infos, data, located)}


@audit_method("ablate+localized", "ablate, then gradient ascent on the located components", noise=noise)
def run(ctx, subject) -> dict:
    out = ablate_vectors.run(ctx, subject)
    comps = located_components(ctx, subject)
    return {
        **out,
        **unlearn_run(ctx, subject, components=comps, lr=ctx.config.localized_lr),
        "region": out["region"] + list(comps.names),
    }
