"""What a verification reads: the forget and retain facts and the data the attacks need.

    data = VerifyData.of(forget, retain, formats={"paraphrase": para}, incontext_pool=demos)
    data.order        # the forget entities, sorted: every per-entity metric's column order

``formats``: ``{name: facts}`` held-out renderings of the forget facts (format attacks);
``incontext_pool``: facts whose statements are the in-context demos (default: ``retain``);
``restatements``: other renderings of the forget facts (the reintroduction attack);
``locality``: ``{name: facts}`` of other abilities that should be kept (locality readouts);
``vectors`` / ``region``: the located value vectors (``(layer, neuron)``) and the components
(`ComponentSet`) the unlearning targeted, whose parametric traces are reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..data import Fact, as_facts


@dataclass(frozen=True)
class VerifyData:
    forget: list[Fact]
    retain: list[Fact]
    formats: dict[str, list[Fact]] = field(default_factory=dict)
    incontext_pool: list[Fact] | None = None
    restatements: list[Fact] | None = None
    locality: dict[str, list[Fact]] = field(default_factory=dict)
    vectors: tuple[tuple[int, int], ...] = ()
    region: Any = None

    @classmethod
    def of(
        cls,
        forget,
        retain,
        *,
        formats: dict | None = None,
        incontext_pool=None,
        restatements=None,
        locality: dict | None = None,
        vectors=(),
        region=None,
    ) -> VerifyData:
        """Facts given as `Fact`\\ s, dicts or ``(prompt, answer, subject)`` records; locality facts
        without a subject are scored per prompt."""
        loc = {
            n: [f if f.subject else replace(f, subject=f.prompt) for f in as_facts(fs)]
            for n, fs in (locality or {}).items()
        }
        return cls(
            as_facts(forget),
            as_facts(retain),
            {n: as_facts(fs) for n, fs in (formats or {}).items()},
            as_facts(incontext_pool) if incontext_pool is not None else None,
            as_facts(restatements) if restatements is not None else None,
            loc,
            tuple((int(l), int(j)) for l, j in vectors),
            region,
        )

    @property
    def order(self) -> list[str]:
        """The forget entities in the column order of every per-entity metric."""
        return sorted({f.subject or f.prompt for f in self.forget})

    @property
    def demos(self) -> list[Fact]:
        """The in-context demos' pool (``incontext_pool``, else the retain facts)."""
        return self.incontext_pool if self.incontext_pool is not None else self.retain
