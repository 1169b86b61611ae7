"""The data layer: record types, fact encoding and position roles, file readers, spec grammar.

Depends on nothing in unlearnscope but `errors`; everything else builds on it.

    from unlearnscope.data import Fact, Item, encode_facts, read_facts, ModelSpec, DataSpec
"""

from .encoding import EncodedFacts, encode_facts
from .readers import Record, read_eval_items, read_facts, read_prompts, read_records, read_texts_or_items
from .records import Fact, Item, as_fact, as_facts
from .roles import ROLES, role_masks
from .specs import DataSpec, ModelSpec, is_organism_model

__all__ = [
    "ROLES",
    "DataSpec",
    "EncodedFacts",
    "Fact",
    "Item",
    "ModelSpec",
    "Record",
    "as_fact",
    "as_facts",
    "encode_facts",
    "is_organism_model",
    "read_eval_items",
    "read_facts",
    "read_prompts",
    "read_records",
    "read_texts_or_items",
    "role_masks",
]
