"""``component_revert``: recovery attribution, reported beside the verdict and never a readout of
it (ORIG's weights put back can carry the facts whatever the unlearning did): per component, the
recall each role's models reach with it given ORIG's weights back, one at a time, and the
unlearned models' gain over their own recall."""

from __future__ import annotations

from dataclasses import dataclass

from ..models import Anchor, anchor_of
from ..registry import Measurement, readout
from ..rki import Metric
from ..worst_case import option_means


@dataclass(frozen=True)
class RevertSettings:
    components: tuple[str, ...] | None = None  # reverted one at a time (default: every attn, mlp / router and expert)


def _revert(subject, orig: Anchor, facts, order, components):
    from ..whitebox import revert_recall

    return revert_recall(subject, orig.obj, facts, order, components)


@readout(
    "component_revert",
    "attribution",
    config=RevertSettings,
    requires=("lm_head", "original"),
    on_noise=False,
    worst_case=True,
    default=False,
    section="attacks",
    aliases=("revert",),
)
def measure(m: Measurement) -> list[Metric]:
    """which component holds the suppression: recall with each component reverted to ORIG's weights"""
    from ..recall import entity_recall
    from ..whitebox import default_components

    ms = m.models
    unl = ms.roles["unlearned"][0]
    comps = list(m.settings.components) if m.settings.components else default_components(unl)
    roles = [r for r in ms.roles if r != "original"]
    order = m.data.order
    vals = ms.map(
        "component_revert", _revert, anchor_of(ms.roles["original"][0]), m.data.forget, order, comps, roles=roles
    )
    own = sum(
        float(ms.measure("unlearned", u, "recall", entity_recall, m.data.forget, order)[1].mean())
        for u in ms.roles["unlearned"]
    )
    own /= len(ms.roles["unlearned"])
    rec = option_means(vals)
    gain = [x - own for x in rec["unlearned"]]
    top = max(range(len(comps)), key=lambda i: gain[i])
    m.section["component_revert"] = {
        "options": comps,
        "recovered": rec,
        "gain": gain,
        "recall_before": own,
        "component": comps[top],
        "reading": f"reverting {comps[top]} to ORIG's weights brings back {gain[top]:+.2f} forget recall"
        + (f" (REF with the same component: {rec['reference'][top]:.2f})" if "reference" in rec else ""),
    }
    return []
