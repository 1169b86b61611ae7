"""The spec grammar (one parser for organism:, tiny: and paths) and the record types."""

import pytest

from unlearnscope.data import DataSpec, Fact, Item, ModelSpec, as_facts, is_organism_model
from unlearnscope.data.specs import split_variant
from unlearnscope.errors import UnlearnscopeError


def test_model_specs():
    assert ModelSpec.parse("organism:facts") == ModelSpec("organism", "facts", None)
    assert ModelSpec.parse("organism:moe:ref") == ModelSpec("organism", "moe", "ref")
    # other weight seeds of ORIG's and REF's recipes
    assert ModelSpec.parse("organism:facts:orig2") == ModelSpec("organism", "facts", "orig2")
    assert (
        split_variant("ref12") == ("ref", 12)
        and split_variant("orig") == ("orig", 0)
        and split_variant("orig1") == ("orig", 1)
    )
    assert all(split_variant(v) is None for v in ("orig0", "ref01", "ref-1", "refx", "origin"))
    assert ModelSpec.parse("tiny:qwen2_moe") == ModelSpec("tiny", "qwen2_moe")
    assert ModelSpec.parse("org/name") == ModelSpec("path", "org/name")
    assert ModelSpec.parse("./runs/my:model").kind == "path"
    spec = ModelSpec.parse("organism:facts")
    assert str(spec) == "organism:facts" and str(spec.with_variant("ref")) == "organism:facts:ref"
    assert is_organism_model("organism:facts") and not is_organism_model("tiny:gpt2") and not is_organism_model(None)
    for bad, msg in [
        ("organism:", "organism spec"),
        ("organism:a:b:c", "organism spec"),
        ("organism:facts:teacher", "variant"),
        ("organism:facts:orig0", "variant"),
        ("tiny:", "tiny spec"),
    ]:
        with pytest.raises(UnlearnscopeError, match=msg):
            ModelSpec.parse(bad)


def test_data_specs():
    assert DataSpec.parse("organism:forget") == DataSpec("organism", "forget")
    assert DataSpec.parse("organism:arith").is_organism
    assert DataSpec.parse("facts.jsonl") == DataSpec("file", "facts.jsonl")
    for bad in ("organism:", "organism:a:b"):
        with pytest.raises(UnlearnscopeError, match="data spec"):
            DataSpec.parse(bad)


def test_an_item_is_a_fact_and_as_facts_gives_plain_facts():
    it = Item("Ana lives in", "oslo", "Ana", "city", continuation=" .", kind="qa", split="forget")
    assert isinstance(it, Fact) and it.text == "Ana lives in oslo ." and it.to_dict()["kind"] == "qa"
    facts = as_facts([it, {"prompt": "Bo lives in", "answer": "rome"}, Fact("x", "y")])
    assert all(type(f) is Fact for f in facts) and facts[0] == Fact("Ana lives in", "oslo", "Ana", "city")
    with pytest.raises(UnlearnscopeError, match="empty fact set"):
        as_facts([])
    with pytest.raises(UnlearnscopeError, match="load_facts"):
        as_facts("organism:forget")
    with pytest.raises(UnlearnscopeError, match="fact 0 needs 'prompt'"):
        as_facts([{"answer": "y"}])
