"""White-box attacks against a model whose suppression is known: ORIG plus a learned direction
added to the residual stream after block 1 (through that block's MLP output bias), so every state
below it is ORIG's and the facts are provably still there."""

import pytest
import torch

from unlearnscope.data import encode_facts
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.recall import entity_recall
from unlearnscope.evaluate.whitebox import component_revert, direction_ablation, quantization_attack, unlearning_directions
from unlearnscope.organisms import world_facts

LAYER = 1


def _obfuscated(org, forget, steps: int = 60):
    """ORIG with a vector v, trained to push the forget answers down, added after block ``LAYER``."""
    s = org.load("orig")
    for p in s.model.parameters():
        p.requires_grad_(False)
    enc = encode_facts(s, forget)
    v = torch.zeros(s.anatomy.d_model, requires_grad=True)
    opt = torch.optim.Adam([v], lr=0.05)
    torch.manual_seed(0)
    for _ in range(steps):
        with s.hooks([(f"blocks.{LAYER}.hook_resid_post", lambda act, hook: act + v)]):
            logits = s.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits[torch.arange(len(enc)), enc.last]
        loss = logits.log_softmax(-1).gather(1, enc.answer[:, None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        s.model.transformer.h[LAYER].mlp.c_proj.bias += v.detach()
    return s, v.detach()


@pytest.fixture(scope="module")
def world(small_organism):
    org = small_organism("facts")
    forget = world_facts(org, "forget")
    obf, v = _obfuscated(org, forget)
    return org, org.load("orig"), org.load("ref"), obf, v, forget


def test_the_obfuscated_model_forgets_in_behaviour(world):
    _, orig, _, obf, _, forget = world
    assert entity_recall(orig, forget)[1].mean() > 0.95 and entity_recall(obf, forget)[1].mean() < 0.1


def test_direction_ablation_recovers_the_suppressed_facts_and_not_refs(world):
    _, orig, ref, obf, v, forget = world
    basis = unlearning_directions(obf, orig, forget)
    assert torch.allclose(basis[:LAYER, 0], torch.zeros_like(basis[:LAYER, 0]))  # below the edit the streams agree exactly
    assert torch.nn.functional.cosine_similarity(basis[LAYER, 0], v, dim=0) > 0.999  # the mean difference is the added vector
    r = direction_ablation(obf, orig, forget, reference=ref)
    assert r.detail["layer"] == LAYER and r.recovered >= 0.9 * entity_recall(orig, forget)[1].mean()
    assert r.rki["defined"] and r.rki["ci"][0] > 0.8
    ref_before = entity_recall(ref, forget)[1].mean().item()
    assert r.reference_floor <= ref_before + 0.1  # REF recovers nothing above its own level
    assert entity_recall(obf, forget)[1].mean() < 0.1  # the hooks are gone


def test_quantization_recovers_nothing_on_ref_and_revert_finds_the_component(world):
    _, orig, ref, obf, _, forget = world
    q = quantization_attack(ref, forget, bits=4, original=orig, reference=ref)
    assert abs(q.recovered - q.before) < 0.05
    before = {k: t.clone() for k, t in obf.model.state_dict().items()}
    c = component_revert(obf, orig, forget, reference=ref)
    assert c.detail["component"] == f"blocks.{LAYER}.mlp" and c.recovered > 0.95
    assert all(a["gain"] < 0.05 for a in c.detail["attribution"] if a["component"] != c.detail["component"])
    assert all(torch.equal(t, obf.model.state_dict()[k]) for k, t in before.items())  # reverted weights restored
    assert c.to_dict()["attack"] == "component_revert"


def test_attack_errors(world, tiny_dirs):
    from tests.conftest import make_subject

    _, orig, _, obf, _, forget = world
    with pytest.raises(UnlearnscopeError, match="give at least one fact"):
        direction_ablation(obf, orig, [])
    with pytest.raises(UnlearnscopeError, match="k must be"):
        unlearning_directions(obf, orig, forget, k=0)
    with pytest.raises(UnlearnscopeError, match="one architecture"):
        unlearning_directions(make_subject("gpt2"), orig, forget)
    with pytest.raises(UnlearnscopeError):
        component_revert(obf, orig, forget, components=["blocks.99.mlp"])
