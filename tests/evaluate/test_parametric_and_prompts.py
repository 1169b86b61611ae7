"""Parametric traces on a known edit, and in-context prompt construction."""

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.ablate import ComponentSet
from unlearnscope.data import Fact
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate import incontext_facts, parametric_traces
from unlearnscope.evaluate.parametric import jaccard_top_k


def test_traces_of_a_single_scaled_value_vector():
    orig, edited = make_subject("gpt2"), make_subject("gpt2")
    sl = edited.anatomy.value_slice(1, [3])
    with torch.no_grad():
        p = edited.model.get_parameter(sl.param)
        p[sl.indexer(p.shape)] *= 0.5  # shrink: cos stays 1, the norm ratio sees it
    region = ComponentSet.from_slices(orig, [orig.anatomy.value_slice(1, [3])], ["blocks.1.mlp.value:3"])
    t = parametric_traces(orig, edited, vectors=[(1, 3), (0, 0)], region=region)
    v, other = t.vectors
    assert v["cos"] == pytest.approx(1.0, abs=1e-5) and v["relative_change"] == pytest.approx(0.5, abs=1e-5)
    assert v["jaccard@50"] == pytest.approx(1.0)  # scaling does not change the top tokens
    assert other["delta_norm"] == 0 and other["cos"] == pytest.approx(1.0, abs=1e-6)
    assert t.region_share == pytest.approx(1.0)
    changed = [m for m in t.modules if m["delta_norm"] > 0]
    assert len(changed) == 1 and changed[0]["effective_rank"] == pytest.approx(1.0, abs=1e-3)
    with pytest.raises(UnlearnscopeError, match="same architecture"):
        parametric_traces(orig, make_subject("llama"))


def test_jaccard_of_top_k_sets():
    z = torch.arange(10.0)[None]
    assert jaccard_top_k(z, z, 3).item() == 1.0
    assert jaccard_top_k(z, -z, 3).item() == 0.0
    assert jaccard_top_k(z, z, 50).item() == 1.0  # k clipped to the vocabulary


def test_incontext_prompts():
    q = [Fact("<bos> ab cd lives in", "paris", "ab cd", "city")]
    pool = [Fact(f"<bos> e{i} f lives in", c, f"e{i} f", "city") for i, c in enumerate(["rome", "oslo", "lima"])]
    (one,) = incontext_facts(q, pool, 2, bos="<bos>", seed=1)
    assert (
        one.prompt.startswith("<bos> e") and one.prompt.count("<bos>") == 1 and one.prompt.endswith(" . ab cd lives in")
    )
    assert one.prompt.count(" . ") == 2 and one.answer == "paris"
    (zero,) = incontext_facts(q, pool, 0, bos="<bos>")
    assert zero.prompt == q[0].prompt
    again = [Fact("<bos> the city where ab cd lives is", "paris", "ab cd", "city")]
    (re,) = incontext_facts(q, pool, 1, mode="reintroduce", restatements=again + q, bos="<bos>")
    assert re.prompt == "<bos> the city where ab cd lives is paris . ab cd lives in"
    with pytest.raises(UnlearnscopeError, match="pool has 3"):
        incontext_facts(q, pool, 5, bos="<bos>")
    with pytest.raises(UnlearnscopeError, match="another rendering"):
        incontext_facts(q, pool, 1, mode="reintroduce", restatements=q)
