"""The methods at their papers' settings: answer-token losses, Guo et al.'s log(1 - p), learning-rate
schedules, Needle's schedule, RMU's components and norm-scaled control, the reference copy's
lifetime, and the released UOE code's NPO (compat)."""

import gc
import math
import weakref

import pytest
import torch

from unlearnscope.ablate import ComponentSet
from unlearnscope.ablate import objectives as objectives_mod
from unlearnscope.ablate.inputs import encode_inputs
from unlearnscope.ablate.objectives import Objective
from unlearnscope.ablate.unlearning import UnlearnConfig, needle, needle_config, paper_defaults, unlearn
from unlearnscope.data import Fact, Item
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.answer_scores import score_answers

from ..conftest import make_subject

FACTS = [Item("Alice Smith lives in", "Berlin"), Item("The capital of France is", "Paris"), Item("Bob plays", "tennis")]
RETAIN = [Item("The sky is", "blue"), Item("Grass is", "green")]


def test_fact_losses_score_the_answer_tokens_only():
    s = make_subject("gpt2")
    enc = encode_inputs(s, FACTS, "answer")
    n_answer = [len(s.tokenizer(" " + f.answer)["input_ids"]) for f in FACTS]
    assert enc["loss_mask"].sum(1).tolist() == n_answer
    # GA's forget loss is minus the mean answer NLL, as the output metrics score answers (independent code)
    obj = Objective(s, UnlearnConfig(method="ga"), torch.Generator().manual_seed(0))
    _, f_loss, _, _ = obj(enc, None)
    ref = score_answers(s, [f.prompt for f in FACTS], [f.answer for f in FACTS]).avg_loss().mean()
    assert float(f_loss.detach()) == pytest.approx(-float(ref), rel=1e-4)
    # the whole-text variant also scores the prompt and the item's continuation
    text = encode_inputs(s, FACTS, "text")
    assert "loss_mask" not in text and int(text["attention_mask"].sum()) > int(enc["attention_mask"].sum())


def test_log1mp_is_minus_log_one_minus_p_with_the_floor():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7) * 3
    ids = torch.randint(0, 7, (2, 4))
    ids[:, 1:3] = logits[:, :2].argmax(-1)  # a few likely tokens (kept), the rest mostly unlikely (dropped)
    mask = torch.tensor([[0, 1, 1, 1], [0, 0, 1, 1]])
    from unlearnscope.ablate.methods.log1mp import log1mp

    lp = torch.log_softmax(logits[:, :-1], -1).gather(-1, ids[:, 1:, None])[..., 0]
    terms = [
        -math.log(1 - math.exp(float(lp[b, t])))
        for b in range(2)
        for t in range(3)
        if mask[b, t + 1] and lp[b, t] >= -1.0
    ]
    assert 0 < len(terms) < int(mask[:, 1:].sum())
    assert float(log1mp(logits, ids, mask, -1.0)) == pytest.approx(sum(terms) / len(terms), rel=1e-5)
    assert float(log1mp(logits, ids, mask, 0.0)) == 0.0  # every term below the floor: nothing left to push


def test_log1mp_unlearning_lowers_the_answer_probability_and_keeps_the_maintain_set():
    s = make_subject("gpt2")
    p0 = score_answers(s, [f.prompt for f in FACTS], [f.answer for f in FACTS]).avg_loss()
    assert bool((p0 > 5).all())  # a random model: every answer below the floor, log p < -5
    cfg = UnlearnConfig.paper("log1mp", lr=3e-3, steps=20, batch_size=3)
    assert (cfg.schedule, cfg.forget_weight, cfg.alpha, cfg.weight_decay, cfg.log1mp_floor) == (
        "cosine",
        5.0,
        1.0,
        0.0,
        -5.0,
    )
    r = unlearn(s, FACTS, RETAIN, config=cfg, progress=False, metric_items=[])
    assert r.forget_loss_curve == [0.0] * 20  # nothing left to push: only the maintain loss trains
    r.edits.undo()
    r = unlearn(
        s,
        FACTS,
        config=UnlearnConfig.paper("log1mp", lr=3e-2, steps=20, batch_size=3, log1mp_floor=-20.0, retain_weight=0.0),
        progress=False,
        metric_items=[],
    )
    p1 = score_answers(s, [f.prompt for f in FACTS], [f.answer for f in FACTS]).avg_loss()
    assert bool((p1 > p0).all()) and r.forget_loss_curve[-1] < r.forget_loss_curve[0]  # every answer got less likely


def test_schedules_follow_hugging_face_and_cosine_annealing():
    lin = UnlearnConfig(steps=10, schedule="linear", warmup_steps=4)
    assert [lin.lr_factor(k) for k in (0, 2, 4, 7, 10)] == [0.0, 0.5, 1.0, 0.5, 0.0]
    cos = UnlearnConfig(steps=50, schedule="cosine")
    assert (
        cos.lr_factor(0) == 1.0 and cos.lr_factor(25) == pytest.approx(0.5) and cos.lr_factor(50) == pytest.approx(0.0)
    )
    assert UnlearnConfig(steps=5, warmup_steps=2).lr_factor(1) == 0.5 and UnlearnConfig().lr_factor(3) == 1.0
    with pytest.raises(UnlearnscopeError, match="schedule"):
        UnlearnConfig(schedule="step").validate()
    with pytest.raises(UnlearnscopeError, match="loss_on"):
        UnlearnConfig(loss_on="prompt").validate()
    assert UnlearnConfig(method="simnpo").beta_ == 2.5 and UnlearnConfig(method="npo").beta_ == 0.1
    assert set(paper_defaults()) >= {"ga", "graddiff", "npo", "simnpo", "rmu", "log1mp", "needle"}
    with pytest.raises(UnlearnscopeError, match="no paper settings"):
        UnlearnConfig.paper("dpo")


def test_needle_at_the_paper_schedule_is_noise_only_on_a_short_corpus():
    """One epoch of < 64 rows at batch 32 is one step, all warm-up: lr 0, the vector keeps only its noise."""
    s = make_subject("llama")
    cfg = needle_config(2)
    assert (cfg.steps, cfg.warmup_steps, cfg.lr, cfg.batch_size, cfg.weight_decay) == (1, 1, 0.2, 32, 0.01)
    assert needle_config(320).steps == 10
    v0 = s.anatomy.values(1).detach().clone()
    r = needle(s, 1, 7, ["The capital of France is Paris.", "Alice Smith works as a doctor."], progress=False)
    delta = s.anatomy.values(1).detach() - v0
    assert len(r.edits.records) == 1 and r.edits.records[0].op.startswith("noise")  # the GA step moved nothing
    assert float(delta[7].std()) == pytest.approx(0.1, rel=0.5) and torch.equal(delta[:7], torch.zeros_like(delta[:7]))
    r.edits.undo()
    with pytest.raises(UnlearnscopeError, match="Needle is gradient ascent"):
        needle(s, 1, 7, ["x y z"], config=UnlearnConfig(method="npo"), progress=False)


def test_rmu_defaults_train_three_mlps_with_a_norm_scaled_control_and_release_the_reference(monkeypatch):
    s = make_subject("llama")  # 3 layers: rmu_layer defaults to the middle one (1): MLPs of blocks 0 and 1
    seen = {}
    init = Objective.__init__

    def spy(self, *a, **k):
        init(self, *a, **k)
        seen["ref"], seen["obj"] = weakref.ref(self.ref), self

    monkeypatch.setattr(objectives_mod.Objective, "__init__", spy)
    texts = ["The capital of France is Paris.", "Alice Smith works as a doctor in Berlin."]
    r = unlearn(
        s,
        texts,
        ["Bob plays tennis on Sundays."],
        config=UnlearnConfig(method="rmu", steps=2, lr=1e-3, batch_size=2),
        progress=False,
    )
    a = s.anatomy
    assert r.components == [f"blocks.{l}.mlp.value:0-{a.d_mlp - 1}" for l in (0, 1)]
    assert r.n_params_trained == 2 * a.d_mlp * a.d_model
    obj = seen.pop("obj")
    from unlearnscope.model.activations import run_with_cache

    r.edits.undo()
    _, c = run_with_cache(s, texts, "blocks.1.hook_resid_post")
    enc = s.tokenize(texts)
    norms = c["blocks.1.hook_resid_post"].norm(dim=-1)[enc["attention_mask"].bool()]
    assert obj.control_norm == pytest.approx(5.0 * float(norms.mean()), rel=1e-4)
    assert float(obj.control.norm()) == pytest.approx(obj.control_norm, rel=1e-5)
    assert obj.ref is None
    del obj
    gc.collect()
    assert seen["ref"]() is None  # the frozen copy is gone once the run returns
    absolute = Objective(s, UnlearnConfig(method="rmu", rmu_scale=None), torch.Generator().manual_seed(0))
    assert float(absolute.control.norm()) == pytest.approx(6.5)  # WMDP's coefficient, when asked for


def test_uoe_code_compat_npo_is_a_weighted_gradient_ascent():
    """With the reference being the trained model itself, NPO's loss is (2/β) log 2 at every step and its
    gradient is that of the mean summed log-likelihood (the released SEUF trainer's bug)."""
    s = make_subject("gpt2")
    enc = encode_inputs(s, FACTS, "answer")
    cfg = UnlearnConfig(method="npo", npo_reference="self", beta=0.1)
    obj = Objective(s, cfg, torch.Generator().manual_seed(0))
    assert obj.ref is None  # no frozen copy in this mode
    loss, _, _, _ = obj(enc, None)
    assert float(loss.detach()) == pytest.approx(2 / 0.1 * math.log(2), rel=1e-5)
    params = [p for p in s.model.parameters() if p.requires_grad]
    g_npo = torch.autograd.grad(loss, params, allow_unused=True)
    from unlearnscope.ablate import losses as L

    out = s.model(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"])
    logp, _ = L.token_logprobs(out.logits, enc["input_ids"], enc["loss_mask"])
    g_ga = torch.autograd.grad(logp.mean(), params, allow_unused=True)
    for a, b in zip(g_npo, g_ga, strict=True):
        if a is not None:
            assert torch.allclose(a, b, atol=1e-6, rtol=1e-4)
    with pytest.raises(UnlearnscopeError, match="npo_reference"):
        UnlearnConfig(method="npo", npo_reference="model").validate()


def test_fact_inputs_need_an_answer_that_continues_the_prompt():
    s = make_subject("gpt2")
    assert encode_inputs(s, [Fact("Paris is in", "France")], "answer")["loss_mask"].sum() >= 1
    masked = ComponentSet.parse(s, "blocks.0.mlp")
    r = unlearn(
        s,
        FACTS,
        components=masked,
        config=UnlearnConfig(steps=2, lr=1e-3, batch_size=3, loss_on="text"),
        progress=False,
        metric_items=[],
    )
    assert r.config["loss_on"] == "text"
    r.edits.undo()
