"""The one grammar of model and data specs, parsed here and resolved by whoever owns the thing named.

Model specs (``--model``, ``unlearnscope.load``):

* ``organism:NAME`` / ``organism:NAME:orig`` / ``organism:NAME:ref`` — an organism's ORIG or REF
  model; ``organism:NAME:ref1``, ``ref2`` ... — never-knew models of REF's data and recipe with
  other weight seeds, ``organism:NAME:orig1`` ... the same for ORIG (resolved by
  `unlearnscope.organisms`, built on first use);
* ``tiny:TYPE`` — a seeded random tiny model of a transformers ``model_type`` (`model.tiny`);
* anything else — a model directory or a hub id (`model.loading`).

Data specs (``--facts``, ``--forget``, ``--prompts`` ...):

* ``organism:SELECTOR`` — an organism's own data: a fact split (``forget``, ``retain``,
  ``never-seen``) or a domain (``refusal``, ``benign``, ``arith``, ``code``, ``facts``), read from
  the organism named by the model spec (`unlearnscope.sources`);
* anything else — a file (`data.readers`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import UnlearnscopeError

ORGANISM, TINY = "organism", "tiny"
VARIANTS = ("orig", "ref")  # and orig1, ref1 ...: the same data and recipe with other weight seeds


def split_variant(name: str) -> tuple[str, int] | None:
    """``orig`` / ``ref`` → ``(name, 0)``; ``origN`` / ``refN`` (N >= 1: the same data and recipe
    with another weight seed) → ``(orig|ref, N)``; anything else ``None``."""
    for base in VARIANTS:
        if name == base:
            return base, 0
        tail = name[len(base) :]
        if name.startswith(base) and tail.isdigit() and int(tail) >= 1 and not tail.startswith("0"):
            return base, int(tail)
    return None


def is_variant(name: str) -> bool:
    """``orig``, ``ref``, ``origN`` or ``refN`` (N >= 1)."""
    return split_variant(name) is not None


def reference_index(variant: str) -> int:
    """``ref`` → 0, ``refN`` → N (and likewise for ``orig``)."""
    return split_variant(variant)[1]


@dataclass(frozen=True)
class ModelSpec:
    """``kind`` is ``organism`` | ``tiny`` | ``path``; ``name`` the organism, model type or path;
    ``variant`` (organisms) ``orig`` | ``ref``, or ``None`` when the spec did not say (= orig)."""

    kind: str
    name: str
    variant: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelSpec:
        head, _, rest = text.partition(":")
        if head == ORGANISM:
            parts = rest.split(":")
            if not parts[0] or len(parts) > 2:
                raise UnlearnscopeError(f"bad organism spec {text!r}: use organism:NAME or organism:NAME:ref")
            variant = parts[1] if len(parts) == 2 else None
            if variant is not None and not is_variant(variant):
                raise UnlearnscopeError(
                    f"bad organism spec {text!r}: the variant must be orig, ref, origN or refN (N >= 1: ORIG / REF of "
                    "another weight seed)"
                )
            return cls(ORGANISM, parts[0], variant)
        if head == TINY:
            if not rest:
                raise UnlearnscopeError(
                    f"bad tiny spec {text!r}: use tiny:<model_type>, e.g. tiny:gpt2 or tiny:mixtral"
                )
            return cls(TINY, rest)
        return cls("path", text)

    @property
    def is_organism(self) -> bool:
        return self.kind == ORGANISM

    def with_variant(self, variant: str) -> ModelSpec:
        return replace(self, variant=variant)

    def __str__(self) -> str:
        if self.kind == ORGANISM:
            return f"{ORGANISM}:{self.name}" + (f":{self.variant}" if self.variant else "")
        return f"{TINY}:{self.name}" if self.kind == TINY else self.name


@dataclass(frozen=True)
class DataSpec:
    """``kind`` is ``organism`` (``name`` = the selector: a split or a domain) or ``file``."""

    kind: str
    name: str

    @classmethod
    def parse(cls, text: str) -> DataSpec:
        head, _, rest = text.partition(":")
        if head == ORGANISM:
            if not rest or ":" in rest:
                raise UnlearnscopeError(
                    f"bad data spec {text!r}: use organism:SPLIT (forget, retain, never-seen) or organism:DOMAIN"
                )
            return cls(ORGANISM, rest)
        return cls("file", text)

    @property
    def is_organism(self) -> bool:
        return self.kind == ORGANISM

    def __str__(self) -> str:
        return f"{ORGANISM}:{self.name}" if self.is_organism else self.name


def is_organism_model(text: str | None) -> bool:
    """Whether a model spec names an organism (without building anything)."""
    return bool(text) and ModelSpec.parse(text).is_organism
