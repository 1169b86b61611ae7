"""An organism's own data, read from its ``ground_truth.json``.

    items = organism_items(org, domain="refusal")            # `Item`s (prompt, answer, ...)
    facts = world_facts(org, "forget")                       # the forget entities' cloze + QA facts
    texts = unlearning_items(org, "forget")                  # what `unlearn` trains on

``org`` is an `Organism` or the path of its entry or of one of its model directories (``.../orig``).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from ..data import Fact, Item
from ..errors import UnlearnscopeError

if TYPE_CHECKING:
    from .builder import Organism

FACT_SPLITS = ("forget", "retain", "never-seen")
MAIN_KINDS = ("cloze", "qa")  # the trained renderings that unlearning targets and recall measures


def ground_truth(org: Organism | str | os.PathLike) -> dict:
    path = Path(org) if isinstance(org, (str, os.PathLike)) else Path(org.path)
    for p in (path / "ground_truth.json", path.parent / "ground_truth.json"):
        if p.is_file():
            return json.loads(p.read_text())
    raise UnlearnscopeError(f"{path} is not an organism (no ground_truth.json next to it)")


def organism_items(
    org: Organism, domain: str | None = None, *, split: str | None = None, trained: bool | None = None
) -> list[Item]:
    """The organism's items, optionally of one ``domain`` / ``split`` / training status."""
    items = [Item(**i) for i in ground_truth(org)["items"]]
    if domain is not None:
        domains = sorted({i.domain for i in items})
        if domain not in domains:
            raise UnlearnscopeError(f"this organism has no {domain!r} data; its domains are {domains}")
        items = [i for i in items if i.domain == domain]
    if split is not None:
        items = [i for i in items if i.split == split]
    if trained is not None:
        items = [i for i in items if i.train == trained]
    return items


def world_facts(org: Organism, split: str, kinds: tuple[str, ...] = MAIN_KINDS) -> list[Fact]:
    """``split``'s facts (``kinds``: cloze, qa, paraphrase, ...) of the organism's facts domain."""
    if split not in FACT_SPLITS:
        raise UnlearnscopeError(f"organism fact split must be one of {FACT_SPLITS}, got {split!r}")
    items = ground_truth(org)["items"]
    return [
        Fact(it["prompt"], it["answer"], it["subject"], it["relation"])
        for it in items
        if it["split"] == split and it["kind"] in kinds and it["domain"] == "facts"
    ]


def unlearning_items(org: Organism, which: str) -> list[Item]:
    """What unlearning trains on: ``forget`` / ``retain``.  Facts organisms: that entity split's
    trained cloze and QA items (the concepts organism: and its people's descriptions); multi-domain
    organisms: the refusal domain / every other domain."""
    if which not in ("forget", "retain"):
        raise UnlearnscopeError(f"bad data spec organism:{which}: use organism:forget or organism:retain")
    gt = ground_truth(org)
    items = [Item(**i) for i in gt["items"] if i["train"]]
    if gt["world"] in ("facts", "concepts"):
        return [i for i in items if i.split == which and i.kind in (*MAIN_KINDS, "description")]
    return [i for i in items if (i.domain == "refusal") == (which == "forget")]
