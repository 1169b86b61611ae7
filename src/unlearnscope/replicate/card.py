"""`ReplicationCard`: a paper's central claim, its number, ours with a CI, and whether they agree.

A card is a result, whichever way it comes out: ``agrees`` is measured, never assumed, and
``differences`` says how our setting differs from the paper's (organism vs 7B model, budget, data).
``comparisons`` hold the measured contrasts: ``{"name", "what", "value", "ci", "n", "expect"}`` with
``expect`` ``"< 0"`` or ``"> 0"`` — a contrast supports the claim when its whole CI lies on the
expected side.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..results import Result, write_text_atomic


def supports(comparison: dict) -> bool:
    """The contrast's 95 % CI lies entirely on the side the claim expects."""
    lo, hi = comparison["ci"]
    if lo is None or hi is None:
        return False
    return hi < 0 if comparison["expect"] == "< 0" else lo > 0


@dataclass
class ReplicationCard(Result):
    kind = "replication_card"
    paper: str
    citation: str
    claim: str
    paper_number: str
    comparisons: list[dict]
    agrees: bool
    status: Literal["agrees", "partly agrees", "does not agree"]  # the claim against our contrasts
    differences: list[str]
    command: str
    seeds: list[int]
    size: str
    seconds: float
    details: dict = field(default_factory=dict)

    @classmethod
    def of(
        cls, paper: str, citation: str, claim: str, paper_number: str, comparisons: list[dict], **kw
    ) -> ReplicationCard:
        ok = [supports(c) for c in comparisons]
        status = "agrees" if all(ok) else "does not agree" if not any(ok) else "partly agrees"
        return cls(
            paper,
            citation,
            claim,
            paper_number,
            [{**c, "supports_claim": s} for c, s in zip(comparisons, ok, strict=True)],
            all(ok),
            status,
            **kw,
        )

    def to_markdown(self) -> str:
        fmt = lambda x: "–" if x is None else f"{x:+.3f}"
        rows = "\n".join(
            f"| {c['name']} | {c['what']} | {fmt(c['value'])} | [{fmt(c['ci'][0])}, {fmt(c['ci'][1])}] | {c['n']} | "
            f"{c['expect']} | {'yes' if c['supports_claim'] else 'no'} |"
            for c in self.comparisons
        )
        diffs = "\n".join(f"- {d}" for d in self.differences + self.caveats())
        return (
            f"# Replication: {self.paper}\n\n{self.citation}\n\n**Claim.** {self.claim}\n\n**Paper.** "
            f"{self.paper_number}\n\n"
            f"**Ours: {self.status}** (organism size {self.size}, seeds {self.seeds}, {self.seconds:.0f} s).\n\n"
            "| contrast | what | value | 95 % CI | n | claim expects | supports |\n|---|---|---|---|---|---|---|\n"
            f"{rows}\n\n{self._runs_table()}**What differs from the paper's setting.**\n\n{diffs}\n\n"
            f"Made with:\n\n```bash\n{self.command}\n```\n"
        )

    def caveats(self) -> list[str]:
        """What this run's own numbers qualify: arms that did not reach the shared stop rule, and the
        paper's own measured notes (``details["notes"]``)."""
        out = list(self.details.get("notes") or [])
        for name, m in (self.details.get("methods") or {}).items():
            off = [st for st in m.get("stopped", []) if st != "forget_metric"]
            if off:
                out.append(
                    f"{name}: {len(off)} of {len(m['stopped'])} seeds ended by {off[0]!r}, not at the shared forget "
                    "level "
                    f"(forget recall {m['metrics'].get('recall', float('nan')):.3f}): its contrasts are not at equal "
                    "forgetting"
                )
        return out

    def _runs_table(self) -> str:
        methods = self.details.get("methods") or {}
        if not methods:
            return ""
        keys = list(next(iter(methods.values()))["metrics"])
        head = (
            "| run | "
            + " | ".join(keys)
            + " | trained parameters | ended by |\n|---|"
            + "---|" * (len(keys) + 2)
            + "\n"
        )
        rows = "".join(
            f"| {n} | "
            + " | ".join(f"{m['metrics'][k]:.3f}" for k in keys)
            + f" | {m.get('n_params_trained') or '–'} | "
            f"{', '.join(sorted(set(m.get('stopped', []))))} |\n"
            for n, m in methods.items()
        )
        return f"**Runs** (seed means).\n\n{head}{rows}\n"

    def save_card(self, directory: str | os.PathLike) -> Path:
        """Write ``<paper>.md`` and ``<paper>.json`` into ``directory`` (atomically); returns the markdown path."""
        d = Path(directory)
        self.save(d / f"{self.paper}.json")
        return write_text_atomic(d / f"{self.paper}.md", self.to_markdown())

    def plot(self):
        from ..viz.replicate import replication_figure

        return replication_figure(self)
