"""How far each readout can be trusted: its faithfulness on a population of models that know and
never knew, its robustness to quantization and relearning (the protocol of open-unlearning's
metric study and of UDS), and the table verdicts read it from.

    auc(knows, never_knew)                  # P(a knowing model's value > a never-knew model's)
    auc_ci(knows, never_knew, n_boot=2000)  # with a bootstrap CI over models
    stability(before, after)                # 1 − |after − before| / (|before| + |after|), per model
    relearn_robustness(d_unlearned, d_never_knew)
    table = FaithfulnessTable.load(path); table.unfaithful(floor=0.8)

Values are readout values per model (the mean over forget entities, higher = knows more).  AUC
counts ties as half (the Mann–Whitney statistic); 1 = every knowing model reads above every
never-knew one, 0.5 = no separation.  ``stability`` is UDS's quantization score Q in a symmetric
form (1 = unchanged); ``relearn_robustness`` is R = 1 − |Δ_unl − Δ_nk| / (|Δ_unl| + |Δ_nk|): a
relearning on unrelated data should move an unlearned model's readout as much as a never-knew
model's (1), not reveal or hide knowledge that the other does not have.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import UnlearnscopeError

FLOOR = 0.8  # pre-registered: readouts below this faithfulness AUC are not used in verdicts


def table_path(org) -> Path:
    """Where `unlearnscope metaeval` keeps an organism's table (beside its population)."""
    from ..organisms.cache import home

    return home() / "metaeval" / org.path.name / "faithfulness.json"


def cached_table(org) -> FaithfulnessTable | None:
    """The organism's faithfulness table if a meta-evaluation has been run, else ``None``."""
    path = table_path(org)
    return FaithfulnessTable.load(path) if path.is_file() else None


def auc(knows, never_knew) -> float:
    """Mann–Whitney AUC of ``knows`` over ``never_knew`` (1-D value lists; ties count half)."""
    p, n = torch.as_tensor(knows, dtype=torch.float64), torch.as_tensor(never_knew, dtype=torch.float64)
    if p.numel() == 0 or n.numel() == 0:
        raise UnlearnscopeError(
            f"faithfulness needs models that know and models that never knew; got {p.numel()} and {n.numel()}"
        )
    diff = p[:, None] - n[None, :]
    return float(((diff > 0).double() + 0.5 * (diff == 0).double()).mean())


def auc_ci(knows, never_knew, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> tuple[float, list[float]]:
    """``(AUC, [lo, hi])``: the percentile CI of a bootstrap that resamples the models of each
    group with replacement (stratified, so both groups keep their sizes)."""
    p, n = torch.as_tensor(knows, dtype=torch.float64), torch.as_tensor(never_knew, dtype=torch.float64)
    point = auc(p, n)
    g = torch.Generator().manual_seed(seed)
    ip = torch.randint(len(p), (n_boot, len(p)), generator=g)
    jn = torch.randint(len(n), (n_boot, len(n)), generator=g)
    diff = p[ip][:, :, None] - n[jn][:, None, :]  # [boot, knows, never]
    boots = ((diff > 0).double() + 0.5 * (diff == 0).double()).mean((1, 2))
    a = (1 - level) / 2
    return point, [float(torch.quantile(boots, a)), float(torch.quantile(boots, 1 - a))]


def stability(before, after) -> list[float]:
    """Per model, ``1 − |after − before| / (|before| + |after|)`` (1 where both are 0)."""
    b, a = torch.as_tensor(before, dtype=torch.float64), torch.as_tensor(after, dtype=torch.float64)
    den = b.abs() + a.abs()
    return torch.where(den > 0, 1 - (a - b).abs() / den.clamp_min(1e-12), torch.ones_like(den)).tolist()


def relearn_robustness(delta_unlearned: float, delta_never_knew: float) -> float:
    """R = 1 − |Δ_unl − Δ_nk| / (|Δ_unl| + |Δ_nk|) (1 where both are 0)."""
    den = abs(delta_unlearned) + abs(delta_never_knew)
    return 1.0 if den == 0 else 1 - abs(delta_unlearned - delta_never_knew) / den


@dataclass
class FaithfulnessTable:
    """Per readout name: ``{"auc", "ci", ...}`` from a meta-evaluation of one organism."""

    readouts: dict[str, dict]
    source: str  # what was meta-evaluated (organism, size, seed, population)
    floor: float = FLOOR
    extra: dict = field(default_factory=dict)

    def auc(self, name: str) -> float | None:
        r = self.readouts.get(name)
        return None if r is None else r.get("auc")

    def unfaithful(self, floor: float | None = None) -> dict[str, str]:
        """``{readout: why}`` for the readouts whose faithfulness AUC is below the floor."""
        f = self.floor if floor is None else floor
        return {
            k: f"faithfulness AUC {r['auc']:.2f} [{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] below the floor {f} "
            f"({self.source})"
            for k, r in self.readouts.items()
            if r.get("auc") is not None and r["auc"] < f
        }

    def annotate(self, name: str) -> dict:
        """What a report shows beside readout ``name``."""
        r = self.readouts.get(name)
        if r is None:
            return {"status": "not meta-evaluated", "auc": None, "ci": None}
        return {
            "status": "below floor" if r["auc"] < self.floor else "faithful",
            "auc": r["auc"],
            "ci": r["ci"],
            "source": self.source,
        }

    def to_dict(self) -> dict:
        return {"readouts": self.readouts, "source": self.source, "floor": self.floor, "extra": self.extra}

    def save(self, path: str | os.PathLike) -> Path:
        from ..results import write_json_atomic

        return write_json_atomic(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> FaithfulnessTable:
        try:
            d = json.loads(Path(path).read_text())
            return cls(d["readouts"], d["source"], d.get("floor", FLOOR), d.get("extra", {}))
        except (OSError, json.JSONDecodeError, KeyError, TypeError) as e:
            raise UnlearnscopeError(
                f"cannot read the faithfulness table {path}: {e}; run `unlearnscope metaeval` again"
            ) from e
