"""Anatomy: dimensions, [d_mlp, d_model] key/value views whatever the storage, MoE slices."""

import pytest
import torch

import unlearnscope as us
from unlearnscope.errors import OutOfRangeError, UnsupportedArchitectureError
from unlearnscope.model import Edits

from ..conftest import ALL_TYPES, MOE_TYPES, TEXTS, make_subject


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_dimensions_match_config(model_type):
    s = make_subject(model_type)
    a, cfg = s.anatomy, s.model.config
    assert a.n_layers == cfg.num_hidden_layers
    assert a.d_model == cfg.hidden_size
    assert a.n_heads == cfg.num_attention_heads
    if model_type in MOE_TYPES:
        assert a.n_experts == 4 and a.top_k == 2
        assert a.d_expert == (getattr(cfg, "moe_intermediate_size", None) or cfg.intermediate_size)
    else:
        assert a.n_experts == 0 and a.moe_layers == () and a.d_expert == 0
    expected_mlp = {"gpt2": 4 * cfg.hidden_size}.get(model_type, getattr(cfg, "intermediate_size", None))
    if model_type in MOE_TYPES and model_type != "deepseek_v3":
        expected_mlp = getattr(cfg, "moe_intermediate_size", None) or cfg.intermediate_size
    assert a.d_mlp == expected_mlp


@pytest.mark.parametrize("model_type", [t for t in ALL_TYPES if t not in MOE_TYPES] + ["deepseek_v3"])
def test_key_value_views_reproduce_the_mlp(model_type):
    """Ground truth for the [d_mlp, d_model] convention: pre = x @ K.T (+b), down(post) = post @ V (+b)."""
    s = make_subject(model_type)
    a, fam = s.anatomy, s.anatomy.family
    layer = next(l for l in range(a.n_layers) if l not in a.moe_layers)
    p = f"{a.layer_path(layer)}."
    names = [f"blocks.{layer}.mlp.hook_pre", f"blocks.{layer}.mlp.hook_post", p + fam.mlp_in + ":in", p + fam.mlp_down]
    _, cache = us.run_with_cache(s, TEXTS, names)
    K, V = a.keys(layer), a.values(layer)
    assert K.shape == V.shape == (a.d_mlp, a.d_model)
    b_in = getattr(s.model.get_submodule(p + fam.mlp_in), "bias", None)
    b_out = getattr(s.model.get_submodule(p + fam.mlp_down), "bias", None)
    pre = cache[p + fam.mlp_in + ":in"] @ K.T + (0 if b_in is None else b_in)
    out = cache[f"blocks.{layer}.mlp.hook_post"] @ V + (0 if b_out is None else b_out)
    torch.testing.assert_close(pre, cache[f"blocks.{layer}.mlp.hook_pre"], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out, cache[p + fam.mlp_down], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_type", ["gpt2", "llama"])
def test_views_share_storage(model_type):
    s = make_subject(model_type)
    V = s.anatomy.values(1)
    with torch.no_grad():
        V[5].zero_()
    sl = s.anatomy.value_slice(1, 5)
    p = s.model.get_parameter(sl.param)
    assert torch.count_nonzero(p[sl.indexer(p.shape)]) == 0
    assert torch.count_nonzero(s.anatomy.values(1)[4]) > 0


@pytest.mark.parametrize("model_type", MOE_TYPES)
def test_expert_views_and_slices(model_type):
    s = make_subject(model_type)
    a = s.anatomy
    l = a.moe_layers[0]
    experts = s.model.get_submodule(a.path(l, a.family.moe.experts))
    I = experts.down_proj.shape[-1]
    assert torch.equal(a.keys(l, expert=2), experts.gate_up_proj[2, :I])
    assert torch.equal(a.up_keys(l, expert=2), experts.gate_up_proj[2, I:])
    assert torch.equal(a.values(l, expert=2), experts.down_proj[2].T)
    assert a.router_weight(l).shape == (a.n_experts, a.d_model)
    with Edits(s) as ed:
        for sl in a.expert_slices(l, 1):
            ed.zero(sl)
        ed.verify()
        assert torch.count_nonzero(experts.down_proj[1]) == 0 and torch.count_nonzero(experts.down_proj[0]) > 0
        ed.zero(a.value_slice(l, [3, 7], expert=0))
        assert torch.count_nonzero(a.values(l, expert=0)[[3, 7]]) == 0
        assert torch.count_nonzero(a.values(l, expert=0)[4]) > 0
    assert torch.count_nonzero(experts.down_proj[1]) > 0  # undone on exit


def test_out_of_range_errors():
    s = make_subject("mixtral")
    with pytest.raises(OutOfRangeError, match="3 layers"):
        s.anatomy.keys(7, expert=0)
    with pytest.raises(OutOfRangeError, match="expert 9"):
        s.anatomy.keys(0, expert=9)
    with pytest.raises(OutOfRangeError, match="expert="):
        s.anatomy.values(0)
    with pytest.raises(OutOfRangeError, match="d_mlp"):
        make_subject("gpt2").anatomy.value_slice(0, [10_000])


def test_unknown_architecture_names_supported_families():
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model("gptj", vocab_size=50, n_embd=32, n_layer=1, n_head=4, n_positions=32)
    model = AutoModelForCausalLM.from_config(cfg)
    with pytest.raises(UnsupportedArchitectureError) as err:
        us.load(model)
    msg = str(err.value)
    assert "gptj" in msg and "mixtral" in msg and "register_family" in msg


@pytest.mark.parametrize("model_type", ["qwen2_moe", "deepseek_v3"])
def test_shared_expert_views(model_type):
    """The shared expert's value vectors reproduce its output from its down-projection input."""
    s = make_subject(model_type)
    a = s.anatomy
    l = a.moe_layers[0]
    shared = a.path(l, a.family.moe.shared)
    _, c = us.run_with_cache(
        s, TEXTS, [f"{shared}.down_proj:in", f"{shared}.down_proj", f"{shared}.gate_proj:in", f"{shared}.gate_proj"]
    )
    torch.testing.assert_close(
        c[f"{shared}.down_proj:in"] @ a.values(l, expert="shared"), c[f"{shared}.down_proj"], atol=1e-5, rtol=1e-5
    )
    torch.testing.assert_close(
        c[f"{shared}.gate_proj:in"] @ a.keys(l, expert="shared").T, c[f"{shared}.gate_proj"], atol=1e-5, rtol=1e-5
    )
    with Edits(s) as ed:
        ed.zero(a.value_slice(l, [1], expert="shared"))
        assert torch.count_nonzero(a.values(l, expert="shared")[1]) == 0
    with pytest.raises(OutOfRangeError, match="shared"):
        make_subject("mixtral").anatomy.values(0, expert="shared")
