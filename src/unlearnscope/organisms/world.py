"""A synthetic world: its `Item`\\ s (see `unlearnscope.data.Item`) and the ground truth later
analyses check against.

An item's training text is ``prompt + " " + answer + continuation`` (full LM loss on all of it);
its evaluation asks for top-1 of ``answer`` over the whole vocabulary at the prompt's last token.
Words are separated by single spaces, so a word-level tokenizer covers every world exactly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..data import Item


@dataclass
class World:
    name: str
    items: list[Item]
    ground_truth: dict = field(default_factory=dict)

    def vocab(self) -> list[str]:
        words: dict[str, None] = {}
        for it in self.items:
            for w in it.text.split():
                words.setdefault(w, None)
        return list(words)

    def select(self, **where) -> list[Item]:
        return [it for it in self.items if all(getattr(it, k) == v for k, v in where.items())]
