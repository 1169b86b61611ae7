"""Capture options: positions, offload, layers, gradients, stop_at_layer, generation."""

import pytest
import torch

import unlearnscope as us
from unlearnscope.errors import UnlearnscopeError

from ..conftest import TEXTS, make_subject


@pytest.fixture(scope="module")
def gpt2():
    return make_subject("gpt2")


def test_positions(gpt2):
    enc = gpt2.tokenize(TEXTS)
    _, full = us.run_with_cache(gpt2, enc, "blocks.1.hook_resid_post")
    x = full["blocks.1.hook_resid_post"]
    _, last = us.run_with_cache(gpt2, enc, "blocks.1.hook_resid_post", positions=-1)
    assert torch.equal(last["blocks.1.hook_resid_post"], x[:, -1])
    _, sl = us.run_with_cache(gpt2, enc, "blocks.1.hook_resid_post", positions=slice(1, 3))
    assert torch.equal(sl["blocks.1.hook_resid_post"], x[:, 1:3])
    per_row = enc["attention_mask"].sum(1) - 1  # last real token of each row (right padding)
    _, rows = us.run_with_cache(gpt2, enc, "blocks.1.hook_resid_post", positions=per_row)
    assert torch.equal(rows["blocks.1.hook_resid_post"], x[torch.arange(3), per_row])


def test_positions_on_token_flat_moe_points():
    s = make_subject("mixtral")
    enc = s.tokenize(TEXTS)
    b, p = enc["input_ids"].shape
    _, full = us.run_with_cache(s, enc, ["blocks.0.moe.hook_router_logits", "blocks.0.moe.experts.1.hook_out"])
    _, last = us.run_with_cache(
        s, enc, ["blocks.0.moe.hook_router_logits", "blocks.0.moe.experts.1.hook_out"], positions=[0, -1]
    )
    for n in full:
        want = full[n].view(b, p, -1)[:, [0, -1]].flatten(0, 1)
        assert torch.equal(last[n], want)


def test_offload_and_downcast(gpt2):
    _, c = us.run_with_cache(gpt2, TEXTS, "blocks.*.hook_resid_post", device="cpu", dtype=torch.float16)
    assert all(v.dtype == torch.float16 for v in c.values()) and len(c) == 3
    _, c = us.run_with_cache(gpt2, TEXTS, None, layers=[2])
    assert {p.split(".")[1] for p in c if p.startswith("blocks")} == {"2"}


def test_gradients_match_autograd(gpt2):
    enc = gpt2.tokenize(TEXTS)
    with us.capture(gpt2, ["blocks.1.hook_resid_post", "blocks.0.attn.hook_z"], grad=True) as cache:
        out = gpt2.model(**enc).logits
    loss = out[:, -1].logsumexp(-1).sum()
    (g,) = torch.autograd.grad(loss, cache["blocks.1.hook_resid_post"], retain_graph=True)
    loss.backward()
    torch.testing.assert_close(cache.grads["blocks.1.hook_resid_post"], g)
    assert cache.grads["blocks.0.attn.hook_z"].shape == cache["blocks.0.attn.hook_z"].shape
    gpt2.model.zero_grad(set_to_none=True)
    with pytest.raises(UnlearnscopeError, match="no_grad"):
        with torch.no_grad(), us.capture(gpt2, "blocks.1.hook_resid_post", grad=True):
            gpt2.forward(TEXTS)


def test_stop_at_layer(gpt2):
    out, c = us.run_with_cache(gpt2, TEXTS, None, stop_at_layer=1)
    assert out is None
    assert sorted({n.split(".")[1] for n in c if n.startswith("blocks")}) == ["0"]
    _, full = us.run_with_cache(gpt2, TEXTS, "blocks.0.hook_resid_post")
    assert torch.equal(c["blocks.0.hook_resid_post"], full["blocks.0.hook_resid_post"])


def test_keep_all_records_every_generation_step(gpt2):
    enc = gpt2.tokenize(TEXTS[:1])
    with torch.no_grad(), us.capture(gpt2, "blocks.2.hook_resid_post", keep="all") as cache:
        gpt2.model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=gpt2.tokenizer.pad_token_id)
    steps = cache["blocks.2.hook_resid_post"]
    assert len(steps) == 4 and steps[0].shape[1] == enc["input_ids"].shape[1] and steps[1].shape[1] == 1


def test_empty_prompt_set_is_an_error(gpt2):
    with pytest.raises(UnlearnscopeError, match="empty"):
        gpt2.forward([])
