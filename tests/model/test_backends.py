"""Parity: native hooks, TransformerLens and nnsight give the same canonical tensors."""

import pytest
import torch

import unlearnscope as us
from unlearnscope.errors import HookNameError
from unlearnscope.model.backends import nnsight as nn_backend
from unlearnscope.model.backends import transformer_lens as tl_backend

from ..conftest import DECODER_TYPES, TEXTS, make_subject

# Attention implementations differ between the backends' runs (up to ~3e-6 on these models).
TOL = 1e-5


def compare(ours, theirs, names):
    for n in names:
        a, b = ours[n], theirs[n]
        if a.shape != b.shape:  # TransformerLens splits MLA heads differently (see note below)
            a, b = a.flatten(-2), b.flatten(-2)
        assert (a - b).abs().max() <= TOL, (n, (a - b).abs().max().item())


# TransformerLens' bridge lays out DeepSeek's multi-head latent attention z differently (its
# hook_z is [.., 8, 8] and not the o_proj input); ours is the o_proj input by construction and
# matches nnsight below.
TL_DIFFERENT = {"deepseek_v3": "attn.hook_z"}

TL_TYPES = DECODER_TYPES
# TransformerLens 3.9's bridge runs its own MLA attention for DeepSeek-V3, and its attention output
# differs from the HF module's by ~4e-2 on this model (measured); native == nnsight there.
TL_BROKEN = {"deepseek_v3"}
TL_CASES = [
    pytest.param(t, marks=pytest.mark.xfail(strict=True, reason="TL bridge MLA differs from HF"))
    if t in TL_BROKEN
    else t
    for t in TL_TYPES
]


@pytest.mark.parametrize("model_type", TL_CASES)
def test_transformer_lens_parity(model_type, tiny_dirs):
    s = us.load(tiny_dirs(model_type))
    enc = {"input_ids": s.tokenize(TEXTS)["input_ids"]}  # the bridge runs without a mask: pads are tokens
    plain = s.forward(enc).logits
    bridge = tl_backend.to_bridge(s)
    different = [n for n in s.hook_names() if n.endswith(TL_DIFFERENT.get(model_type, "@"))]
    names = [n for n in s.hook_names() if tl_backend.bridge_name(n) in bridge.hook_dict and n not in different]
    per_expert = [n for n in s.hook_names() if ".experts." in n]
    computed = per_expert + [n for n in s.hook_names() if n.endswith(("moe.hook_pre", "moe.hook_post"))]  # ours only
    # everything but computed expert points, top-k weights/indices and shared-expert outputs is compared
    assert len(names) + len(different) >= len(s.hook_names()) - len(computed) - 3 * len(s.anatomy.moe_layers)
    logits, tl = tl_backend.run_with_cache(s, enc, names)
    _, ours = us.run_with_cache(s, enc, names)
    compare(ours, tl, names)
    torch.testing.assert_close(logits, plain, atol=TOL, rtol=TOL)
    assert torch.equal(s.forward(enc).logits, plain)  # the bridge did not touch the subject's model
    if per_expert:
        with pytest.raises(HookNameError, match="has no hook"):
            tl_backend.run_with_cache(s, enc, per_expert[:1])


@pytest.mark.parametrize("model_type", ["gpt2", "gpt_neox", "llama", "qwen2", "mixtral", "olmoe"])
def test_hooked_transformer_parity(model_type):
    """The legacy HookedTransformer (unprocessed weights) agrees on every point it names."""
    s = make_subject(model_type)
    enc = {"input_ids": s.tokenize(TEXTS)["input_ids"]}
    ht = tl_backend.to_hooked_transformer(s)
    names = [n for n in s.hook_names() if n in ht.hook_dict]
    dense_points = [n for n in s.hook_names() if ".moe." not in n and n != "hook_logits"]
    assert set(dense_points) <= set(names)  # all residual, attention and dense-MLP points
    logits, theirs = tl_backend.run_with_cache(s, enc, names, kind="hooked")
    _, ours = us.run_with_cache(s, enc, names)
    compare(ours, theirs, names)
    torch.testing.assert_close(logits, s.forward(enc).logits, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("model_type", DECODER_TYPES)
def test_nnsight_parity(model_type):
    s = make_subject(model_type)
    enc = s.tokenize(TEXTS)
    with torch.no_grad():
        plain = s.model(**enc).logits
    logits, theirs = nn_backend.run_with_cache(s, enc, None)
    _, ours = us.run_with_cache(s, enc)
    assert set(theirs) == set(ours)
    compare(ours, theirs, list(ours))
    # hook_logits is the LM head's output (Gemma 2/3 soft-cap the logits after it)
    torch.testing.assert_close(logits, ours["hook_logits"], atol=TOL, rtol=TOL)
    if not model_type.startswith("gemma"):
        torch.testing.assert_close(logits, plain, atol=TOL, rtol=TOL)


@pytest.mark.parametrize("model_type", ["gpt2", "qwen2_moe"])
def test_nnsight_remote_path_in_local_simulation(model_type):
    """``remote="local"``: nnsight serialises the trace as for NDIF, hides local modules, runs it here."""
    s = make_subject(model_type)
    enc = s.tokenize(TEXTS)
    names = ["blocks.1.hook_resid_post", "blocks.0.attn.hook_z", "hook_logits"] + (
        ["blocks.1.moe.experts.2.hook_out"] if s.anatomy.is_moe else []
    )
    _, remote = nn_backend.run_with_cache(s, enc, names, remote="local")
    _, ours = us.run_with_cache(s, enc, names)
    compare(ours, remote, names)


@pytest.mark.parametrize("remote", [False, "local"])
@pytest.mark.parametrize("model_type", ["gpt2", "mixtral"])
def test_nnsight_interventions_equal_native_ones(model_type, remote):
    from unlearnscope.errors import UnlearnscopeError
    from unlearnscope.model import add, intervene, scale, zero

    s = make_subject(model_type)
    enc = s.tokenize(TEXTS)
    ops = {
        "blocks.1.hook_mlp_out": scale(0.5),
        "blocks.0.attn.hook_z": zero(index=[1]),
        "blocks.0.hook_resid_post": add(torch.ones(s.anatomy.d_model), positions=-1),
        "blocks.2.hook_resid_pre": lambda act, point: act * 1.5,  # a custom callable
    }
    if s.anatomy.is_moe:
        ops["blocks.1.moe.hook_topk_weights"] = zero(positions=[0])
    with intervene(s, ops):
        want = s.forward(enc).logits
    got = nn_backend.run_with_interventions(s, enc, ops, remote=remote)
    torch.testing.assert_close(got, want, atol=TOL, rtol=TOL)
    assert (want - s.forward(enc).logits).abs().max() > 1e-2  # the interventions did something
    if s.anatomy.is_moe:
        with pytest.raises(UnlearnscopeError, match="per-expert"):
            nn_backend.run_with_interventions(s, enc, {"blocks.1.moe.experts.0.hook_out": zero()})
