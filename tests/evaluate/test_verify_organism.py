"""Verification on the facts organism (small, seed 0): sanity of the references, and the field's
central finding — full-model GradAscent suppresses recall while relearning brings it back."""

import pytest
import torch

from unlearnscope.ablate.unlearn import UnlearnConfig, unlearn
from unlearnscope.evaluate import RelearnConfig, VerdictConfig, VerifyConfig, parametric_traces, verify_facts
from unlearnscope.evaluate.relearn import relearn_curves
from unlearnscope.localize.facts import world_facts
from unlearnscope.organisms.world import Item
from unlearnscope.probes.logit_lens import gold_ranks

LIGHT = VerifyConfig(bos="<bos>", probe_seeds=(0,), attacks=("relearn", "format"), random_init_control=False,
                     relearn=RelearnConfig(lrs=(1e-4,), seeds=(0, 1), steps=10), verdict=VerdictConfig(n_boot=500))


@pytest.fixture(scope="module")
def facts_org(small_organism):
    org = small_organism("facts")
    return org, world_facts(org, "forget"), world_facts(org, "retain")


def _formats(org):
    return {k: world_facts(org, "forget", (k,)) for k in ("paraphrase", "mc")}


def test_reference_audited_as_unlearned_gives_rki_zero_and_original_gives_one(facts_org):
    org, F, R = facts_org
    orig, ref = org.load("orig"), org.load("ref")
    as_ref = verify_facts(org.load("ref"), F, R, original=orig, reference=ref, formats=_formats(org), config=LIGHT)
    as_orig = verify_facts(org.load("orig"), F, R, original=orig, reference=ref, formats=_formats(org), config=LIGHT)
    defined = [m for m in as_ref.metrics if m["rki"] and m["rki"]["defined"]]
    assert {m["name"] for m in defined} >= {"recall", "probe_transfer", "probe_refit", "logit_lens", "relearn", "format:paraphrase", "format:mc"}
    for m in defined:
        assert abs(m["rki"]["value"]) < 0.05, m["name"]
        assert abs(as_orig.metric(m["name"])["rki"]["value"] - 1) < 0.05, m["name"]
    assert as_ref.verdict["verdict"] == "erased"
    assert as_orig.verdict["verdict"] == "not unlearned"
    assert any("8 entities" in w for w in as_ref.warnings)  # the small organism has 8 forget entities
    # the probe protocol itself separates knowing from never knowing, beyond its controls
    probes = as_orig.probes["transfer"]
    g = probes["groups"].index(probes["chosen_group"])
    assert probes["by_model"]["original"]["task"][g][0] > 0.6
    assert probes["by_model"]["reference"]["task"][g][0] < 0.25
    assert probes["by_model"]["original"]["selectivity"][g] > 0.3


def test_full_gradient_ascent_suppresses_but_relearning_recovers(facts_org):
    org, F, R = facts_org
    items = [Item(**i) for i in org.ground_truth["items"]]
    forget_items = [i for i in items if i.split == "forget" and i.train and i.kind in ("cloze", "qa")]
    unl, orig, ref = org.load("orig"), org.load("orig"), org.load("ref")
    res = unlearn(unl, forget_items, config=UnlearnConfig(method="ga", steps=400, lr=3e-5, batch_size=32, eval_every=2,
                                                          stop_at_forget_acc=0.1), progress=False)
    assert res.stopped == "forget_metric"
    cfg = VerifyConfig(bos="<bos>", probe_seeds=(0, 1, 2), attacks=("relearn", "format"), random_init_control=False,
                       relearn=RelearnConfig(lrs=(1e-4, 3e-4), seeds=(0, 1, 2), steps=30), verdict=VerdictConfig(n_boot=1000))
    v = verify_facts(unl, F, R, original=orig, reference=ref, formats=_formats(org), config=cfg)
    b = v.metric("recall")["rki"]
    assert -0.2 <= b["ci"][0] and b["ci"][1] <= 0.2  # behaviour at REF level
    relearn = v.metric("relearn")["rki"]
    assert relearn["ci"][0] > 0 and relearn["value"] > 0.25  # measured 0.39 [0.21, 0.56]
    assert v.verdict["knowledge_verdict"] == "suppressed"
    assert v.relearn["reference"]["steps_to_50%"] is None  # REF never recovers held-out facts
    # parametric traces: the update is spread over the model, nothing is left untouched
    traces = parametric_traces(orig, unl, vectors=[(2, 0), (3, 5)])
    assert traces.total_delta_norm > 0 and all(v["cos"] < 1.0 for v in traces.vectors)
    assert all(0.0 <= v["jaccard@50"] <= 1.0 for v in traces.vectors)


def test_lens_final_depth_is_the_models_own_ranking_and_relearning_restores_weights(facts_org):
    org, F, _ = facts_org
    subject = org.load("orig")
    ranks = gold_ranks(subject, F[:16])
    from unlearnscope.localize.facts import encode_facts

    enc = encode_facts(subject, F[:16])
    with torch.no_grad():
        logits = subject.model(**enc.inputs()).logits[torch.arange(16), enc.last]
    want = (logits > logits.gather(1, enc.answer[:, None])).sum(1)
    assert torch.equal(ranks.ranks[-1], want.cpu())
    before = {k: v.clone() for k, v in subject.model.state_dict().items()}
    relearn_curves(subject, F, config=RelearnConfig(lrs=(1e-3,), seeds=(0,), steps=3, eval_every=1))
    assert all(torch.equal(before[k], v) for k, v in subject.model.state_dict().items())
