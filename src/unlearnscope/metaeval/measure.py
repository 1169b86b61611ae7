"""Readout values per population member and condition, measured as a verification measures them.

A *value* is a readout's mean over the forget entities for one model (higher = knows more),
measured against the anchors ORIG and REF with `evaluate.verification.measure_readouts`.  Conditions:
``base`` (the model as it is), ``quant8`` / ``quant4`` (its weights' round trip,
`model.quantize`), ``relearn`` (the model after the brief fine-tune on unrelated data).  One
model is measured at a time (probe depths are chosen on the anchors and relearning runs at one
learning rate, so a value does not depend on the other members) and every value is cached as
JSON beside the population, keyed by the member, the condition and the protocol.
"""

from __future__ import annotations

import copy
import hashlib
import json

from ..results import write_json_atomic
from .population import finetune_unrelated, population_dir

CONDITIONS = ("base", "quant8", "quant4", "relearn")


def condition_model(subject, condition: str, unrelated):
    """``subject`` under ``condition`` (a new model for every condition but ``base``)."""
    from ..model.quantize import quantized_copy

    if condition == "base":
        return subject
    if condition in ("quant8", "quant4"):
        return quantized_copy(subject, int(condition[5:]))
    from ..model.loading import load

    relearned = load(copy.deepcopy(subject.model), subject.tokenizer)
    finetune_unrelated(relearned, unrelated, seed=1)
    return relearned


def _values_path(org, member: str, condition: str, protocol: dict):
    key = hashlib.sha256(json.dumps(protocol, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return population_dir(org) / "values" / f"{member}@{condition}-{key}.json"


def member_values(org, member: str, condition: str, subject, anchors, target, verify_cfg, cache) -> dict:
    """``{readout: value}`` of one member under one condition (cached; ``member`` names the
    member's cache entry, so a rebuilt member is measured again)."""
    from ..evaluate.models import ModelSet
    from ..evaluate.verification import measure_readouts

    protocol = {"verify": verify_cfg.to_dict(), "target": target.source, "anchors": org.path.name}
    path = _values_path(org, member, condition, protocol)
    if path.is_file():
        try:
            return json.loads(path.read_text())["values"]
        except (OSError, json.JSONDecodeError, KeyError):
            path.unlink(missing_ok=True)  # a corrupt cache entry is measured again
    model = condition_model(subject, condition, target.noise_items)
    metrics = measure_readouts(
        ModelSet.of([model], anchors[0], [anchors[1]]), target.verify_data(), verify_cfg, cache=cache
    )
    values = {
        m.name: {
            "value": float(m.unlearned[0].mean()),
            "kind": m.kind,
            "orig": float(m.original[0].mean()),
            "ref": float(m.reference[0].mean()),
        }
        for m in metrics
        if m.kind != "locality"
    }
    write_json_atomic(path, {"member": member, "condition": condition, "protocol": protocol, "values": values})
    return values
