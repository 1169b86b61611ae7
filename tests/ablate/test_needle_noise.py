"""Needle (noise + GA on one value vector) and the NOISE reference run."""

import torch

from unlearnscope.ablate.unlearning import UnlearnConfig, needle, noise_reference

from ..conftest import make_subject

FORGET = ["The capital of France is Paris.", "Alice Smith works as a doctor in Berlin."]
UNRELATED = ["def add(a, b): return a + b", "Hello! How are you today?"]


def state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_needle_edits_one_value_vector_only():
    s = make_subject("llama")
    before = state(s.model)
    v0 = s.anatomy.values(1).detach().clone()
    r = needle(s, 1, 7, FORGET, config=UnlearnConfig(method="ga", steps=5, lr=0.05, batch_size=2), progress=False)
    v = s.anatomy.values(1).detach()
    assert not torch.equal(v[7], v0[7]) and torch.equal(v[:7], v0[:7]) and torch.equal(v[8:], v0[8:])
    changed = {k for k, t in state(s.model).items() if not torch.equal(t, before[k])}
    assert changed == {"model.layers.1.mlp.down_proj.weight"}
    assert r.method == "needle" and r.n_params_trained == s.anatomy.d_model
    assert r.edits.verify() == {"model.layers.1.mlp.down_proj.weight": 2 * s.anatomy.d_model}  # noise + GA records
    r.edits.undo()
    assert all(torch.equal(before[k], t) for k, t in state(s.model).items())


def test_noise_reference_trains_on_unrelated_data_and_tracks_the_forget_set():
    s = make_subject("gpt2")
    from unlearnscope.data import Item

    tracked = [Item("The capital of France is", "Paris")]
    r = noise_reference(
        s,
        UNRELATED,
        config=UnlearnConfig(method="ga", steps=4, lr=1e-3, batch_size=2, stop_at_forget_acc=1.0, eval_every=2),
        metric_items=tracked,
        progress=False,
    )
    assert r.method == "noise:ga" and r.steps == 4 and r.stopped == "steps"  # early stopping is off
    assert [m[0] for m in r.forget_metric_curve] == [0, 2, 4]
    r.edits.undo()
