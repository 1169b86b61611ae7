"""The audit's output metrics (`evaluate.output_metrics`, open-unlearning's names) for ORIG, REF and
every audited model: ``report["output_metrics"][model][metric] = {"agg_value", "value_by_index", ...}``.

A method run with several seeds gets each metric's mean over its seeds' models as ``agg_value``,
each seed's value in ``by_seed`` and the first seed's ``value_by_index``.
"""

from __future__ import annotations

from ..evaluate.output_metrics import output_metrics


def _pooled(rows: list[dict]) -> dict:
    out = {}
    for name, first in rows[0].items():
        vals = [r[name].get("agg_value") for r in rows]
        known = [v for v in vals if v is not None]
        out[name] = {
            **first,
            "agg_value": sum(known) / len(known) if known else None,
            **({"by_seed": vals} if len(rows) > 1 else {}),
        }
    return out


class OutputMeasures:
    """Output metrics of ORIG and REF (once) and of each audited model, against REF."""

    def __init__(self, data, original, references, residency, why: str | None = None):
        self.data, self.original, self.references, self.why = data, original, references, why
        self.residency = residency  # model.residency.Residency: each model on the device while measured
        self.models: dict[str, dict] = {}
        self._ref = None

    @property
    def active(self) -> bool:
        return self.data is not None

    def _measure(self, subject, reference=None, hold=None) -> dict:
        with self.residency.use(subject):
            return output_metrics(subject, self.data, reference, hold=hold)

    def _reference(self) -> dict | None:
        if self._ref is None and self.references:
            self._ref = self._measure(self.references[0])
        return self._ref

    def measure(self, name: str, subjects: list, hold=None) -> None:
        """``name``'s models (one per seed), measured with the intervention ``hold`` applied."""
        if self.active:
            ref = self._reference()
            self.models[name] = _pooled([self._measure(s, ref, hold) for s in subjects])

    def result(self) -> dict:
        """``{"original", "reference", <model>...}`` of metric dicts; ``{}`` when not computed."""
        if not self.active:
            return {}
        anchors = {"original": self._measure(self.original, self._reference())}
        if self.references:
            anchors["reference"] = self._reference()
        return {**anchors, **self.models}

    def note(self) -> dict:
        """What the report says about them: what was compared, or why there are none."""
        if not self.active:
            return {"computed": False, "why": self.why}
        d = self.data
        return {
            "computed": True,
            "n_forget": len(d.forget),
            "n_retain": len(d.retain),
            "n_holdout": len(d.holdout or []),
            "min_k": d.k,
            "compat": d.compat,
            "notes": d.notes,
        }
