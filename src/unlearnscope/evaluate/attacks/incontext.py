"""``incontext``: in-context demos — recall of each forget fact after ``k`` stated facts of other
entities of the same relation (metrics ``incontext_k{k}``, k ≥ 1; k = 0 is recall again), each
fact with ``draws`` independent draws of demos.  A ``k`` whose prompts exceed the model's
positions is listed as not run."""

from __future__ import annotations

from dataclasses import dataclass

from ...errors import UnlearnscopeError
from ..readouts.recall import recall_metric
from ..registry import Measurement, readout
from ..rki import Metric


@dataclass(frozen=True)
class InContextSettings:
    k: tuple[int, ...] = (1, 5)  # stated facts per prompt
    draws: int = 3  # independent draws of demos per forget fact (narrower CIs on a low-recall readout)

    def validate(self) -> None:
        if self.draws < 1:
            raise UnlearnscopeError(f"in-context draws must be >= 1, got {self.draws}")
        if any(k < 1 for k in self.k):
            raise UnlearnscopeError(
                f"in-context attacks need k >= 1 stated facts (k = 0 is the recall metric again), got {self.k}"
            )


@readout(
    "incontext",
    "adversarial",
    config=InContextSettings,
    metrics="incontext_k{k}",
    requires=("lm_head",),
    weights_only=True,
)
def measure(m: Measurement) -> list[Metric]:
    """recall of the forget facts after k stated facts of other entities of the same relation"""
    from ...data.encoding import overlong
    from ..prompt_attacks import incontext_facts

    s, out = m.settings, []
    for k in s.k:
        facts_k = [
            f for d in range(s.draws) for f in incontext_facts(m.data.forget, m.data.demos, k, bos=m.config.bos, seed=d)
        ]
        too_long = overlong(m.models.roles["unlearned"][0], facts_k)
        if too_long is not None:
            m.not_run[f"incontext_k{k}"] = (
                f"not run: {k} stated facts make prompts of {too_long[0]} tokens, the model takes at most {too_long[1]}"
            )
            continue
        out.append(
            recall_metric(
                m.models,
                f"incontext_k{k}",
                "adversarial",
                facts_k,
                m.data.order,
                {"k": k, "draws": s.draws, "demos": "other entities' facts of the same relation"},
            )
        )
    return out
