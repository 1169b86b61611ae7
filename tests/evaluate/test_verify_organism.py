"""Verification on the facts organism (small, seed 0: 20 forget entities) against ground truth.

* a third never-knew model (REF's data and recipe, another weight seed), verified against ORIG and
  the never-knew population {REF, ref1}, reads "erased"; ORIG reads "not unlearned";
* ORIG with an output-only suppression (the answers' logits pushed down at the unembedding, the
  knowledge left in the residual stream) reads "suppressed" (causal depth: intact), and the
  knowledge is "held in the weights" once the inference-time intervention is removed;
* a probes-only run never reads "erased";
* probe depth selection is unbiased: REF plus small weight noise reads RKI ≈ 0, ORIG exactly 1;
* the field's central finding: full-model gradient ascent suppresses recall while relearning
  brings it back.
"""

from contextlib import contextmanager

import pytest
import torch

from unlearnscope.ablate.unlearning import UnlearnConfig, unlearn
from unlearnscope.data import Item
from unlearnscope.evaluate import (
    MeasurementCache,
    ModelSet,
    RelearnConfig,
    VerdictConfig,
    VerifyConfig,
    VerifyData,
    parametric_traces,
    verify,
)
from unlearnscope.evaluate.relearn import relearn_curves
from unlearnscope.model.loading import load
from unlearnscope.organisms import world_facts
from unlearnscope.probes.logit_lens import gold_ranks

# every family, at a light budget: probes (2 seeds), lens, relearning (2 LRs x 2 seeds), in-context, reintroduction,
# formats
LIGHT = (
    VerifyConfig(bos="<bos>", rules=VerdictConfig(n_boot=500))
    .configure("probe", seeds=(0, 1), random_init_control=False)
    .configure("incontext", k=(1,))
    .configure("relearn", seeds=(0, 1), steps=20)
)


@pytest.fixture(scope="module")
def facts_org(small_organism):
    org = small_organism("facts")
    return org, world_facts(org, "forget"), world_facts(org, "retain")


@pytest.fixture(scope="module")
def refs(facts_org):
    """ORIG, the never-knew population {REF, ref1}, and the measurements they share."""
    org = facts_org[0]
    return org.load("orig"), [load(org.variant_path(v)) for v in ("ref", "ref1")], MeasurementCache()


def _data(org):
    return {
        "formats": {k: world_facts(org, "forget", (k,)) for k in ("paraphrase", "mc")},
        "restatements": world_facts(org, "forget", ("cloze", "qa", "paraphrase_train")),
        "incontext_pool": world_facts(org, "retain", ("cloze",)),
    }


def _verify(model, facts_org, refs, config=LIGHT, hold=None):
    org, F, R = facts_org
    orig, references, cache = refs
    return verify(
        ModelSet.of(model, orig, references, hold=hold), VerifyData.of(F, R, **_data(org)), config, cache=cache
    )


def test_a_third_never_knew_model_reads_erased_and_orig_not_unlearned(facts_org, refs):
    org = facts_org[0]
    as_ref = _verify(load(org.variant_path("ref2")), facts_org, refs)
    assert as_ref.verdict["verdict"] == "erased", as_ref.verdict["reason"]
    defined = [m for m in as_ref.metrics if m["rki"] and m["rki"]["defined"]]
    assert {m["name"] for m in defined} >= {
        "recall",
        "probe_transfer",
        "probe_refit",
        "logit_lens",
        "causal_depth",
        "relearn",
        "incontext_k1",
        "reintroduce",
        "format:paraphrase",
        "format:mc",
    }
    for m in defined:  # the never-knew level, with its own spread: every RKI's CI reaches 0
        assert m["rki"]["ci"][0] <= 0 <= m["rki"]["ci"][1] + 1e-9, (m["name"], m["rki"])
    as_orig = _verify(org.load("orig"), facts_org, refs)
    assert as_orig.verdict["verdict"] == "not unlearned"
    assert all(abs(as_orig.metric(m["name"])["rki"]["value"] - 1) < 1e-6 for m in defined)
    assert as_ref.verdict["missing_readouts"] == [] and as_ref.metric("recall")["reference"]["n_models"] == 2
    # the probe protocol separates knowing from never knowing, beyond its controls
    probes = as_orig.probes["transfer"]
    g = probes["groups"].index(probes["chosen_groups"][0])
    assert probes["by_model"]["original"]["task"][g][0] > 0.5 and probes["by_model"]["reference"]["task"][g][0] < 0.2
    # selectivity (task minus control-task accuracy) gains over the never-knew model's at the chosen depth
    sel = {role: probes["by_model"][role]["selectivity"][g] for role in ("original", "reference")}
    assert sel["original"] - sel["reference"] > 0.3, sel


@contextmanager
def answer_penalty(subject, facts, penalty: float = 30.0):
    """Output-only suppression: for prompts that name a forget entity, the logits of that entity's
    answers are lowered at the unembedding (the LM head's output); the residual stream is untouched."""
    tok = subject.tokenizer
    by_entity = {}
    for f in facts:
        by_entity.setdefault(f.subject, set()).add(tok(" " + f.answer, add_special_tokens=False)["input_ids"][0])
    names = [tok(" " + e, add_special_tokens=False)["input_ids"] for e in by_entity]
    width = max(map(len, names))
    table = torch.tensor([n + [-1] * (width - len(n)) for n in names])
    answers = torch.zeros(len(by_entity), subject.anatomy.d_vocab)
    for i, ids in enumerate(by_entity.values()):
        answers[i, list(ids)] = 1.0
    box = {}

    def record(module, args, kwargs):
        box["ids"] = kwargs.get("input_ids", args[0] if args else None)

    def penalise(logits, hook):  # a TransformerLens-style hook function on hook_logits
        ids = box["ids"]
        windows = ids.unfold(1, width, 1)  # [batch, pos, width]
        hit = (
            ((windows[:, :, None] == table[None, None]) | (table[None, None] < 0)).all(-1).any(1).float()
        )  # [batch, entity]
        return logits - penalty * (hit @ answers)[:, None, :].to(logits.dtype)

    handle = subject.model.register_forward_pre_hook(record, with_kwargs=True)
    try:
        with subject.hooks([("hook_logits", penalise)]):
            yield
    finally:
        handle.remove()


def test_output_only_suppression_reads_suppressed_and_is_held_in_the_weights(facts_org, refs):
    org, F, _ = facts_org
    model = org.load("orig")
    v = _verify(model, facts_org, refs, hold=lambda s: answer_penalty(s, F))
    rki = {m["name"]: m["rki"]["value"] for m in v.metrics if m["rki"] and m["rki"]["defined"]}
    assert (
        rki["recall"] < 0.1 and rki["probe_refit"] > 0.5 and rki["logit_lens"] > 0.5
    )  # behaviour gone, knowledge readable
    assert rki["causal_depth"] == pytest.approx(
        1.0, abs=0.02
    )  # the residual stream is ORIG's: nothing of REF's gap is reproduced
    assert v.verdict["verdict"] == "suppressed", v.verdict["reason"]
    assert v.verdict["intervention"] == "inference-time" and "recall" in v.verdict["held_in_weights"]
    assert {m["name"] for m in v.weights_only} >= {"recall", "relearn"}


def test_probes_alone_never_read_erased(facts_org, refs):
    org = facts_org[0]
    cfg = VerifyConfig(bos="<bos>", readouts=("probe",), attacks=(), rules=VerdictConfig(n_boot=500)).configure(
        "probe", seeds=(0, 1), random_init_control=False
    )
    v = _verify(load(org.variant_path("ref2")), facts_org, refs, config=cfg)
    assert v.verdict["verdict"] == "inconclusive" and "no defined relearning readout" in v.verdict["reason"]
    assert {f["name"]: f["finding"] for f in v.findings}["probe_refit"] == "not linearly decodable at margin 0.2"


def test_probe_depth_selection_is_unbiased(facts_org, refs):
    """Groups are chosen on one half of the entities and scored on the other: REF plus small weight
    noise reads probe RKIs whose CIs hold 0, ORIG reads exactly 1, whatever the chosen groups."""
    org = facts_org[0]
    cfg = VerifyConfig(bos="<bos>", readouts=("probe",), attacks=(), rules=VerdictConfig(n_boot=500)).configure(
        "probe", seeds=(0, 1, 2), random_init_control=False
    )
    noisy = org.load("ref")
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in noisy.model.parameters():
            p.add_(1e-3 * torch.randn(p.shape, generator=g))
    v = _verify(noisy, facts_org, refs, config=cfg)
    for mode in ("transfer", "refit"):
        r = v.metric(f"probe_{mode}")["rki"]
        assert r["ci"][0] <= 0 <= r["ci"][1], (mode, r)
        assert len(v.probes[mode]["chosen_groups"]) == 2 and "cross-fitted" in v.probes[mode]["rule"]
    o = _verify(org.load("orig"), facts_org, refs, config=cfg)
    assert all(o.metric(f"probe_{m}")["rki"]["value"] == pytest.approx(1.0) for m in ("transfer", "refit"))


def test_full_gradient_ascent_suppresses_but_relearning_recovers(facts_org, refs):
    org, F, _ = facts_org
    items = [Item(**i) for i in org.ground_truth["items"]]
    forget_items = [i for i in items if i.split == "forget" and i.train and i.kind in ("cloze", "qa")]
    unl = org.load("orig")
    res = unlearn(
        unl,
        forget_items,
        config=UnlearnConfig(method="ga", steps=400, lr=3e-5, batch_size=32, eval_every=2, stop_at_forget_acc=0.1),
        progress=False,
    )
    assert res.stopped == "forget_metric"
    v = _verify(unl, facts_org, refs)
    assert v.metric("recall")["rki"]["ci"][1] <= 0.2  # behaviour at (or below) the never-knew level
    relearn = v.metric("relearn")["rki"]
    assert relearn["ci"][0] > 0 and relearn["value"] > 0.25
    assert v.verdict["knowledge_verdict"] == "suppressed"
    assert v.relearn["reference"]["steps_to_50%"] is None  # the never-knew models never recover held-out facts
    assert v.relearn["area_between_unlearned_and_reference"] > 0.15
    assert v.parametric["summary"]["total_delta_norm"] > 0 and len(v.parametric["modules"]) > 10
    orig = refs[0]
    traces = parametric_traces(orig, unl, vectors=[(2, 0), (3, 5)])
    assert traces.total_delta_norm > 0 and all(v["cos"] < 1.0 for v in traces.vectors)
    for row, (layer, neuron) in zip(
        traces.vectors, [(2, 0), (3, 5)], strict=True
    ):  # Jaccard@50 of the top-50 token sets, by hand
        tops = [
            set((m.anatomy.unembed @ m.anatomy.values(layer)[neuron]).topk(50).indices.tolist()) for m in (orig, unl)
        ]
        assert row["jaccard@50"] == pytest.approx(len(tops[0] & tops[1]) / len(tops[0] | tops[1]))


def test_lens_final_depth_is_the_models_own_ranking_and_relearning_restores_weights(facts_org):
    org, F, _ = facts_org
    subject = org.load("orig")
    ranks = gold_ranks(subject, F[:16])
    assert len(ranks.plot().data[0].z) == len(ranks.depths)
    from unlearnscope.data import encode_facts

    enc = encode_facts(subject, F[:16])
    with torch.no_grad():
        logits = subject.model(**enc.inputs()).logits[torch.arange(16), enc.last]
    want = (logits > logits.gather(1, enc.answer[:, None])).sum(1)
    assert torch.equal(ranks.ranks[-1], want.cpu())
    before = {k: v.clone() for k, v in subject.model.state_dict().items()}
    relearn_curves(subject, F, config=RelearnConfig(lrs=(1e-3,), seeds=(0,), steps=3, eval_every=1))
    assert all(torch.equal(before[k], v) for k, v in subject.model.state_dict().items())


def test_without_a_reference_the_verdict_says_the_excess_is_unknown(facts_org, tmp_path):
    from unlearnscope.evaluate import Verification

    org, F, R = facts_org
    cfg = VerifyConfig(bos="<bos>", readouts=(), attacks=("format",), rules=VerdictConfig(n_boot=200))
    v = verify(ModelSet.of(org.load("orig"), org.load("orig")), VerifyData.of(F, R, formats=_data(org)["formats"]), cfg)
    assert v.verdict["verdict"] == "no reference" and "could not be computed" in v.verdict["reason"]
    assert v.metric("format:mc")["rki"]["value"] is None and "no reference" in v.metric("format:mc")["rki"]["why"]
    assert v.metric("format:mc")["agg_value"] > 0.8  # the numbers themselves are still reported
    back = Verification.load(v.save(tmp_path))
    assert back.verdict == v.verdict and back.metrics == v.metrics
    assert len(back.plot().data) == 1
