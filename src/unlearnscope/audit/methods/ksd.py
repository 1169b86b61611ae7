"""``ksd``: Key Space Detection (Li, Sun & Weng 2025), training-free and applied at inference — the
cube's layer and λ are chosen on the fit items only (`ksd_skill_unlearning`).  The paper answers a
detected query with a fixed refusal, which on this target would be the very behaviour to remove;
here a detected position's key is replaced by the mean key of the benign prompts (key-space
steering), so detection hands the query to the benign behaviour.  Dense FFNs only."""

from __future__ import annotations

from ...errors import UnlearnscopeError
from .base import audit_method
from .skill_targets import refusal_rate, refusal_skills


@audit_method(
    "ksd",
    "Key Space Detection: queries whose FFN key falls in the refusal cube are steered to the benign prompts' mean key",
    intervention="inference-time",
    deterministic=True,
    targets=("refusal",),
    requires=("lm_head", "dense"),
    source="Li, Sun & Weng 2025",
)
def run(ctx, subject) -> dict:
    from ...localize.skills import fit_key_space, key_space_steering, ksd_skill_unlearning

    items = ctx.target.forget_items
    r = ksd_skill_unlearning(subject, refusal_skills(ctx.target), "refusal", seed=ctx.config.seed)
    assert isinstance(r.layer, int) and r.cube is not None and r.lam is not None  # set by every KSD run
    benign = [i.prompt for i in ctx.target.retain_items if i.domain == "benign"]
    if len(benign) < 2:
        raise UnlearnscopeError(
            "ksd steers detected queries to the benign prompts' mean key: the target needs at least 2 benign items"
        )
    steer = fit_key_space(subject, benign, layer=r.layer, site=r.cube.site).mu
    before = refusal_rate(subject, items)
    with key_space_steering(subject, r.cube, steer, r.lam) as st:
        after = refusal_rate(subject, items)
    ctx.localization.setdefault("held", {})[id(subject)] = lambda: key_space_steering(subject, r.cube, steer, r.lam)
    best = next(row for row in r.calibration if row["layer"] == r.layer) if r.calibration else {}
    return {
        "key_space": {
            "layer": r.layer,
            "lam": r.lam,
            "k_star": r.k_star,
            "n_neurons": r.n_neurons,
            "calibration_tpr": best.get("tpr"),
            "calibration_fpr_worst_skill": best.get("fpr_worst_skill"),
            "refusal_before": before,
            "refusal_after": after,
            "steered_share": round(st.n_steered / max(1, st.n_seen), 4),
            "stopped": "forget_metric" if after <= ctx.config.stop_at else "detection",
        },
        "region": None,
    }
