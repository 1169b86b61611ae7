"""``probe``: linear probes on the hidden states, with controls — metrics ``probe_transfer``
(fitted on the retain entities, applied to the forget entities) and ``probe_refit`` (grouped
k-fold over all entities), one per mode (`probes.linear`).

Per forget entity, task accuracy at the (depth, role) group cross-fitted on the other half of the
entities (`crossfit`): the group with the largest ORIG − mean REF gap (else ORIG's accuracy, else
the unlearned models').  Every model's table of groups carries the controls (control task,
shuffled labels, majority class); with ``random_init_control`` a freshly initialised copy of the
architecture is probed beside the roles (Zhang & Bowman's random-init control)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ...errors import UnlearnscopeError
from ..crossfit import cross_fit, halves
from ..models import ModelSet, metric
from ..registry import Measurement, readout
from ..rki import Metric, mean_and_ci
from ..stats import per_entity

MODES = ("transfer", "refit")


@dataclass(frozen=True)
class ProbeSettings:
    layers: tuple[int, ...] | None = None  # depths (None: all)
    roles: tuple[str, ...] = ("last",)  # position roles (`data.roles`)
    method: str = "ridge"  # ridge | logistic
    modes: tuple[str, ...] = MODES
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    random_init_control: bool = True

    def validate(self) -> None:
        from ...probes.solvers import SOLVERS

        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes or self.method not in SOLVERS or not self.seeds:
            raise UnlearnscopeError(
                f"probe settings: modes from {MODES} (got {list(self.modes)}), method from {SOLVERS} "
                f"(got {self.method!r}) and at least one seed"
            )


def _selection_score(by_role: dict) -> tuple[torch.Tensor, str]:
    """``[options, entities]`` criterion: ORIG − mean REF, else ORIG, else the unlearned models."""
    mean = lambda r: torch.stack(by_role[r]).mean(0)
    if "original" in by_role and "reference" in by_role:
        return mean("original") - mean("reference"), "largest ORIG − REF gap"
    if "original" in by_role:
        return mean("original"), "highest ORIG accuracy (no REF)"
    return mean("unlearned"), "highest accuracy of the unlearned models (no references)"


def _probe(subject, forget, retain, mode, config):
    from ...probes.linear import probe_model

    return probe_model(subject, forget, retain, mode=mode, config=config)


def _probe_table(runs: list, vals: list, rules) -> dict:
    """Per group: task accuracy (mean ± CI over entities, models averaged) and every control."""
    per_entity_mean = torch.stack(vals).mean(0)  # [group, entity]
    table = {"task": [mean_and_ci(v, rules) for v in per_entity_mean]}
    for c in ("control", "shuffled", "majority"):
        table[c] = torch.stack([run.accuracy(c) for run in runs]).mean(0).tolist()
    table["selectivity"] = [t[0] - c for t, c in zip(table["task"], table["control"], strict=True)]
    return table


def _random_init(m: Measurement) -> dict[str, list]:
    """The random-init control model (memoised by architecture in the measurement cache)."""
    from ...model.subject import config_json
    from ...probes.linear import random_init_like

    if not m.settings.random_init_control:
        return {}
    u = m.models.roles["unlearned"][0]
    if m.models.cache is None:
        return {"random_init": [random_init_like(u)]}
    arch = (config_json(u.model), type(u.model).__name__, str(u.device), str(next(u.model.parameters()).dtype))
    return {"random_init": [m.models.cache.memo("random_init", arch, lambda: random_init_like(u))]}


def _mode_metric(ms: ModelSet, m: Measurement, mode: str, pc) -> Metric:
    runs = ms.map(f"probe_{mode}", _probe, m.data.forget, m.data.retain, mode, pc, extra=True)
    names = per_entity(runs["unlearned"][0].correct["task"], runs["unlearned"][0].entities)[0]
    vals = {
        r: [per_entity(run.correct["task"], run.entities)[1] for run in rs] for r, rs in runs.items()
    }  # [group, entity] each
    score, rule = _selection_score({r: v for r, v in vals.items() if r in ms.roles})
    pick, chosen = cross_fit(score, halves(names, m.seed))
    cols = torch.arange(len(names))
    per_role = {r: [(names, v[pick, cols]) for v in vs] for r, vs in vals.items() if r in ms.roles}
    groups = runs["unlearned"][0].groups
    out = m.section[mode] = {
        "groups": [list(g) for g in groups],
        "chosen_groups": [list(groups[c]) for c in chosen],
        "rule": f"{rule}, cross-fitted: each half of the forget entities is scored at the group chosen on the other",
        "by_model": {r: _probe_table(runs[r], vals[r], m.config.rules) for r in runs},
    }
    rand = vals.get("random_init")
    return metric(
        f"probe_{mode}",
        "intrinsic",
        per_role,
        {
            "groups": out["chosen_groups"],
            "selection": out["rule"],
            "random_init_accuracy": float(torch.stack(rand)[:, pick, cols].mean()) if rand else None,
        },
    )


def _figures(v: dict) -> list:
    from ...viz.verify import probe_curves

    note = "A null probe means “not linearly decodable”, never “erased”."
    return [(f"Linear probes ({mode})", note, probe_curves(v, mode)) for mode in v.get("probes", {})]


@readout(
    "probe",
    "intrinsic",
    config=ProbeSettings,
    metrics="probe_{mode}",
    extra_models=_random_init,
    section="probes",
    figure=_figures,
    aliases=("probes",),
    source="Guo et al. (transfer), grouped k-fold refit; Hewitt & Liang controls",
)
def measure(m: Measurement) -> list[Metric]:
    """task accuracy of linear probes per forget entity, transfer (fitted on retain entities) and refit"""
    from ...probes.linear import ProbeConfig

    s = m.settings
    pc = ProbeConfig(layers=s.layers, roles=s.roles, method=s.method, seeds=s.seeds)
    return [_mode_metric(m.models, m, mode, pc) for mode in s.modes]
