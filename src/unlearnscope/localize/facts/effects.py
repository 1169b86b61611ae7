"""`FactLocalization`: an effect tensor over (component kind, layer, position role).

``effects[k, l, r]`` is the method's score for kind ``kinds[k]`` (``resid`` = block output,
``attn`` = attention output, ``mlp`` = MLP / MoE block output) at layer ``l`` and positions of
role ``roles[r]`` (see `unlearnscope.data.roles`):

* tracing: indirect effect, ``p(answer | corrupted, restored) − p(answer | corrupted)``;
* patching / attribution: fraction of the clean–corrupt patching metric recovered (default the
  logit difference), ``(M_patched − M_corrupt) / (M_clean − M_corrupt)`` (attribution: its
  linear estimate);
* lookup: probe accuracy gain of the attribute (see `lookup.py`).

Higher = more of the fact flows through there; a negative effect (patching that moves the metric
away from the clean run) matters as much as a positive one, so rankings use the magnitude, as Guo
et al. rank components by ``|attribution|``.  `components()` turns the (kind, layer) cells into a
`ComponentSet` of whole sub-blocks (``blocks.L.mlp`` / ``blocks.L.attn``) — positions are not
parameters, so a cell's score is its effect at the role where ``|effect|`` is largest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ...errors import UnlearnscopeError
from ...results import Result

COMPONENT_KINDS = {"mlp": "blocks.{l}.mlp", "attn": "blocks.{l}.attn"}


@dataclass
class FactLocalization(Result):
    kind = "fact_localization"
    method: str
    kinds: list[str]
    roles: list[str]
    effects: torch.Tensor  # [kind, layer, role]
    n_facts: int
    baseline: dict = field(default_factory=dict)  # clean / corrupted metric values
    config: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)  # filled by validators (agreement, random controls)

    def cell_scores(self, kinds=("mlp", "attn")) -> list[tuple[str, int, float, str]]:
        """(kind, layer, signed score, best role) for each parameter-bearing cell, largest
        ``|score|`` first; a cell's score is its effect at the role of largest magnitude."""
        rows = []
        for k, name in enumerate(self.kinds):
            if name not in kinds or name not in COMPONENT_KINDS:
                continue
            arg = self.effects[k].abs().argmax(-1)
            best = self.effects[k].gather(-1, arg[:, None])[:, 0]
            rows += [(name, l, float(best[l]), self.roles[int(arg[l])]) for l in range(self.effects.shape[1])]
        return sorted(rows, key=lambda r: -abs(r[2]))

    def top_components(self, top_k: int = 10) -> list[dict]:
        """The ``top_k`` (kind, layer, role) cells of every kind, largest ``|score|`` first (JSON-able)."""
        K, L, R = self.effects.shape
        flat = self.effects.flatten()
        idx = flat.abs().argsort(descending=True)[:top_k]
        return [
            {
                "kind": self.kinds[int(i) // (L * R)],
                "layer": int(i) // R % L,
                "position": self.roles[int(i) % R],
                "score": float(flat[i]),
            }
            for i in idx
        ]

    def components(self, top_k: int | None = None, threshold: float | None = None, subject=None, kinds=("mlp", "attn")):
        """Best sub-blocks as a `ComponentSet` (by ``top_k`` or ``|score| >= threshold``)."""
        from ...model.components import ComponentSet

        if subject is None:
            raise UnlearnscopeError("components() needs subject= (the model the localization ran on)")
        if (top_k is None) == (threshold is None):
            raise UnlearnscopeError("give exactly one of top_k= or threshold=")
        rows = self.cell_scores(kinds)
        rows = rows[:top_k] if top_k is not None else [r for r in rows if abs(r[2]) >= threshold]
        if not rows:
            raise UnlearnscopeError(f"no component reaches threshold {threshold} (best: {self.cell_scores(kinds)[:1]})")
        return ComponentSet.parse(subject, [COMPONENT_KINDS[k].format(l=l) for k, l, _, _ in rows])

    def plot(self):
        from ...viz.localize import fact_localization_figure

        return fact_localization_figure(self)
