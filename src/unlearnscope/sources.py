"""Resolve model and data specs (grammar in `unlearnscope.data.specs`) to what they name.

    subject = unlearnscope.load("organism:facts:ref")       # organisms, tiny:TYPE, directories, hub ids
    facts = load_facts("organism:forget")                    # the facts organism's forget split
    facts = load_facts("my_facts.jsonl")                     # a file (errors name the line)
    texts = load_training_data("organism:forget", model="organism:moe")
    prompts = load_prompts("organism:refusal", model="organism:moe")

Each kind of spec is resolved by its owner: organism specs by `unlearnscope.organisms`, ``tiny:``
and paths by `unlearnscope.model.loading`, files by `unlearnscope.data.readers`.  An organism data
spec (``organism:forget``, ``organism:arith`` ...) reads the organism the *model* spec names;
where a command allows it, the facts organism is the default for models that are not organisms.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .data import DataSpec, Fact, Item, ModelSpec, read_facts, read_prompts, read_texts_or_items
from .errors import UnlearnscopeError

if TYPE_CHECKING:
    from .model.subject import Subject


def load(model: str | os.PathLike | Any, tokenizer: Any = None, **kwargs) -> Subject:
    """`unlearnscope.load`: `unlearnscope.model.loading` that also takes ``organism:NAME[:ref]``
    (built on first use at ``$UNLEARNSCOPE_ORGANISM_SIZE``)."""
    from .model.loading import load as load_model

    if isinstance(model, str) and ModelSpec.parse(model).is_organism:
        from .organisms import model_path

        model = model_path(model)
    return load_model(model, tokenizer, **kwargs)


def organism_for(data_spec: DataSpec | str, model: str | None, default: str | None = None):
    """The `Organism` whose data an ``organism:`` data spec reads: the one ``model`` names, else
    ``default`` (an organism name), else an error saying what to pass."""
    from .organisms import sized

    spec = ModelSpec.parse(model) if model else None
    if spec is not None and spec.is_organism:
        return sized(spec.name)
    if default is None:
        raise UnlearnscopeError(f"{data_spec} needs --model organism:NAME (the organism whose data it names)")
    return sized(default)


def load_facts(
    spec: str,
    model: str | None = None,
    *,
    default_organism: str | None = "facts",
    kinds: tuple[str, ...] = ("cloze", "qa"),
) -> list[Fact]:
    """Facts from ``organism:forget|retain|never-seen`` (``kinds`` of renderings) or a file."""
    from .organisms import world_facts

    ds = DataSpec.parse(spec)
    if not ds.is_organism:
        return read_facts(ds.name)
    return world_facts(organism_for(ds, model, default_organism), ds.name, kinds)


def load_training_data(spec: str, model: str | None = None) -> list[str | Item]:
    """Unlearning data: ``organism:forget`` / ``organism:retain`` (see
    `organisms.unlearning_items`), or a file of texts or ``{prompt, answer}`` items."""
    from .organisms import unlearning_items

    ds = DataSpec.parse(spec)
    if not ds.is_organism:
        return read_texts_or_items(ds.name)
    if ds.name not in ("forget", "retain"):
        raise UnlearnscopeError(f"bad data spec {spec!r}: use organism:forget or organism:retain")
    return unlearning_items(organism_for(ds, model), ds.name)


def load_prompts(spec: str, model: str | None = None, *, full_text: bool = False) -> list[str]:
    """Prompt texts from ``organism:DOMAIN`` (the organism's trained items of that domain; with
    ``full_text`` prompt + answer + continuation) or a file (see `data.read_prompts`)."""
    from .organisms import organism_items

    ds = DataSpec.parse(spec)
    if not ds.is_organism:
        return read_prompts(ds.name, full_text=full_text)
    items = organism_items(organism_for(ds, model), ds.name, trained=True)
    return [i.text if full_text else i.prompt for i in items]
