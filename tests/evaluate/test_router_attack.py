"""Router restoration against models whose answer is known (MoE organism, small): unlearning
only the routers (a router shortcut: the experts keep the knowledge) is recovered by replaying
ORIG's routing and reads "routing changed, experts unchanged"; unlearning only the experts is not
recovered, and its routing barely moves; the never-knew model gains nothing from ORIG's routing."""

import pytest
import torch

from unlearnscope.ablate.unlearning import UnlearnConfig, unlearn
from unlearnscope.audit.moe import refusal_target
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate import VerdictConfig, VerifyConfig, verify_facts
from unlearnscope.evaluate.recall import entity_recall
from unlearnscope.evaluate.router_attack import original_routing, router_restoration
from unlearnscope.model.components import ComponentSet


def _unlearned(org, target, spec: str, lr: float):
    """Gradient ascent on the refusal items' whole texts (the refusal sentence, not only its first
    token): the strongest push through the restricted parameters, so each model's mechanism is clear."""
    s = org.load("orig")
    unlearn(
        s,
        target.forget_items,
        components=ComponentSet.parse(s, spec),
        config=UnlearnConfig(lr=lr, steps=300, stop_at_forget_acc=0.1, loss_on="text"),
        progress=False,
    )
    return s


@pytest.fixture(scope="module")
def moe(small_organism):
    org = small_organism("moe")
    target = refusal_target(org)
    a = org.load("orig").anatomy
    routers = ",".join(f"blocks.{l}.moe.router" for l in a.moe_layers)
    experts = ",".join(f"blocks.{l}.moe.expert:0-{a.n_experts - 1}" for l in a.moe_layers)
    return (
        org,
        target,
        org.load("orig"),
        org.load("ref"),
        _unlearned(org, target, routers, 3e-3),
        _unlearned(org, target, experts, 3e-4),
    )


def test_a_router_shortcut_is_recovered_by_orig_routing(moe):
    org, t, orig, ref, by_router, _ = moe
    assert entity_recall(by_router, t.forget)[1].mean() < 0.1
    r = router_restoration(by_router, orig, t.forget, retain=t.retain, reference=ref)
    assert r.recovered >= 0.9 * entity_recall(orig, t.forget)[1].mean() and r.rki["ci"][0] > 0.8
    assert r.reference_floor <= entity_recall(ref, t.forget)[1].mean() + 0.1  # ORIG's routing does not teach REF
    assert (
        r.detail["routing_stability"]["forget"]["top_k_overlap"] < 0.9
        and r.detail["routing_stability"]["forget"]["jsd"] > 0
    )
    assert r.detail["reading"].startswith("routing changed, experts unchanged")
    assert entity_recall(by_router, t.forget)[1].mean() < 0.1  # the hooks are gone


def test_unlearned_experts_are_not_recovered_by_routing(moe):
    org, t, orig, ref, _, by_experts = moe
    r = router_restoration(by_experts, orig, t.forget, retain=t.retain, reference=ref)
    assert r.rki["ci"][1] <= 0.2, r.rki
    assert r.detail["routing_stability"]["forget"]["top_k_overlap"] > 0.9
    assert not r.detail["reading"].startswith("routing changed, experts unchanged")


def test_router_restore_is_a_readout_of_the_verdict(moe):
    org, t, orig, ref, by_router, _ = moe
    cfg = VerifyConfig(readouts=("logit_lens",), attacks=("relearn", "router_restore"), rules=VerdictConfig(n_boot=300))
    v = verify_facts(by_router, t.forget, t.retain, original=orig, reference=ref, config=cfg)
    m = v.metric("router_restore")
    assert m["rki"]["value"] > 0.8 and v.verdict["knowledge_verdict"] in ("suppressed", "not unlearned")
    assert "routing changed" in v.attacks["router_restore"]["reading"]


def test_router_restoration_errors(moe, small_organism):
    org, t, orig, _, _, _ = moe
    dense = small_organism("facts").load("orig")
    with pytest.raises(UnlearnscopeError, match="needs an MoE model"):
        with original_routing(dense, orig):
            pass
    with pytest.raises(UnlearnscopeError, match="same MoE layers"):
        with original_routing(orig, dense):
            pass
    with original_routing(orig, orig):  # ORIG already routes as ORIG: nothing to replay
        assert torch.isfinite(entity_recall(orig, t.forget)[1]).all()
