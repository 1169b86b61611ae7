"""Interventions: each checked against an independent ground truth."""

import pytest
import torch

import unlearnscope as us
from unlearnscope.model import Edits, add, intervene, mean_of, replace, scale, zero

from ..conftest import MOE_TYPES, TEXTS, make_subject


def test_zero_mlp_out_makes_resid_post_equal_resid_mid():
    s = make_subject("llama")
    with intervene(s, "blocks.1.hook_mlp_out", zero()):
        _, c = us.run_with_cache(s, TEXTS, ["blocks.1.hook_resid_mid", "blocks.1.hook_resid_post"])
    assert torch.equal(c["blocks.1.hook_resid_post"], c["blocks.1.hook_resid_mid"])


def test_neuron_scale_equals_weight_edit():
    """Zeroing key coefficients of neurons == zeroing their value vectors (same output)."""
    s = make_subject("gpt2")
    enc = s.tokenize(TEXTS)
    with intervene(s, "blocks.1.mlp.hook_post", scale(0.0, index=[3, 40])):
        a = s.forward(enc).logits
    with Edits(s) as ed:
        ed.zero(s.anatomy.value_slice(1, [3, 40]))
        b = s.forward(enc).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(a, s.forward(enc).logits)


def test_add_and_replace_with_positions():
    s = make_subject("gpt2")
    enc = s.tokenize(TEXTS)
    v = torch.randn(s.anatomy.d_model)
    _, base = us.run_with_cache(s, enc, ["blocks.0.hook_resid_post", "blocks.1.hook_resid_pre"])
    with intervene(s, "blocks.0.hook_resid_post", add(v, positions=-1)):
        _, c = us.run_with_cache(s, enc, "blocks.1.hook_resid_pre")
    want = base["blocks.0.hook_resid_post"].clone()
    want[:, -1] += v
    torch.testing.assert_close(c["blocks.1.hook_resid_pre"], want)
    m = mean_of(s, "blocks.0.hook_resid_post", TEXTS)
    with intervene(s, "blocks.0.hook_resid_post", replace(m)):
        _, c = us.run_with_cache(s, enc, "blocks.1.hook_resid_pre")
    assert torch.allclose(c["blocks.1.hook_resid_pre"], m.expand_as(want))


def test_head_zero_equals_zeroing_o_proj_columns():
    s = make_subject("llama")
    enc = s.tokenize(TEXTS)
    with intervene(s, "blocks.0.attn.hook_z", zero(index=[2])):
        a = s.forward(enc).logits
    d_head = s.anatomy.d_model // s.anatomy.n_heads
    with Edits(s) as ed:
        ed.zero(
            us.model.ParamSlice.of("model.layers.0.self_attn.o_proj.weight", {1: list(range(2 * d_head, 3 * d_head))})
        )
        b = s.forward(enc).logits
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", MOE_TYPES)
def test_expert_contributions_sum_to_the_experts_output_and_ablate_like_weights(model_type):
    s = make_subject(model_type)
    a = s.anatomy
    l = a.moe_layers[-1]
    experts_path = a.path(l, a.family.moe.experts)
    _, c = us.run_with_cache(s, TEXTS, [f"blocks.{l}.moe.experts.*.hook_out", experts_path])
    total = sum(c[f"blocks.{l}.moe.experts.{e}.hook_out"] for e in range(a.n_experts))
    torch.testing.assert_close(total, c[experts_path], atol=1e-5, rtol=1e-5)
    enc = s.tokenize(TEXTS)
    with intervene(s, f"blocks.{l}.moe.experts.1.hook_out", zero()):
        hooked = s.forward(enc).logits
    with Edits(s) as ed:  # expert 1 writes nothing when its down-projection is zero
        ed.zero(us.model.ParamSlice.of(f"{experts_path}.down_proj", {0: [1]}))
        edited = s.forward(enc).logits
    torch.testing.assert_close(hooked, edited, atol=1e-5, rtol=1e-5)


def test_router_weights_are_writable():
    """Zeroing the top-k weights of every token silences the routed experts."""
    s = make_subject("mixtral")
    l = 1
    with intervene(s, f"blocks.{l}.moe.hook_topk_weights", zero()):
        _, c = us.run_with_cache(s, TEXTS, [f"blocks.{l}.hook_mlp_out"])
    assert torch.count_nonzero(c[f"blocks.{l}.hook_mlp_out"]) == 0


def test_interventions_act_on_every_generation_step():
    s = make_subject("mixtral")
    enc = s.tokenize(TEXTS[:1])
    calls = []

    def count(act, point):
        calls.append(act.shape[0])
        return act * 0

    gen = dict(max_new_tokens=5, do_sample=False, pad_token_id=s.tokenizer.pad_token_id)
    with torch.no_grad(), intervene(s, "blocks.0.moe.experts.0.hook_out", count):
        steered = s.model.generate(**enc, **gen)
    assert len(calls) == 5 and calls[1:] == [1, 1, 1, 1]  # prefill, then one token per step with the KV cache
    with torch.no_grad(), intervene(s, "blocks.0.moe.experts.0.hook_out", zero()):
        again = s.model.generate(**enc, **gen)
    assert torch.equal(steered, again)


def test_positions_on_token_flat_expert_points():
    """Zeroing expert 1 at the last position only removes its contribution there and nowhere else."""
    s = make_subject("olmoe")
    enc = s.tokenize(TEXTS)
    b, p = enc["input_ids"].shape
    names = ["blocks.1.moe.experts.1.hook_out", "model.layers.1.mlp.experts"]
    _, base = us.run_with_cache(s, enc, names)
    with intervene(s, "blocks.1.moe.experts.1.hook_out", zero(positions=-1)):
        _, c = us.run_with_cache(s, enc, "model.layers.1.mlp.experts")
    want = (base["model.layers.1.mlp.experts"] - base["blocks.1.moe.experts.1.hook_out"]).view(b, p, -1)
    got = c["model.layers.1.mlp.experts"].view(b, p, -1)
    torch.testing.assert_close(got[:, -1], want[:, -1], atol=1e-6, rtol=0)
    assert torch.equal(got[:, :-1], base["model.layers.1.mlp.experts"].view(b, p, -1)[:, :-1])
