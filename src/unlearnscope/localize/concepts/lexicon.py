"""A concept as a set of vocabulary tokens.

    Lexicon.from_tokens(subject, ["paris", "doctor"])        # words or token ids
    Lexicon.from_text(subject, "maro tesi lives in paris ...") # a name + attribute values, a document

`from_text` keeps the text's word pieces (with and without a leading space marker), minus special
tokens, punctuation and a small English stop-word list.  A lexicon that ends up empty is an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...errors import UnlearnscopeError

STOPWORDS = frozenset(
    "a an the of in on at to for from by with and or but is are was were be been being it its this that these those he "
    "she they them his her their we you i me my our your as not no so than then there here what which who whom "
    "where when why how does do did has have had will would can could should may might question answer options".split()
)
_MARKERS = "Ġ▁ "


def _norm(piece: str) -> str:
    return piece.lstrip(_MARKERS).lower()


@dataclass
class Lexicon:
    """Token ids (and their strings) that name a concept."""

    name: str
    token_ids: list[int]
    tokens: list[str] = field(default_factory=list)

    def __post_init__(self):
        if not self.token_ids:
            raise UnlearnscopeError(
                f"lexicon {self.name!r} is empty: its words tokenize to nothing usable (all special tokens, stop words "
                "or punctuation); give content words"
            )

    def __len__(self) -> int:
        return len(self.token_ids)

    @classmethod
    def from_tokens(cls, subject, tokens: list[str | int], name: str = "concept") -> Lexicon:
        tok = subject.tokenizer
        ids: list[int] = []
        for t in tokens:
            if isinstance(t, int):
                if not 0 <= t < subject.anatomy.d_vocab:
                    raise UnlearnscopeError(
                        f"token id {t} is outside the vocabulary (0..{subject.anatomy.d_vocab - 1})"
                    )
                ids.append(t)
            else:
                ids += _word_ids(tok, t)
        return cls._build(subject, name, ids)

    @classmethod
    def from_text(cls, subject, text: str, name: str | None = None, stopwords: frozenset[str] = STOPWORDS) -> Lexicon:
        words = [w for w in re.findall(r"\w+", text) if w.lower() not in stopwords]
        ids = [i for w in words for i in _word_ids(subject.tokenizer, w)]
        ids = [i for i in ids if _norm(subject.tokenizer.convert_ids_to_tokens(i)) not in stopwords]
        return cls._build(subject, name or text[:40], ids)

    @classmethod
    def _build(cls, subject, name, ids) -> Lexicon:
        tok = subject.tokenizer
        if tok is None:  # ids only (a model loaded without its tokenizer): no word filtering possible
            keep = list(dict.fromkeys(i for i in ids if 0 <= i < subject.anatomy.d_vocab))
            return cls(name, keep, [str(i) for i in keep])
        special = set(getattr(tok, "all_special_ids", []) or [])
        unk = getattr(tok, "unk_token_id", None)
        keep = list(
            dict.fromkeys(
                i
                for i in ids
                if i not in special
                and i != unk
                and i < subject.anatomy.d_vocab
                and re.search(r"\w", _norm(tok.convert_ids_to_tokens(i)))
            )
        )
        return cls(name, keep, tok.convert_ids_to_tokens(keep))


def _word_ids(tok, word: str) -> list[int]:
    """Pieces of ``word`` as tokenized alone and after a space (BPE ``Ġword`` vs ``word``)."""
    if tok is None:
        raise UnlearnscopeError("building a lexicon from words needs a tokenizer")
    a = tok(word, add_special_tokens=False)["input_ids"]
    b = tok(" " + word, add_special_tokens=False)["input_ids"]
    return list(dict.fromkeys(a + b))
