"""White-box attacks against a model whose suppression is known: ORIG plus a learned direction
added to the residual stream after block 1 (through that block's MLP output bias), so every state
below it is ORIG's and the facts are provably still there."""

import pytest
import torch

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.recall import entity_recall
from unlearnscope.evaluate.whitebox import (
    component_revert,
    direction_ablation,
    quantization_attack,
    unlearning_directions,
)
from unlearnscope.organisms import world_facts

from .obfuscated import LAYER, obfuscated


@pytest.fixture(scope="module")
def world(small_organism):
    org = small_organism("facts")
    forget = world_facts(org, "forget")
    obf, v = obfuscated(org, forget)
    return org, org.load("orig"), org.load("ref"), obf, v, forget


def test_the_obfuscated_model_forgets_in_behaviour(world):
    _, orig, _, obf, _, forget = world
    assert entity_recall(orig, forget)[1].mean() > 0.95 and entity_recall(obf, forget)[1].mean() < 0.1


def test_direction_ablation_recovers_the_suppressed_facts_and_not_refs(world):
    _, orig, ref, obf, v, forget = world
    basis = unlearning_directions(obf, orig, forget)
    assert torch.allclose(
        basis[:LAYER, 0], torch.zeros_like(basis[:LAYER, 0])
    )  # below the edit the streams agree exactly
    assert (
        torch.nn.functional.cosine_similarity(basis[LAYER, 0], v, dim=0) > 0.999
    )  # the mean difference is the added vector
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
