"""Where the target lives, found once on ORIG and shared by every method (R1).

Components: attribution patching over the forget facts, the top-k MLP / attention sub-blocks.
Vectors: unit attribution, the top-n MLP neurons (value vectors).  Validity: the located vectors'
ablation effect on the forget facts vs the retain facts, against random unit sets matched in layer
and count (an empirical p-value), because a localization must beat random controls.
"""

from __future__ import annotations

from ..errors import UnlearnscopeError


def localize_target(original, target, *, top_components: int, top_vectors: int, n_random: int, seed: int = 0,
                    max_vectors: int | None = None) -> dict:
    """``vectors``: the top ``top_vectors`` neurons (validated against random sets);
    ``vector_ranking``: ``[layer, neuron]`` of the top ``max_vectors`` (what `ablate` grows into)."""
    from ..localize import attribution_patching, unit_attribution
    from ..localize.units import random_control

    ap = attribution_patching(original, target.forget, seed=seed)
    comps = ap.components(top_k=top_components, subject=original)
    units = unit_attribution(original, target.forget, seed=seed)
    ranked = [u for u in units.top(max(max_vectors or 0, 10 * top_vectors)) if u[1] == "neuron"]
    top = ranked[:top_vectors]
    if not top:
        raise UnlearnscopeError("unit attribution found no MLP neurons to ablate (an MoE model has experts as units); drop the ablate methods")
    rc = random_control(original, [(l, k, j) for l, k, j, _ in top], target.forget, target.retain, n_random=n_random, seed=seed)
    return {"components_method": "attribution patching (top-k sub-blocks by |effect|)", "components": list(comps.names),
            "effects": {"kinds": ap.kinds, "roles": ap.roles, "values": ap.effects.tolist()},
            "vectors_method": "unit attribution (top-n MLP neurons)",
            "vectors": [{"layer": l, "neuron": j, "score": s} for l, _, j, s in top],
            "vector_ranking": [[l, j] for l, _, j, _ in ranked[: max_vectors or top_vectors]],
            "random_control": rc.to_dict()}
