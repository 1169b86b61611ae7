"""Skill-unlearning methods on the refusal target: Neuron Adjust (``na``) and Key Space Detection
(``ksd``) of Li, Sun & Weng (2025), both training-free and applied at inference.

The forget skill is refusing: its fit items are the target's refusal items (trained prompts
only); the retain skills are the organism's other trained domains (benign chat, facts,
arithmetic, code), one skill per domain.  Both methods read dense FFN neurons, so they run on the
dense multi-domain organism (``--organism multidomain``); the MoE organism's FFNs are experts.

* ``na``: Neuron Adjust on every layer's FFN pre-activations, statistics over the fit items' full
  texts.  Like ``experts-off`` grows its expert set, the selected share grows over `NA_TOP_P`
  until refusal ≤ ``stop_at`` (the largest share if none does); the adjustment's random draws are
  seeded by the run's seed, so seeds give its spread.
* ``ksd``: the cube's layer and λ are chosen on the fit items only (`ksd_skill_unlearning`).  The
  paper answers a detected query with a fixed refusal, which on this target would be the very
  behaviour to remove; here a detected position's key is replaced by the mean key of the benign
  prompts (key-space steering), so detection hands the query to the benign behaviour.

The fitted interventions are kept in ``ctx.localization["held"]`` by model (``id``), where the
plan's ``hold`` finds them while the model is verified.
"""

from __future__ import annotations

from ..errors import UnlearnscopeError

NA_TOP_P = (0.03, 0.1, 0.2, 0.3, 0.5)  # the paper's 3 % first; larger shares until the stopping rule is met


def check_dense(subject, method: str) -> None:
    if subject.anatomy.is_moe:
        raise UnlearnscopeError(f"{method} reads dense FFN neurons; this model's FFNs are experts — audit it with --organism multidomain "
                                "(the same refusal target on a dense model) or use experts-off / uoe here")


def refusal_skills(target) -> dict:
    """``{"refusal": forget skill, domain: retain skill, ...}`` from the target's trained items (no eval items)."""
    from ..localize.skills import Skill

    retain: dict[str, list] = {}
    for i in target.retain_items:
        retain.setdefault(i.domain, []).append(i)
    return {"refusal": Skill("refusal", list(target.forget_items), []), **{d: Skill(d, items, []) for d, items in retain.items()}}


def _refusal(subject, items) -> float:
    from ..organisms.train import accuracy

    return accuracy(subject.model, subject.tokenizer, items)


def run_na(ctx, subject) -> dict:
    from ..localize.skills import ffn_stats, neuron_adjust, select_neurons

    check_dense(subject, "na")
    c, items = ctx.config, ctx.target.forget_items
    skills = refusal_skills(ctx.target)
    fs = ffn_stats(subject, skills["refusal"].fit_texts, site="pre")
    rs = ffn_stats(subject, [t for n, s in skills.items() if n != "refusal" for t in s.fit_texts], site="pre")
    curve = []
    for p in NA_TOP_P:
        sel = select_neurons(fs, rs, top_p=p)
        with neuron_adjust(subject, sel, seed=ctx.seed):
            curve.append([p, _refusal(subject, items)])
        if curve[-1][1] <= c.stop_at:
            break
    ctx.localization.setdefault("held", {})[id(subject)] = lambda: neuron_adjust(subject, sel, seed=ctx.seed)
    return {"neuron_adjust": {"top_p": p, "n_neurons": sel.n_selected, "of": sel.n_total, "tau": round(sel.tau, 4),
                              "per_layer": {str(k): v for k, v in sel.per_layer_counts().items()}, "refusal_by_top_p": curve,
                              "seed": ctx.seed, "stopped": "forget_metric" if curve[-1][1] <= c.stop_at else "max_share"},
            "region": None}


def run_ksd(ctx, subject) -> dict:
    from ..localize.skills import fit_key_space, key_space_steering, ksd_skill_unlearning

    check_dense(subject, "ksd")
    items = ctx.target.forget_items
    r = ksd_skill_unlearning(subject, refusal_skills(ctx.target), "refusal", seed=ctx.config.seed)
    benign = [i.prompt for i in ctx.target.retain_items if i.domain == "benign"]
    if len(benign) < 2:
        raise UnlearnscopeError("ksd steers detected queries to the benign prompts' mean key: the target needs at least 2 benign items")
    steer = fit_key_space(subject, benign, layer=r.layer, site=r.cube.site).mu
    before = _refusal(subject, items)
    with key_space_steering(subject, r.cube, steer, r.lam) as st:
        after = _refusal(subject, items)
    ctx.localization.setdefault("held", {})[id(subject)] = lambda: key_space_steering(subject, r.cube, steer, r.lam)
    best = next(row for row in r.calibration if row["layer"] == r.layer) if r.calibration else {}
    return {"key_space": {"layer": r.layer, "lam": r.lam, "k_star": r.k_star, "n_neurons": r.n_neurons,
                          "calibration_tpr": best.get("tpr"), "calibration_fpr_worst_skill": best.get("fpr_worst_skill"),
                          "refusal_before": before, "refusal_after": after, "steered_share": round(st.n_steered / max(1, st.n_seen), 4),
                          "stopped": "forget_metric" if after <= ctx.config.stop_at else "detection"},
            "region": None}
