"""The unlearning trainer: exact masks, checksums, every objective, divergence, early stopping,
and the validation on the facts organism (numbers with margins)."""

import math
import warnings

import pytest
import torch

from unlearnscope.ablate import ComponentSet
from unlearnscope.ablate.methods import UNLEARNING_METHODS
from unlearnscope.ablate.unlearning import UnlearnConfig, unlearn
from unlearnscope.data import Item
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.organisms.train import accuracy

from ..conftest import make_subject

FORGET = ["The capital of France is Paris.", "Alice Smith works as a doctor in Berlin."]
RETAIN = ["Bob plays tennis on Sundays.", "The sky is blue and the grass is green.", "12 plus 7 equals 19."]


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("method", UNLEARNING_METHODS.names())
def test_masked_training_touches_only_the_component_set(method):
    s = make_subject("llama")
    before = state(s.model)
    cs = ComponentSet.parse(s, "blocks.1.mlp.value:[2,5] blocks.0.attn.head:1")
    cfg = UnlearnConfig(method=method, steps=6, lr=1e-2, batch_size=2, weight_decay=0.1, rmu_layer=1)
    r = unlearn(s, FORGET, RETAIN, components=cs, config=cfg, progress=False)
    assert r.n_params_trained == cs.n_params and r.steps == 6 and len(r.forget_loss_curve) == 6
    after = state(s.model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed <= {"model.layers.1.mlp.down_proj.weight", "model.layers.0.self_attn.o_proj.weight"} and changed
    masks = cs.masks(s)
    for k in changed:  # bit-identical outside the slices, even with weight decay
        assert torch.equal(after[k][~masks[k]], before[k][~masks[k]])
    r.edits.verify()
    r.edits.undo()
    assert all(torch.equal(before[k], v) for k, v in state(s.model).items())


def test_objectives_move_the_forget_loss_the_right_way():
    for method in ("ga", "graddiff", "npo", "simnpo"):
        s = make_subject("gpt2")
        enc = s.tokenize(FORGET)
        with torch.no_grad():
            before = s.model(**enc, labels=enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)).loss
        r = unlearn(
            s, FORGET, RETAIN, config=UnlearnConfig(method=method, steps=10, lr=1e-3, batch_size=2), progress=False
        )
        with torch.no_grad():
            after = s.model(**enc, labels=enc["input_ids"].masked_fill(enc["attention_mask"] == 0, -100)).loss
        assert after > before + 0.05, method  # the forget texts became less likely
        r.edits.undo()


def test_rmu_pushes_forget_activations_to_the_control_vector():
    s = make_subject("llama")
    from unlearnscope.model.activations import run_with_cache

    name = "blocks.1.hook_resid_post"
    _, c0 = run_with_cache(s, FORGET, name)
    r = unlearn(
        s,
        FORGET,
        RETAIN,
        components=ComponentSet.parse(s, "blocks.0.mlp blocks.1.mlp"),
        config=UnlearnConfig(method="rmu", steps=40, lr=3e-3, batch_size=2, rmu_layer=1),
        progress=False,
    )
    assert r.forget_loss_curve[-1] < 0.5 * r.forget_loss_curve[0]
    _, c1 = run_with_cache(s, FORGET, name)
    assert not torch.allclose(c0[name], c1[name])
    r.edits.undo()


def unlearn_with_inf_lr_at(s, step: int, cfg: UnlearnConfig):
    """`unlearn` with an AdamW whose ``step``-th update uses an infinite learning rate (the weights
    become non-finite while that step's loss was finite)."""

    class Boom(torch.optim.AdamW):
        calls = 0

        def step(self, closure=None):
            Boom.calls += 1
            if Boom.calls == step:
                for g in self.param_groups:
                    g["lr"] = float("inf")
            return super().step(closure)

    real = torch.optim.AdamW  # the training loop builds its optimizer from torch.optim.AdamW
    torch.optim.AdamW = Boom
    try:
        return unlearn(s, FORGET, [], config=cfg, progress=False)
    finally:
        torch.optim.AdamW = real


def weights_after_5_steps(s):
    r_ok = unlearn(s, FORGET, [], config=UnlearnConfig(method="ga", steps=5, lr=1e-3, batch_size=2), progress=False)
    at5 = state(s.model)
    r_ok.edits.undo()
    return at5


def test_divergence_rolls_back_to_the_last_good_checkpoint():
    s = make_subject("gpt2")
    enc = s.tokenize(FORGET)
    at5 = weights_after_5_steps(s)
    # good for 6 steps (checkpoint at step 5), then an infinite learning rate
    r = unlearn_with_inf_lr_at(s, 7, UnlearnConfig(method="ga", steps=12, lr=1e-3, batch_size=2, eval_every=5))
    assert (
        r.stopped.startswith("diverged at step 7")
        and "step 5" in r.stopped
        and r.steps == 5
        and len(r.forget_loss_curve) == 5
    )
    assert all(torch.equal(at5[k], v) for k, v in state(s.model).items())  # weights = checkpoint of step 5
    assert all(math.isfinite(x) for x in r.forget_loss_curve)
    r.edits.verify()
    r.edits.undo()
    del enc


@pytest.mark.parametrize("last_step", [7, 10])
def test_divergence_on_a_step_no_later_step_reads_is_still_caught(last_step):
    """The weights' finiteness is read with the next step's numbers, before any checkpoint, and
    after the loop: a step that breaks the weights is never left in place, whichever step it is
    (7: the run's last step; 10: an evaluation step)."""
    s = make_subject("gpt2")
    at5 = weights_after_5_steps(s)
    r = unlearn_with_inf_lr_at(
        s, last_step, UnlearnConfig(method="ga", steps=last_step, lr=1e-3, batch_size=2, eval_every=5)
    )
    assert r.stopped.startswith(f"diverged at step {last_step}") and "(step 5)" in r.stopped and r.steps == 5
    assert len(r.forget_loss_curve) == 5 and all(torch.equal(at5[k], v) for k, v in state(s.model).items())
    r.edits.undo()


def test_bad_input():
    s = make_subject("gpt2")
    with pytest.raises(UnlearnscopeError, match="empty forget"):
        unlearn(s, [], RETAIN, progress=False)
    with pytest.raises(UnlearnscopeError, match="needs a retain set"):
        unlearn(s, FORGET, [], config=UnlearnConfig(method="graddiff"), progress=False)
    with pytest.raises(UnlearnscopeError, match="unknown unlearning method"):
        unlearn(s, FORGET, RETAIN, config=UnlearnConfig(method="dpo"), progress=False)
    with pytest.raises(UnlearnscopeError, match="invalid unlearning config"):
        unlearn(s, FORGET, RETAIN, config=UnlearnConfig(steps=0), progress=False)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        r = unlearn(
            s,
            FORGET,
            FORGET[:1] + RETAIN,
            config=UnlearnConfig(method="graddiff", steps=1, batch_size=2),
            progress=False,
        )
        r.edits.undo()
    assert any("1 of 2 forget texts also appear in the retain set" in str(x.message) for x in w)


def test_validation_on_the_facts_organism(small_organism):
    """Full-model GradAscent reaches <= 10% forget recall; a hand-picked single MLP layer reaches
    the same level too (its retain cost is reported in the closing note, not asserted)."""
    org = small_organism("facts")
    items = [Item(**i) for i in org.ground_truth["items"]]
    forget = [i for i in items if i.split == "forget" and i.kind in ("cloze", "qa")]
    retain = [i for i in items if i.split == "retain" and i.kind in ("cloze", "qa")]
    results = {}
    for spec, lr in ((None, 1e-4), ("blocks.0.mlp", 3e-4)):
        s = org.load("orig")
        cs = ComponentSet.parse(s, spec) if spec else None
        r = unlearn(
            s,
            forget,
            retain,
            components=cs,
            progress=False,
            config=UnlearnConfig(method="ga", steps=150, lr=lr, stop_at_forget_acc=0.1, eval_every=5),
        )
        results[spec] = (r.forget_metric_curve[-1][1], accuracy(s.model, s.tokenizer, retain), r)
        assert r.forget_metric_curve[0][1] >= 0.95  # it knew them
        assert results[spec][0] <= 0.10
        counts = r.edits.verify()
        if cs is not None:
            assert set(counts) <= set(cs.params()) and sum(counts.values()) == cs.n_params
    assert results["blocks.0.mlp"][2].n_params_trained < results[None][2].n_params_trained / 5


def test_unlearn_cli_on_an_organism_without_files(small_organism, tmp_path):
    import json

    from typer.testing import CliRunner

    from unlearnscope.cli import app

    org = small_organism("facts")
    n_forget = sum(1 for i in org.ground_truth["items"] if i["split"] == "forget" and i["kind"] in ("cloze", "qa"))
    res = CliRunner().invoke(
        app,
        [
            "unlearn",
            "--model",
            "organism:facts",
            "--forget",
            "organism:forget",
            "--retain",
            "organism:retain",
            "--method",
            "npo",
            "--components",
            "blocks.0.mlp",
            "--steps",
            "4",
            "--out",
            str(tmp_path / "npo"),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["steps"] == 4 and summary["forget_metric_curve"][0][1] >= 0.95 and n_forget > 0
    assert (tmp_path / "npo" / "patch.safetensors").is_file()


def test_token_sets_and_periodic_checkpoints(tmp_path):
    from unlearnscope.model import EditPatch

    s = make_subject("gpt2")
    ids = s.tokenize(FORGET)
    token_lists = [r[m.bool()].tolist() for r, m in zip(ids["input_ids"], ids["attention_mask"], strict=True)]
    cfg = UnlearnConfig(
        method="ga", steps=6, lr=1e-3, batch_size=2, checkpoint_every=3, checkpoint_dir=str(tmp_path / "ckpt")
    )
    a = unlearn(s, token_lists, None, components=ComponentSet.parse(s, "blocks.1.mlp"), config=cfg, progress=False)
    after_a = state(s.model)
    a.edits.undo()
    b = unlearn(s, FORGET, None, components=ComponentSet.parse(s, "blocks.1.mlp"), config=cfg, progress=False)
    assert all(torch.equal(after_a[k], v) for k, v in state(s.model).items())  # texts and token sets train alike
    assert sorted(p.name for p in (tmp_path / "ckpt").iterdir()) == ["step-000003", "step-000006"]
    b.edits.undo()
    before = state(s.model)
    ed = EditPatch.load(tmp_path / "ckpt" / "step-000006").apply(s)
    assert all(torch.equal(after_a[k], v) for k, v in state(s.model).items())  # the last checkpoint is the final state
    ed.undo()
    assert all(torch.equal(before[k], v) for k, v in state(s.model).items())
