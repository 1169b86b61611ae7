"""Behavioural recall of facts, per item and per entity (top-1 of the answer's first token at
the prompt's last position, over the whole vocabulary)."""

from __future__ import annotations

import torch

from ..data import as_facts, encode_facts
from ..probes.recall import recall
from .stats import per_entity


def fact_correct(subject, facts, batch_size: int = 256) -> torch.Tensor:
    """``[n]`` 1.0 where the model's top-1 next token is the answer's first token."""
    return recall(subject, encode_facts(subject, as_facts(facts)), batch_size)["correct"].cpu()


def entity_recall(subject, facts, order: list[str] | None = None) -> tuple[list[str], torch.Tensor]:
    """``(entities, [n_entities])``: each entity's share of correctly recalled facts."""
    facts = as_facts(facts)
    return per_entity(fact_correct(subject, facts), [f.subject or f.prompt for f in facts], order)
