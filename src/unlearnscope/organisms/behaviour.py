"""An organism's own data and behaviour metrics, read from its ground truth.

    items = organism_items(org, domain="refusal")          # `Item`s (prompt, answer, ...)
    evaluate = behaviour_evaluator(org)                     # subject -> {metric: value}
    evaluate(subject)  # {"refusal_rate": 1.0, "benign_refusal_rate": 0.0, "facts": 0.97, ...}

``org`` is an `Organism` or the path of one of its model directories (``.../orig``).  MoE (multi-
domain) organisms report the refusal rate on the marked topic (top-1 next word ``i``), the false
refusal rate on benign prompts, and top-1 accuracy on facts, arithmetic and held-out code;
facts organisms report forget / retain recall.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from ..errors import UnlearnscopeError
from .world import Item, World

DATA_NAMES = {"refusal": "refusal", "benign": "benign", "arith": "arith", "code": "code", "facts": "facts"}


def ground_truth(org) -> dict:
    path = Path(getattr(org, "path", org))
    for p in (path / "ground_truth.json", path.parent / "ground_truth.json"):
        if p.is_file():
            return json.loads(p.read_text())
    raise UnlearnscopeError(f"{path} is not an organism (no ground_truth.json next to it)")


def organism_items(org, domain: str | None = None, *, split: str | None = None, trained: bool | None = None) -> list[Item]:
    """The organism's items, optionally of one ``domain`` / ``split`` / training status."""
    gt = ground_truth(org)
    items = [Item(**i) for i in gt["items"]]
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


def behaviour_evaluator(org) -> Callable[[object], dict]:
    """``subject -> {metric: value}`` for the organism's behaviours (one batched pass)."""
    from .quality import multidomain_quality
    from .train import accuracy

    gt = ground_truth(org)
    items = [Item(**i) for i in gt["items"]]
    if gt.get("world") == "multidomain" or "marked_topic" in gt:
        world = World("multidomain", items, gt)

        def evaluate(subject) -> dict:
            q = multidomain_quality(subject.model, subject.tokenizer, world)
            return {"refusal_rate": q["refusal_rate_marked"], "benign_refusal_rate": q["refusal_rate_benign"],
                    "facts": q["facts"], "arith": q["arith"], "code": q["code_heldout"]}

        return evaluate
    forget = [i for i in items if i.split == "forget" and i.kind in ("cloze", "qa")]
    retain = [i for i in items if i.split == "retain" and i.kind in ("cloze", "qa")]

    def evaluate_facts(subject) -> dict:
        return {"forget_recall": accuracy(subject.model, subject.tokenizer, forget), "retain_recall": accuracy(subject.model, subject.tokenizer, retain)}

    return evaluate_facts
