"""The relearning sweep: recovery over the attacker's budget, the REF floor, and the worst case
within the utility limit, on the model whose suppression is a known direction."""

import pytest
import torch

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.sweep import SweepConfig, relearn_sweep
from unlearnscope.organisms import world_facts

from .obfuscated import obfuscated

QUICK = SweepConfig(lrs=(3e-4, 1e-3), params=("full", "lora:4"), n_examples=(None, 8), steps=(10, 30), seeds=(0,))


@pytest.fixture(scope="module")
def sweep(small_organism):
    org = small_organism("facts")
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    obf, _ = obfuscated(org, F)
    before = {k: t.clone() for k, t in obf.model.state_dict().items()}
    s = relearn_sweep(obf, F, R, original=org.load("orig"), reference=org.load("ref"), config=QUICK)
    assert all(torch.equal(t, obf.model.state_dict()[k]) for k, t in before.items())  # the model is never modified
    return org, s


def test_every_configuration_is_a_point_of_the_curve(sweep):
    _, s = sweep
    assert len(s.curves) == 2 * 2 * 2 * 2  # params x lrs x n_examples x checkpoints
    lora = {c["budget"]["n_params"] for c in s.curves if c["config"]["params"] == "lora:4"}
    full = {c["budget"]["n_params"] for c in s.curves if c["config"]["params"] == "full"}
    assert len(lora) == len(full) == 1 and lora.pop() < full.pop() / 5  # adapters train a small share of the weights
    # the facts are still in the stream below the added direction: training on other entities
    # brings held-out ones back, far above what the same attacks give REF, which never saw them
    assert max(c["recovered"] for c in s.curves) > 0.3 > s.reference_floor["max_recovered"]
    assert max(c["recovered"] for c in s.curves) > 3 * s.reference_floor["max_recovered"]


def test_the_worst_case_respects_the_utility_limit(small_organism):
    # ORIG attacked: it keeps its retain recall (1.0) except where a large learning rate breaks it
    org = small_organism("facts")
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    s = relearn_sweep(
        org.load("orig"),
        F,
        R,
        original=org.load("orig"),
        reference=org.load("ref"),
        config=SweepConfig(lrs=(1e-4, 1e-3), params=("full",), steps=(10, 30), seeds=(0,)),
    )
    base = s.config["retain_recall_before"]
    assert base > 0.9 and any(not c["within_utility_limit"] for c in s.curves)
    allowed = [c for c in s.curves if c["locality"] >= QUICK.utility_limit * base]
    assert [c["within_utility_limit"] for c in s.curves] == [c in allowed for c in s.curves]
    w = s.worst_case
    assert w["recovered"] == max(c["recovered"] for c in allowed) and w["locality"] >= QUICK.utility_limit * base
    assert w["rki"] == pytest.approx(1.0) and w["config"]["lr"] == 1e-4  # ORIG recalls everything at the gentle rate
    assert s.to_dict()["kind"] == "relearn_sweep"


def test_sweep_errors(small_organism):
    org = small_organism("facts")
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    kw = dict(original=org.load("orig"), reference=org.load("ref"))
    with pytest.raises(UnlearnscopeError, match="lora:R"):
        relearn_sweep(org.load("orig"), F, R, config=SweepConfig(params=("qlora",)), **kw)
    with pytest.raises(UnlearnscopeError, match="unrelated texts"):
        relearn_sweep(org.load("orig"), F, R, config=SweepConfig(data="unrelated"), **kw)
    with pytest.raises(UnlearnscopeError, match="utility_limit"):
        SweepConfig(utility_limit=0).validate()
