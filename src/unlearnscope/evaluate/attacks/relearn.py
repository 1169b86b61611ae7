"""``relearn``: the relearning attack (Deeb & Roger) — fine-tune on half of the forget entities'
facts and score recall of the other half (`evaluate.relearn.relearn_curves`).

Per held-out entity, mean recall over the relearning curve, at the learning rate cross-fitted on
the other half of the entities (the one where the unlearned models' excess over REF is largest:
the worst case).  Not measured on NOISE (a drift floor for locality, not for attacks)."""

from __future__ import annotations

import torch

from ..crossfit import cross_fit, halves
from ..models import metric
from ..registry import Measurement, readout
from ..relearn import RelearnConfig, relearn_curves
from ..rki import Metric


def _relearn(subject, forget, config):
    return relearn_curves(subject, forget, config=config)


def _details(curves: dict, auc: dict, lrs: list, chosen: list, out: dict) -> None:
    """Curves (averaged over each role's models), steps to 50 % / 90 % of ORIG's level and areas,
    at the learning rate chosen on half 0 (the one plotted)."""
    shown = lrs[chosen[0]]
    out["worst_case_lr"], out["cross_fitted_lrs"] = shown, [lrs[c] for c in chosen]
    mean_curve = {
        r: {str(lr): torch.tensor([c.mean_curve(lr) for c in cs]).mean(0).tolist() for lr in lrs}
        for r, cs in curves.items()
    }
    for r, cs in curves.items():
        out[r] = {
            "steps": cs[0].steps,
            "mean_curve": mean_curve[r],
            "n_models": len(cs),
            "seed_sd_auc": {str(lr): float(torch.nanmean(cs[0].curves[lr].mean(1), 1).std()) for lr in lrs},
        }
    if "original" in curves:
        level = float(torch.nanmean(curves["original"][0].curves[shown][:, 0]))
        for r in curves:
            first = lambda f, r=r: next(
                (s for s, v in zip(out[r]["steps"], mean_curve[r][str(shown)], strict=True) if v >= f * level), None
            )
            out[r]["steps_to_50%"], out[r]["steps_to_90%"] = first(0.5), first(0.9)
    area = {r: float(torch.nanmean(a[:, chosen[0]])) for r, a in auc.items()}
    out["area_under_curve"] = area
    if "reference" in area:
        out["area_between_unlearned_and_reference"] = area["unlearned"] - area["reference"]
    if "original" in area:
        out["area_between_original_and_unlearned"] = area["original"] - area["unlearned"]


def _figures(v: dict) -> list:
    from ...viz.verify import relearn_figure

    return [("Relearning", None, relearn_figure(v))] if v.get("relearn") else []


@readout(
    "relearn",
    "adversarial",
    config=RelearnConfig,
    requires=("lm_head",),
    on_noise=False,
    weights_only=True,
    section="relearn",
    figure=_figures,
    source="Deeb & Roger, disjoint-entity relearning",
)
def measure(m: Measurement) -> list[Metric]:
    """recall of held-out forget entities over the relearning curve, at the worst-case learning rate"""
    cfg, ms = m.settings, m.models
    curves = ms.map("relearn", _relearn, m.data.forget, cfg, roles=list(ms.roles))
    lrs = list(cfg.lrs)
    ents = curves["unlearned"][0].entities
    auc = {
        r: torch.stack([torch.stack([c.entity_auc(lr) for lr in lrs]) for c in cs]) for r, cs in curves.items()
    }  # [model, lr, entity]
    excess = auc["unlearned"].mean(0) - (auc["reference"].mean(0) if "reference" in auc else 0)
    pick, chosen = cross_fit(excess, halves(ents, m.seed))
    seen = torch.isfinite(auc["unlearned"][0, 0])  # entities held out in at least one relearning seed
    cols = torch.arange(len(ents))
    names = [e for e, k in zip(ents, seen.tolist(), strict=True) if k]
    per_role = {r: [(names, a[pick, cols][seen]) for a in v] for r, v in auc.items()}
    _details(curves, auc, lrs, chosen, m.section)
    return [
        metric(
            "relearn",
            "adversarial",
            per_role,
            {
                "lrs": [lrs[c] for c in chosen],
                "split": cfg.split,
                "seeds": list(cfg.seeds),
                "selection": "worst-case learning rate (largest excess over REF), cross-fitted over entity halves",
                "score": "mean recall of held-out forget entities over the relearning curve",
            },
        )
    ]
