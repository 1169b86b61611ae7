"""Faithfulness and robustness of every readout, from the members' values (`measure`).

Per readout:

* ``faithfulness_auc`` and ``ci``: the AUC with which the base values separate the knowing
  members from the never-knew ones (`evaluate.faithfulness.auc_ci`: bootstrap over models);
* ``robustness.quant8`` / ``quant4`` / ``relearn``: the share of the knows − never-knew gap that
  the perturbation leaves unmoved, ``1 − mean |after − before| / |mean(knows) − mean(never knew)|``
  over the knowing and never-knew members (clipped to [0, 1]; 1 = unchanged).  Only those two
  groups count: their knowledge does not change under a round trip or a fine-tune on unrelated
  data, so any move is the readout's own instability.  An unlearned model's knowledge *can* come
  back under quantization or relearning (that is an attack), so its changes are reported apart;
* ``robustness_detail``: per condition and group the mean change and UDS's symmetric stability
  ``1 − |after − before| / (|before| + |after|)``; for ``relearn`` also UDS's
  R = 1 − |Δ_unl − Δ_nk| / (|Δ_unl| + |Δ_nk|) (unlearned against never-knew members);
* ``auc_after``: the faithfulness AUC recomputed on each perturbed condition;
* ``used_in_verdicts``: the AUC reaches the floor (behaviour is always used: a verdict needs it).
"""

from __future__ import annotations

import statistics

from ..evaluate.faithfulness import auc, auc_ci, relearn_robustness, stability


def _group(values: dict, members, group: str, condition: str, name: str) -> list[float]:
    return [
        values[(m.name, condition)][name]["value"]
        for m in members
        if m.group == group and name in values.get((m.name, condition), {})
    ]


def _mean(xs: list[float]) -> float | None:
    return statistics.fmean(xs) if xs else None


def _pairs(values: dict, members, group: str, cond: str, name: str) -> list[tuple[float, float]]:
    return [
        (values[(m.name, "base")][name]["value"], values[(m.name, cond)][name]["value"])
        for m in members
        if m.group == group and name in values.get((m.name, cond), {}) and name in values.get((m.name, "base"), {})
    ]


def _robustness(values: dict, members, conditions, name: str, gap: float) -> tuple[dict, dict]:
    robust, detail = {}, {}
    for cond in conditions:
        if cond == "base":
            continue
        per_group = {}
        for g in ("knows", "never_knew", "unlearned"):
            pairs = _pairs(values, members, g, cond, name)
            if pairs:
                per_group[g] = {
                    "mean_change": _mean([a - b for b, a in pairs]),
                    "stability": _mean(stability(*zip(*pairs, strict=True))),
                }
        fixed = _pairs(values, members, "knows", cond, name) + _pairs(values, members, "never_knew", cond, name)
        shift = _mean([abs(a - b) for b, a in fixed])
        robust[cond] = None if shift is None or gap <= 0 else max(0.0, 1 - shift / gap)
        if cond == "relearn" and "unlearned" in per_group and "never_knew" in per_group:
            per_group["uds_R"] = relearn_robustness(
                per_group["unlearned"]["mean_change"], per_group["never_knew"]["mean_change"]
            )
        detail[cond] = per_group
    return robust, detail


def readout_row(name: str, kind: str, values: dict, members, conditions, *, floor: float, n_boot: int) -> dict:
    knows, never = _group(values, members, "knows", "base", name), _group(values, members, "never_knew", "base", name)
    point, ci = auc_ci(knows, never, n_boot=n_boot)
    robust, detail = _robustness(values, members, conditions, name, abs(_mean(knows) - _mean(never)))
    after = {}
    for c in conditions:
        k, n = _group(values, members, "knows", c, name), _group(values, members, "never_knew", c, name)
        if c != "base" and k and n:
            after[c] = auc(k, n)
    return {
        "name": name,
        "kind": kind,
        "faithfulness_auc": point,
        "ci": ci,
        "robustness": robust,
        "robustness_detail": detail,
        "auc_after": after,
        "used_in_verdicts": kind == "behavioural" or point >= floor,
        "knows_values": knows,
        "never_knew_values": never,
        "gap": _mean(knows) - _mean(never),
    }
