"""The organism trainer: deterministic, validated, domain-balanced."""

import pytest
import torch

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.organisms.facts import FactsConfig, facts_world
from unlearnscope.organisms.models import make_model
from unlearnscope.organisms.tokenizer import word_tokenizer
from unlearnscope.organisms.train import TrainConfig, accuracy, train_lm  # noqa: F401


def tiny_run(seed=0, steps=15):
    w = facts_world(FactsConfig(n_entities=8, n_never_seen=2), 0)
    tok = word_tokenizer(w.vocab())
    model = make_model("llama", dict(d_model=32, n_layers=2, n_heads=4, d_mlp=64), tok, seed)
    info = train_lm(
        model,
        tok,
        [i for i in w.items if i.train],
        TrainConfig(steps=steps, batch_size=16, lr=3e-3, warmup=5),
        seed,
        progress=False,
    )
    return model, tok, w, info


def test_training_is_bit_reproducible():
    a, b, c = tiny_run()[0], tiny_run()[0], tiny_run(seed=1)[0]
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)


def test_training_learns_the_templates():
    """The loss falls from ~ln(vocab) to well below it, and the template words are predicted."""
    model, tok, w, info = tiny_run(steps=150)
    assert info["loss_every_100"][0] > 0.9 * torch.log(torch.tensor(float(len(tok)))).item()
    assert info["final_loss"] < 0.5 * info["loss_every_100"][0]
    # the word after "<bos> NAME lives" is "in" for every entity: a template, not a fact
    from unlearnscope.data import Item

    probes = [
        Item(i.prompt.rsplit(" ", 1)[0], "in") for i in w.items if i.kind == "cloze" and i.prompt.endswith(" lives in")
    ]
    assert accuracy(model, tok, probes) >= 0.8  # chance: 1 / vocab


@pytest.mark.parametrize("bad", [dict(steps=0), dict(lr=-1.0), dict(batch_size=0), dict(beta2=1.5), dict(warmup=-3)])
def test_invalid_training_configs_fail_before_training(bad):
    with pytest.raises(UnlearnscopeError, match="invalid training config"):
        TrainConfig(**bad).validate()


def test_invalid_model_configs():
    tok = word_tokenizer(["a", "b"])
    with pytest.raises(UnlearnscopeError, match="divisible"):
        make_model("gpt2", dict(d_model=30, n_layers=1, n_heads=4), tok, 0)
    with pytest.raises(UnlearnscopeError, match="unknown organism architecture"):
        make_model("rwkv", dict(d_model=32, n_layers=1, n_heads=4), tok, 0)
    with pytest.raises(UnlearnscopeError, match="positive"):
        make_model("llama", dict(d_model=32, n_layers=0, n_heads=4, d_mlp=64), tok, 0)
