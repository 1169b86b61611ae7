"""Hook names, scoped registration, bit-identity, cleanup after errors, leaks."""

import gc
import re
import weakref

import pytest
import torch

import unlearnscope as us
from unlearnscope.errors import HookNameError, HookNeverFiredError, OutOfRangeError

from ..conftest import ALL_TYPES, DECODER_TYPES, TEXTS, final_output, make_subject


def no_hooks_left(model) -> bool:
    return all(not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_capturing_every_point_is_bit_identical_to_plain_hf(model_type):
    s = make_subject(model_type)
    enc = s.tokenize(TEXTS)
    with torch.no_grad():
        plain = final_output(s.model(**enc))
        with us.capture(s) as cache:
            hooked = final_output(s.model(**enc))
    assert torch.equal(plain, hooked)
    assert set(cache) == set(s.hook_names())
    assert no_hooks_left(s.model)


@pytest.mark.parametrize("model_type", [t for t in DECODER_TYPES if t != "gpt_neox"])
def test_residual_identities(model_type):
    """attn_out / mlp_out are exactly what each sub-block adds to the residual stream."""
    s = make_subject(model_type)
    _, c = us.run_with_cache(s, TEXTS)
    for l in range(s.anatomy.n_layers):
        b = f"blocks.{l}."
        torch.testing.assert_close(
            c[b + "hook_resid_mid"], c[b + "hook_resid_pre"] + c[b + "hook_attn_out"], atol=1e-5, rtol=0
        )
        torch.testing.assert_close(
            c[b + "hook_resid_post"], c[b + "hook_resid_mid"] + c[b + "hook_mlp_out"], atol=1e-5, rtol=0
        )
        if l + 1 < s.anatomy.n_layers:
            assert torch.equal(c[b + "hook_resid_post"], c[f"blocks.{l + 1}.hook_resid_pre"])


def test_parallel_residual_has_no_resid_mid():
    s = make_subject("gpt_neox")
    assert not any("resid_mid" in n for n in s.hook_names())
    _, c = us.run_with_cache(s, TEXTS)
    torch.testing.assert_close(
        c["blocks.1.hook_resid_post"],
        c["blocks.1.hook_resid_pre"] + c["blocks.1.hook_attn_out"] + c["blocks.1.hook_mlp_out"],
        atol=1e-5,
        rtol=0,
    )


def test_name_forms():
    s = make_subject("llama")
    names = lambda spec: [p.name for p in s.resolve(spec)]
    assert names("blocks.*.mlp.hook_post") == [f"blocks.{l}.mlp.hook_post" for l in range(3)]
    assert names(re.compile(r"blocks\.[01]\.hook_resid_pre")) == ["blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre"]
    assert names(lambda n: n.endswith("hook_z")) == [f"blocks.{l}.attn.hook_z" for l in range(3)]
    assert names("blocks.2.hook_out") == ["blocks.2.hook_resid_post"]  # TL-3 alias
    assert names("unembed.hook_out") == ["hook_logits"]
    assert [p.module_path for p in s.resolve("model.layers.1.mlp:in")] == ["model.layers.1.mlp"]
    assert names(["blocks.*.hook_resid_post"]) == names("blocks.*.hook_resid_post")
    assert [p.name for p in s.resolve(None, layers=[1]) if p.layer is not None] == [
        n for n in s.hook_names() if n.startswith("blocks.1.")
    ]


def test_bad_names_give_close_matches_and_register_nothing():
    s = make_subject("gpt2")
    with pytest.raises(HookNameError, match="blocks.1.hook_resid_post"):
        with us.capture(s, ["blocks.1.hook_resid_post", "blocks.1.hook_resid_pots"]):
            pass
    with pytest.raises(HookNameError, match="3 layers"):
        s.resolve("blocks.9.hook_resid_pre")
    with pytest.raises(OutOfRangeError):
        s.resolve(None, layers=[5])
    with pytest.raises(HookNameError):
        s.resolve(re.compile("nothing_like_this"))
    assert no_hooks_left(s.model)


def test_hooks_removed_after_an_exception_inside_the_block():
    s = make_subject("mixtral")

    def boom(act, point):
        raise RuntimeError("user bug")

    with pytest.raises(RuntimeError, match="user bug"):
        with us.hooks(s, [("blocks.*.hook_resid_post", lambda a, p: None), ("blocks.1.moe.hook_topk_idx", boom)]):
            s.forward(TEXTS)
    assert no_hooks_left(s.model)


def test_a_hook_that_never_fired_raises():
    s = make_subject("gpt2")
    with pytest.raises(HookNeverFiredError, match="blocks.2.hook_resid_post"):
        with us.capture(s, ["blocks.0.hook_resid_post", "blocks.2.hook_resid_post"]):
            s.model.transformer.h[0](s.model.transformer.wte(s.tokenize(TEXTS)["input_ids"]))
    with us.capture(s, "blocks.0.hook_resid_post"):
        pass  # no forward ran: nothing to complain about
    assert no_hooks_left(s.model)


def test_no_leaks_over_200_hooked_runs():
    s = make_subject("qwen2_moe")
    enc = s.tokenize(TEXTS)
    names = ["blocks.*.hook_resid_post", "blocks.1.moe.experts.*.hook_out", "blocks.0.moe.hook_router_logits"]
    refs = []

    def count_tensors():
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, torch.Tensor))

    for i in range(200):
        with torch.no_grad(), us.capture(s, names) as cache:
            s.model(**enc)
        refs.append(weakref.ref(cache))
        if i == 9:
            baseline = count_tensors()
        del cache
    assert no_hooks_left(s.model)
    assert count_tensors() <= baseline
    assert all(r() is None for r in refs)


def test_transformer_lens_hook_functions_run_unchanged(tiny_dirs):
    """A hook function written for TransformerLens (``fn(act, hook)``, ``hook.name`` /
    ``hook.layer()`` / ``hook.ctx``, editing in place and returning None, or returning a tensor)
    gives the same logits on our hooks as on TransformerLens' own bridge of the same model."""
    from unlearnscope.model.backends import transformer_lens as tl_backend

    s = us.load(tiny_dirs("gpt2"))
    ids = s.tokenize(TEXTS)["input_ids"]
    layers = []

    def zero_last_token(resid, hook):  # in place, TransformerLens style
        layers.append(hook.layer())
        hook.ctx["seen"] = hook.ctx.get("seen", 0) + 1
        resid[:, -1] = 0.0

    def halve(value, hook):
        assert hook.name.startswith("blocks.0.")
        return value * 0.5

    n1, n2 = "blocks.1.hook_resid_post", "blocks.0.hook_mlp_out"
    theirs = tl_backend.to_bridge(s).run_with_hooks(
        ids, fwd_hooks=[(tl_backend.bridge_name(n1), zero_last_token), (tl_backend.bridge_name(n2), halve)]
    )
    with torch.no_grad():
        plain = s.model(input_ids=ids).logits
        with us.hooks(s, [(n1, zero_last_token), (n2, halve)]):
            ours = s.model(input_ids=ids).logits
        with us.intervene(s, {n1: us.model.zero(positions=-1), n2: us.model.scale(0.5)}):
            native = s.model(input_ids=ids).logits
    assert layers == [1, 1] and not torch.allclose(ours, plain)
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    assert torch.equal(ours, native)  # the same as our own interventions
    with pytest.raises(ValueError, match="not inside a block"):
        with us.hooks(s, [("hook_embed", lambda x, hook: hook.layer())]):
            s.model(input_ids=ids)
    assert no_hooks_left(s.model)
