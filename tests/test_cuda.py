"""The hot paths on CUDA compute what they compute on CPU, and masked training stays exact there.

Skipped without a GPU (this project's CI has none); a session with a GPU runs `bench/gpu_check.sh`,
which runs this module first.  Every test builds the same tiny model twice (CPU and CUDA, same
weights) and compares the results, so a device mismatch (a tensor left on the CPU, an index on the
wrong device) fails here rather than in a user's notebook."""

import copy
import os

import pytest
import torch

import unlearnscope as us
from unlearnscope.model.tiny import tiny_model

# UNLEARNSCOPE_TEST_ALT_DEVICE=cpu runs the module against a second CPU copy: a check of the tests themselves
DEVICE = os.environ.get("UNLEARNSCOPE_TEST_ALT_DEVICE", "cuda")
pytestmark = pytest.mark.skipif(
    DEVICE.startswith("cuda") and not torch.cuda.is_available(),
    reason="no CUDA device (run bench/gpu_check.sh on a GPU machine)",
)
ON = torch.device(DEVICE).type

TEXTS = ["The capital of France is Paris.", "Bob plays tennis", "12 plus 7 equals 19."]


def pair(model_type: str):
    """The same tiny model as a CPU subject and a CUDA subject."""
    model, tok = tiny_model(model_type, 0)
    return us.load(model, tok), us.load(copy.deepcopy(model), tok, device=DEVICE)


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "mixtral"])
def test_capture_matches_cpu(model_type):
    cpu, gpu = pair(model_type)
    names = [f"blocks.{l}.hook_resid_post" for l in range(cpu.anatomy.n_layers)] + ["blocks.0.hook_mlp_out"]
    caches = []
    for s in (cpu, gpu):
        with torch.no_grad(), us.capture(s, names) as c:
            s.forward(TEXTS[0])
        caches.append(c)
    for n in names:
        assert caches[1][n].device.type == ON
        torch.testing.assert_close(caches[1][n].cpu(), caches[0][n], rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("model_type", ["gpt2", "qwen2_moe"])
def test_concept_scores_match_cpu(model_type):
    from unlearnscope.localize.concepts import concept_scores, scan_concept

    cpu, gpu = pair(model_type)
    a, b = (concept_scores(s, [7, 19, 40]) for s in (cpu, gpu))
    assert b.scores.device.type == ON and a.groups == b.groups
    torch.testing.assert_close(b.scores.cpu(), a.scores, rtol=1e-3, atol=1e-4)
    top_a, top_b = (scan_concept(s, [7, 19, 40], top=3).top for s in (cpu, gpu))
    assert [(r["layer"], r["expert"], r["neuron"]) for r in top_a] == [
        (r["layer"], r["expert"], r["neuron"]) for r in top_b
    ]


def test_routing_stats_match_cpu():
    from unlearnscope.localize.experts import routing_stats

    cpu, gpu = pair("mixtral")
    a, b = (routing_stats(s, TEXTS, batch_size=2, keep_sequences=True) for s in (cpu, gpu))
    torch.testing.assert_close(b.frequency, a.frequency, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(b.affinity, a.affinity, rtol=1e-3, atol=1e-5)
    assert b.n_tokens == a.n_tokens


def test_probes_match_cpu():
    from unlearnscope.probes.solvers import fit_probes

    g = torch.Generator().manual_seed(0)
    y = torch.randint(4, (1, 200), generator=g)
    X = torch.randn(3, 200, 16, generator=g) + torch.randn(3, 4, 16, generator=g)[:, y[0]] * 2
    train = torch.zeros(1, 200, dtype=torch.bool)
    train[0, :150] = True
    for method in ("ridge", "logistic"):
        a = fit_probes(X, y, train, 4, method=method, l2=1 / 150).predict(X)
        b = fit_probes(X.to(DEVICE), y.to(DEVICE), train.to(DEVICE), 4, method=method, l2=1 / 150).predict(X.to(DEVICE))
        assert (b.cpu() == a).float().mean() > 0.98, method


def test_masked_unlearning_stays_exact_on_cuda():
    from unlearnscope.ablate import ComponentSet
    from unlearnscope.ablate.unlearning import UnlearnConfig, unlearn

    _, s = pair("llama")
    before = {k: v.detach().clone() for k, v in s.model.state_dict().items()}
    cs = ComponentSet.parse(s, "blocks.1.mlp.value:[2,5] blocks.0.attn.head:1")
    r = unlearn(
        s,
        TEXTS[:2],
        TEXTS[2:],
        components=cs,
        config=UnlearnConfig(steps=4, lr=1e-2, batch_size=2, weight_decay=0.1),
        progress=False,
    )
    assert r.steps == 4 and all(x == x for x in r.forget_loss_curve)
    masks = cs.masks(s)
    for k, v in s.model.state_dict().items():
        if k in masks:
            assert torch.equal(v[~masks[k]], before[k][~masks[k]])
        else:
            assert torch.equal(v, before[k])
    r.edits.undo()
    assert all(torch.equal(v, before[k]) for k, v in s.model.state_dict().items())


def test_attribution_patching_matches_cpu():
    from collections import Counter

    from unlearnscope.data import Fact
    from unlearnscope.localize.facts import attribution_patching

    cpu, gpu = pair("gpt2")
    pool = ["Bob", "Alice", "Tom", "Anna", "Paul", "Mary", "John", "Kate", "Mark", "Lisa"]
    length = {n: len(cpu.tokenizer(" " + n, add_special_tokens=False)["input_ids"]) for n in pool}
    common = Counter(length.values()).most_common(1)[0][0]  # corrupted subjects must match in length
    facts = [Fact(f"{n} lives in the city of", "Paris", n) for n in pool if length[n] == common]
    a, b = (attribution_patching(s, facts, seed=0) for s in (cpu, gpu))
    torch.testing.assert_close(b.effects, a.effects, rtol=1e-2, atol=1e-3)
