"""The two record types every part of unlearnscope passes around.

* `Fact`: a prompt, its one-token answer, the entity (``subject``) the prompt is about and the
  relation it asks for.  What localizers, probes and verification read.
* `Item`: a `Fact` as a world renders it for training: ``text = prompt + " " + answer +
  continuation`` (full LM loss on all of it), with its ``domain`` (facts | arith | code | refusal |
  benign), ``kind`` (cloze | qa | mc | paraphrase | ... : how it is rendered), entity ``split``
  (forget | retain | never-seen | train | heldout) and whether ORIG trains on it (``train``).

Every `Item` is a `Fact`; `as_facts` turns any accepted input into plain `Fact`s.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from ..errors import UnlearnscopeError


@dataclass(frozen=True)
class Fact:
    prompt: str
    answer: str
    subject: str | None = None
    relation: str | None = None


@dataclass(frozen=True)
class Item(Fact):
    continuation: str = " ."
    domain: str = "facts"
    kind: str = "cloze"
    split: str = "retain"
    train: bool = True

    @property
    def text(self) -> str:
        return f"{self.prompt} {self.answer}{self.continuation}"

    def to_dict(self) -> dict:
        return asdict(self)


def as_fact(d: Any, where: str = "fact") -> Fact:
    """One `Fact` from a `Fact` / `Item`, a dict with ``prompt`` and ``answer`` (and optional
    ``subject`` / ``relation``), or any object with those attributes; ``where`` names it in errors."""
    if type(d) is Fact:
        return d
    if isinstance(d, dict):
        if "prompt" not in d or "answer" not in d:
            raise UnlearnscopeError(
                f"{where} needs 'prompt' and 'answer' (and 'subject' for subject-based methods): {d}"
            )
        return Fact(d["prompt"], d["answer"], d.get("subject"), d.get("relation"))
    if hasattr(d, "prompt") and hasattr(d, "answer"):
        return Fact(d.prompt, d.answer, getattr(d, "subject", None), getattr(d, "relation", None))
    raise UnlearnscopeError(f"{where}: cannot use {type(d).__name__}; give dicts with prompt/answer/subject")


FactsLike = Iterable[Any]
r"""Facts as the public functions take them: `Fact`\ s, training `Item`\ s (anything with
``prompt`` and ``answer``) or dicts with ``prompt`` / ``answer`` / ``subject`` / ``relation`` keys
(normalised by `as_facts`; files and organism splits are read by `unlearnscope.sources.load_facts`)."""


def as_facts(data: Iterable) -> list[Fact]:
    """Normalise facts, items or fact dicts to a non-empty list of `Fact`s.  (Files and organism
    splits are read by `unlearnscope.sources.load_facts`.)"""
    if isinstance(data, str):
        raise UnlearnscopeError(
            f"got the string {data!r} where facts were expected: read a facts file or an organism split "
            "with unlearnscope.sources.load_facts(...) first"
        )
    out = [as_fact(d, f"fact {i}") for i, d in enumerate(data)]
    if not out:
        raise UnlearnscopeError("empty fact set: give at least one fact")
    return out
