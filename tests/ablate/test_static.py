"""Static ablations: each mode checked against what it must do to the weights and the forward."""

import pytest
import torch

import unlearnscope as us
from unlearnscope.ablate import ComponentSet, ablate
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.model import intervene, scale

from ..conftest import TEXTS, make_subject


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_zero_equals_silencing_the_neurons_and_is_reversible():
    s = make_subject("gpt2")
    before = state(s.model)
    enc = s.tokenize(TEXTS)
    with intervene(s, "blocks.1.mlp.hook_post", scale(0.0, index=[3, 40])):
        want = s.forward(enc).logits
    with ablate(s, ComponentSet.parse(s, "blocks.1.mlp.value:[3,40]"), "zero") as ed:
        torch.testing.assert_close(s.forward(enc).logits, want, atol=1e-5, rtol=1e-5)
        assert ed.verify()["transformer.h.1.mlp.c_proj.weight"] == 2 * s.anatomy.d_model
    after = state(s.model)
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_noise_has_the_requested_std_and_is_seeded():
    s = make_subject("llama")
    cs = ComponentSet.parse(s, "blocks.1.mlp.value:0-63")
    v0 = s.anatomy.values(1).detach().clone()
    with ablate(s, cs, "noise", sigma=0.1, seed=4):
        delta = s.anatomy.values(1).detach() - v0
        first = delta.clone()
    assert abs(delta[:64].std().item() - 0.1) < 0.01 and torch.count_nonzero(delta[64:]) == 0
    with ablate(s, cs, "noise", sigma=0.1, seed=4):
        assert torch.equal(s.anatomy.values(1).detach() - v0, first)
    with pytest.raises(UnlearnscopeError, match="sigma"):
        ablate(s, cs, "noise")


def test_mean_replaces_units_by_the_mean_of_their_siblings():
    s = make_subject("llama")
    v0 = s.anatomy.values(2).detach().clone()
    with ablate(s, ComponentSet.parse(s, "blocks.2.mlp.value:[5,6]"), "mean"):
        v = s.anatomy.values(2).detach()
        torch.testing.assert_close(v[5], v0.mean(0))
        torch.testing.assert_close(v[6], v0.mean(0))
        assert torch.equal(v[7], v0[7])
    m = make_subject("mixtral")
    experts = m.model.model.layers[1].mlp.experts
    down0 = experts.down_proj.detach().clone()
    with ablate(m, ComponentSet.parse(m, "blocks.1.moe.expert:2"), "mean"):
        torch.testing.assert_close(experts.down_proj[2], down0.mean(0))
        assert torch.equal(experts.down_proj[1], down0[1])
    with pytest.raises(UnlearnscopeError, match="undefined"):
        ablate(s, ComponentSet.parse(s, "blocks.2.mlp"), "mean")


@pytest.mark.parametrize(
    "model_type,spec,layer", [("gpt2", "blocks.1.mlp.value:[2,8]", 1), ("llama", "blocks.1.mlp.value:[2,8]", 1)]
)
def test_project_out_removes_the_direction_from_what_the_units_write(model_type, spec, layer):
    s = make_subject(model_type)
    u = torch.randn(s.anatomy.d_model)
    u_hat = u / u.norm()
    v0 = s.anatomy.values(layer).detach().clone()
    with ablate(s, ComponentSet.parse(s, spec), "project", direction=u):
        v = s.anatomy.values(layer).detach()
        assert (v[[2, 8]] @ u_hat).abs().max() < 1e-5
        torch.testing.assert_close(v[[2, 8]], v0[[2, 8]] - (v0[[2, 8]] @ u_hat)[:, None] * u_hat)
        assert torch.equal(v[3], v0[3])
        # the forward: those neurons' contribution to the MLP output has no u component
        _, c = us.run_with_cache(s, TEXTS, f"blocks.{layer}.mlp.hook_post")
        contrib = c[f"blocks.{layer}.mlp.hook_post"][..., [2, 8]] @ v[[2, 8]]
        assert (contrib @ u_hat).abs().max() < 1e-4
    with pytest.raises(UnlearnscopeError, match="direction"):
        ablate(s, ComponentSet.parse(s, spec), "project", direction=torch.zeros(s.anatomy.d_model))


def test_heads_and_experts_ablate_like_the_equivalent_hooks():
    s = make_subject("llama")
    enc = s.tokenize(TEXTS)
    from unlearnscope.model import zero

    with intervene(s, "blocks.0.attn.hook_z", zero(index=[1])):
        want = s.forward(enc).logits
    with ablate(s, ComponentSet.parse(s, "blocks.0.attn.head:1"), "zero"):
        torch.testing.assert_close(s.forward(enc).logits, want, atol=1e-5, rtol=1e-5)
    m = make_subject("olmoe")
    enc = m.tokenize(TEXTS)
    with intervene(m, "blocks.1.moe.experts.3.hook_out", zero()):
        want = m.forward(enc).logits
    with ablate(m, ComponentSet.parse(m, "blocks.1.moe.expert:3"), "zero") as ed:
        torch.testing.assert_close(m.forward(enc).logits, want, atol=1e-5, rtol=1e-5)
        ed.verify()


def test_bad_mode_and_failed_ablation_leave_nothing_edited():
    s = make_subject("llama")
    before = state(s.model)
    with pytest.raises(UnlearnscopeError, match="unknown ablation mode"):
        ablate(s, ComponentSet.parse(s, "blocks.1.mlp.value:3"), "shrink")
    cs = ComponentSet.parse(s, "blocks.1.mlp.value:3 blocks.2.mlp")  # second part cannot be mean-ablated
    with pytest.raises(UnlearnscopeError, match="undefined"):
        ablate(s, cs, "mean")
    after = state(s.model)
    assert all(torch.equal(before[k], after[k]) for k in before)
