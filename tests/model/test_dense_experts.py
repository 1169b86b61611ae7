"""``moe.hook_pre`` / ``moe.hook_post``: every expert's gate pre-activations and keys, densely."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import MOE_TYPES, make_subject
from unlearnscope.model.moe_math import expert_ffn


@pytest.mark.parametrize("model_type", MOE_TYPES)
def test_dense_features_match_each_expert_and_write_back_is_exact(model_type):
    torch.manual_seed(0)
    s = make_subject(model_type)
    a = s.anatomy
    layer = a.moe_layers[0]
    experts = a.module(a.path(layer, a.family.moe.experts))
    ids = torch.randint(3, s.model.config.vocab_size, (2, 5))
    with s.capture([f"blocks.{layer}.moe.hook_pre", f"blocks.{layer}.moe.hook_post"]) as cache, torch.no_grad():
        base = s.model(input_ids=ids).logits
    pre, post = cache[f"blocks.{layer}.moe.hook_pre"], cache[f"blocks.{layer}.moe.hook_post"]
    d_exp = pre.shape[1] // a.n_experts
    assert pre.shape == (10, a.n_experts * d_exp) == post.shape
    # keys of expert e, pushed through its down projection, equal expert_ffn on the same inputs
    x = torch.randn(10, a.d_model)
    with torch.no_grad():
        from unlearnscope.model.moe_math import dense_gate_up

        gate, up = dense_gate_up(experts, x)
        key = experts.act_fn(gate) * up
        for e in (0, a.n_experts - 1):
            torch.testing.assert_close(
                torch.nn.functional.linear(key[:, e], experts.down_proj[e]), expert_ffn(experts, x, e)
            )
    # writing back what was read changes nothing; changing one routed expert's neuron changes the output
    for name in (f"blocks.{layer}.moe.hook_pre", f"blocks.{layer}.moe.hook_post"):
        with s.hooks([(name, lambda act, p: act.clone())]), torch.no_grad():
            torch.testing.assert_close(s.model(input_ids=ids).logits, base, rtol=1e-5, atol=1e-5)
    with s.capture(f"blocks.{layer}.moe.hook_topk_idx") as c2, torch.no_grad():
        s.model(input_ids=ids)
    routed = int(c2[f"blocks.{layer}.moe.hook_topk_idx"][0, 0])
    unrouted = sorted(set(range(a.n_experts)) - set(c2[f"blocks.{layer}.moe.hook_topk_idx"].reshape(-1).tolist()))

    def bump(expert):
        def fn(act, p):
            act = act.clone()
            act[:, expert * d_exp : (expert + 1) * d_exp] += 3.0
            return act

        return fn

    with s.hooks([(f"blocks.{layer}.moe.hook_post", bump(routed))]), torch.no_grad():
        assert not torch.allclose(s.model(input_ids=ids).logits, base, atol=1e-4)
    if unrouted:  # an expert no token uses: writing its keys has no effect
        with s.hooks([(f"blocks.{layer}.moe.hook_post", bump(unrouted[0]))]), torch.no_grad():
            torch.testing.assert_close(s.model(input_ids=ids).logits, base, rtol=1e-5, atol=1e-5)
