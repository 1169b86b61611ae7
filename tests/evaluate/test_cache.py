"""`MeasurementCache`: reference measurements reused across `verify_facts` calls give the same
numbers as measuring again, and an in-place edit of a reference model is never served stale."""

import copy
from types import SimpleNamespace

import torch

from unlearnscope.evaluate import MeasurementCache, VerdictConfig, VerifyConfig, verify_facts, weights_digest
from unlearnscope.evaluate.recall import entity_recall
from unlearnscope.organisms import world_facts

CFG = (
    VerifyConfig(bos="<bos>", attacks=("relearn", "incontext"), rules=VerdictConfig(n_boot=200))
    .configure("probe", seeds=(0,))
    .configure("incontext", k=(1,))
    .configure("relearn", lrs=(1e-4,), seeds=(0, 1), steps=6)
)


def _numbers(v):
    d = v.to_dict()
    d.pop("warnings", None)
    d.pop("seconds", None)  # wall time of each readout, not a result
    return d


def test_second_method_reuses_the_references_and_gets_identical_numbers(small_organism):
    org = small_organism("facts")
    F, R = world_facts(org, "forget"), world_facts(org, "retain")
    orig, ref = org.load("orig"), org.load("ref")
    cache = MeasurementCache()
    verify_facts(org.load("ref"), F, R, original=orig, reference=ref, config=CFG, cache=cache)
    first = cache.stats()
    # recall, retain, in-context, 2 probe modes, lens, causal depth, relearn on ORIG and REF; 2 probe
    # modes on the random-init model; the random-init model itself
    assert first == {"hits": 0, "misses": 8 * 2 + 2 + 1, "entries": 19}
    cached = verify_facts(org.load("orig"), F, R, original=orig, reference=ref, config=CFG, cache=cache)
    assert cache.stats() == {"hits": 19, "misses": 19, "entries": 19}
    fresh = verify_facts(org.load("orig"), F, R, original=orig, reference=ref, config=CFG)
    assert _numbers(cached) == _numbers(fresh)
    assert cached.verdict["verdict"] == "not unlearned"  # ORIG audited as unlearned: the cache changed nothing


def test_an_in_place_edit_of_a_reference_is_measured_again(small_organism):
    org = small_organism("facts")
    F = world_facts(org, "forget")
    orig = org.load("orig")
    cache = MeasurementCache()
    before = cache.measure(orig, "recall", entity_recall, F, None)
    cache.reset_digests()
    assert cache.measure(orig, "recall", entity_recall, F, None) is before and cache.hits == 1
    d0, fp0 = weights_digest(orig), orig.fingerprint()
    unembed = orig.model.get_output_embeddings().weight
    with torch.no_grad():
        unembed.mul_(-1.0)  # every logit flips
    assert weights_digest(orig) != d0 and orig.fingerprint() != fp0
    cache.reset_digests()
    after = cache.measure(orig, "recall", entity_recall, F, None)
    assert cache.misses == 2 and cache.stats()["entries"] == 2
    assert float(before[1].mean()) > 0.9 and float(after[1].mean()) < 0.5
    assert torch.equal(after[1], entity_recall(orig, F)[1])  # what measuring the edited model gives
    # one element changed: the strided fingerprint may not see it, the digest does
    d1 = weights_digest(orig)
    w = orig.model.get_input_embeddings().weight
    with torch.no_grad():
        w[1, 1] += 1e-3
    assert weights_digest(orig) != d1
    half = SimpleNamespace(model=copy.deepcopy(orig.model).to(torch.bfloat16))  # bf16 bits hash too
    assert weights_digest(half) == weights_digest(half) != weights_digest(orig)
