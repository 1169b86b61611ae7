"""An organism's behaviour metrics, read from its ground truth.

    evaluate = behaviour_evaluator(org)                     # subject -> {metric: value}
    evaluate(subject)  # {"refusal_rate": 1.0, "benign_refusal_rate": 0.0, "facts": 0.97, ...}

MoE (multi-domain) organisms report the refusal rate on the marked topic (top-1 next word ``i``),
the false refusal rate on benign prompts, and top-1 accuracy on facts, arithmetic and held-out
code; facts organisms report forget / retain recall.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ..data import Item
from .truth import MAIN_KINDS, ground_truth
from .world import World

if TYPE_CHECKING:
    from .builder import Organism


def behaviour_evaluator(org: Organism) -> Callable[[object], dict]:
    """``subject -> {metric: value}`` for the organism's behaviours (one batched pass)."""
    from .quality import multidomain_quality
    from .train import accuracy

    gt = ground_truth(org)
    items = [Item(**i) for i in gt["items"]]
    if gt.get("world") == "multidomain" or "marked_topic" in gt:
        world = World("multidomain", items, gt)

        def evaluate(subject) -> dict:
            q = multidomain_quality(subject.model, subject.tokenizer, world)
            return {
                "refusal_rate": q["refusal_rate_marked"],
                "benign_refusal_rate": q["refusal_rate_benign"],
                "facts": q["facts"],
                "arith": q["arith"],
                "code": q["code_heldout"],
            }

        return evaluate
    forget = [i for i in items if i.split == "forget" and i.kind in MAIN_KINDS]
    retain = [i for i in items if i.split == "retain" and i.kind in MAIN_KINDS]

    def evaluate_facts(subject) -> dict:
        return {
            "forget_recall": accuracy(subject.model, subject.tokenizer, forget),
            "retain_recall": accuracy(subject.model, subject.tokenizer, retain),
        }

    return evaluate_facts
