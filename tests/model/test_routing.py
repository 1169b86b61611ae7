"""Routing overrides on every MoE family: exact native reproduction, off / force / drop / gain
semantics, DeepSeek's group-limited sigmoid router, generate() with a KV cache, cleanup."""

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.errors import OutOfRangeError, UnlearnscopeError
from unlearnscope.model.routing import RoutingOverride, route, router_params, select

MOE = ["mixtral", "olmoe", "qwen2_moe", "qwen3_moe", "deepseek_v3"]
TEXTS = ["The capital of France is Paris.", "def add(a, b): return a + b", "Hello!"]


def _subject(mt):
    s = make_subject(mt)
    if mt == "deepseek_v3":  # zero-initialised router: give it real scores and a correction bias
        g = torch.Generator().manual_seed(0)
        for l in s.anatomy.moe_layers:
            r = s.anatomy.module(s.anatomy.path(l, "mlp.gate"))
            r.weight.data = torch.randn(r.weight.shape, generator=g)
            r.e_score_correction_bias.data = 0.1 * torch.randn(r.e_score_correction_bias.shape, generator=g)
    return s


def _selections(s, layer, enc=None, generate=False):
    """Every (weights, idx) the layer's router emits during a forward or a generate()."""
    seen = []
    mod = s.anatomy.module(s.anatomy.path(layer, s.anatomy.family.moe.router))
    h = mod.register_forward_hook(lambda m, a, o: seen.append((o[1].detach(), o[2].detach())))
    try:
        enc = enc or s.tokenize(TEXTS)
        with torch.no_grad():
            if generate:
                s.model.generate(
                    **s.tokenize(TEXTS[:1]), max_new_tokens=4, do_sample=False, pad_token_id=s.tokenizer.pad_token_id
                )
            else:
                s.model(**enc)
    finally:
        h.remove()
    return seen


@pytest.mark.parametrize("mt", MOE)
def test_select_reproduces_the_native_router_exactly(mt):
    s = _subject(mt)
    l = s.anatomy.moe_layers[0]
    router = s.anatomy.module(s.anatomy.path(l, s.anatomy.family.moe.router))
    x = torch.randn(64, s.anatomy.d_model, generator=torch.Generator().manual_seed(1))
    logits, w, idx = router(x)
    w2, idx2 = select(logits, router_params(s, l))
    dense = lambda w, i: torch.zeros(64, s.anatomy.n_experts).scatter(1, i, w.float())
    assert torch.equal(dense(w, idx), dense(w2, idx2))


@pytest.mark.parametrize("mt", MOE)
def test_off_force_drop_gain_semantics(mt):
    s = _subject(mt)
    a = s.anatomy
    l, k = a.moe_layers[-1], a.top_k
    base = _selections(s, l)[0]
    e = int(base[1].flatten().mode().values)  # an expert the router actually uses
    with route(s, off=[(l, e)]):
        w, idx = _selections(s, l)[0]
    hit = idx == e
    assert not (w[hit] != 0).any(), "a switched-off expert must never contribute"
    if mt != "deepseek_v3":  # softmax routers: the next-best expert fills the slot
        assert not hit.any() and (w > 0).all()
    with route(s, force=[(l, (e + 1) % a.n_experts)]):
        w, idx = _selections(s, l)[0]
    assert ((idx == (e + 1) % a.n_experts).sum(-1) == 1).all(), "a forced expert is selected on every token"
    with route(s, drop=[(l, e)]):
        w, idx = _selections(s, l)[0]
    assert torch.equal(idx, base[1]) and (w[idx == e] == 0).all()
    torch.testing.assert_close(w.float().sum(-1), base[0].float().sum(-1))  # renormalised to the original sum
    with route(s, drop=[(l, e)], renormalize=False):
        w, _ = _selections(s, l)[0]
    torch.testing.assert_close(w.float().sum(-1), base[0].float().sum(-1) - (base[0].float() * (base[1] == e)).sum(-1))
    with route(s, gain={(l, e): 0.5}):
        w, idx = _selections(s, l)[0]
    torch.testing.assert_close(w.float(), base[0].float() * torch.where(base[1] == e, 0.5, 1.0))
    assert k == idx.shape[-1]


def test_deepseek_mask_acts_before_group_selection():
    s = _subject("deepseek_v3")
    l = s.anatomy.moe_layers[0]
    p = router_params(s, l)
    assert p.kind == "sigmoid_group_topk" and p.n_group == 2 and p.topk_group == 1
    logits = torch.randn(200, 4, generator=torch.Generator().manual_seed(3))
    _, idx = select(logits, p)
    groups = idx // 2
    assert (groups == groups[:, :1]).all(), "native semantics: all picks inside the one allowed group"
    off = torch.tensor([True, True, False, False])  # the whole group 0 off: its group can no longer win
    w, idx = select(logits, p, off=off)
    assert (idx >= 2).all() and (w > 0).all()


def test_override_acts_on_every_decode_step_of_generate():
    s = _subject("mixtral")
    l = s.anatomy.moe_layers[-1]
    calls = _selections(s, l, generate=True)
    assert len(calls) == 4  # prefill + 3 cached decode steps (one new token each)
    e = int(torch.cat([c[1].flatten() for c in calls]).mode().values)
    with route(s, off=[(l, e)]):
        calls = _selections(s, l, generate=True)
    assert len(calls) == 4 and calls[-1][1].shape[0] == 1
    assert all(not (c[1] == e).any() for c in calls)


def test_bad_input_and_cleanup():
    s = _subject("mixtral")
    with pytest.raises(OutOfRangeError, match="out of range"):
        with route(s, off=[(0, 99)]):
            pass
    with pytest.raises(OutOfRangeError):
        with route(s, off=[(9, 0)]):
            pass
    with pytest.raises(OutOfRangeError, match="both"):
        with route(s, off=[(0, 1)], force=[(0, 1)]):
            pass
    with pytest.raises(UnlearnscopeError, match="EMoE"):
        with route(make_subject("gpt2"), off=[(0, 0)]):
            pass
    enc = s.tokenize(TEXTS)
    ref = s.model(**enc).logits
    with pytest.raises(RuntimeError, match="boom"):
        with route(s, off=[(0, 1), (1, 2)]):
            raise RuntimeError("boom")
    assert all(not m._forward_hooks for m in s.model.modules())
    torch.testing.assert_close(s.model(**enc).logits, ref, rtol=0, atol=0)


def test_override_round_trips_through_json():
    ov = RoutingOverride.build("gain", [(0, 1), (1, 2)], gain=0.25)
    assert RoutingOverride.from_dict(ov.to_dict()) == ov
    with pytest.raises(UnlearnscopeError, match="unknown routing mode"):
        RoutingOverride.build("explode", [(0, 1)])
