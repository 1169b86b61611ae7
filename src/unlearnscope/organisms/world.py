"""What every synthetic world is made of: `Item`s with a prompt and a one-token answer.

An item's training text is ``prompt + " " + answer + continuation`` (full LM loss on all of it);
its evaluation asks for top-1 of ``answer`` over the whole vocabulary at the prompt's last token.
Words are separated by single spaces, so a word-level tokenizer covers every world exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Item:
    prompt: str
    answer: str
    continuation: str = " ."
    domain: str = "facts"  # facts | arith | code | refusal | benign
    kind: str = "cloze"  # cloze | qa | mc | paraphrase | half | ... (how it is rendered)
    subject: str | None = None  # entity name (facts)
    relation: str | None = None
    split: str = "retain"  # forget | retain | never-seen | train | heldout
    train: bool = True  # in the ORIG training corpus

    @property
    def text(self) -> str:
        return f"{self.prompt} {self.answer}{self.continuation}"

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class World:
    """A generated world: its items and the ground truth later analyses check against."""

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
