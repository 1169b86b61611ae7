"""Routing statistics, UOE attribution, fTRI maps, random-expert controls and EMoE on tiny models
(checked against hand computations and planted structure)."""

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.errors import OutOfRangeError, UnlearnscopeError
from unlearnscope.localize.experts import (
    ExpertRanking,
    FTRIMap,
    PromptFamily,
    RoutingStats,
    balanced_kmeans,
    compare_routing,
    emergent_experts,
    expert_control,
    ftri,
    js_divergence,
    matched_draws,
    refusal_classifier,
    routing_stats,
    uoe_attribution,
)

TEXTS = [
    "The capital of France is Paris.",
    "def add(a, b): return a + b",
    "Hello! How are you today?",
    "12 plus 7 equals 19.",
]


@pytest.fixture(scope="module")
def moe():
    return make_subject("mixtral")


def _manual(s, texts):
    """UOE affinity, frequency and entropy computed token by token from the router logits."""
    a = s.anatomy
    aff, freq, ent, n = (
        torch.zeros(len(a.moe_layers), a.n_experts),
        torch.zeros(len(a.moe_layers), a.n_experts),
        torch.zeros(len(a.moe_layers)),
        0,
    )
    for t in texts:  # one unpadded sequence at a time
        enc = s.tokenize([t])
        logits = []
        hs = [
            a.module(a.path(l, "mlp.gate")).register_forward_hook(lambda m, i, o, out=logits: out.append(o[0]))
            for l in a.moe_layers
        ]
        with torch.no_grad():
            s.model(**enc)
        for h in hs:
            h.remove()
        for r, lg in enumerate(logits):
            p = lg.float().softmax(-1)
            top = p.topk(a.top_k, -1).indices
            g = torch.zeros_like(p).scatter(1, top, p.gather(1, top))
            aff[r] += g.mean(0)
            freq[r] += torch.zeros_like(p).scatter(1, top, 1.0).sum(0)
            ent[r] += -(p * p.log()).sum()
        n += enc["input_ids"].shape[1]
    return aff / len(texts), freq / n, ent / n


def test_routing_stats_match_a_token_by_token_computation(moe, tmp_path):
    st = routing_stats(moe, TEXTS, batch_size=3, keep_sequences=True, keep_tokens=True)  # padded batches
    aff, freq, ent = _manual(moe, TEXTS)
    torch.testing.assert_close(st.affinity, aff, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(st.frequency, freq, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(st.entropy, ent, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(st.frequency.sum(1), torch.full((3,), 2.0))
    torch.testing.assert_close(st.prob_mean.sum(1), torch.ones(3))
    assert st.n_tokens == int(moe.tokenize(TEXTS)["attention_mask"].sum()) and st.n_sequences == 4
    assert st.seq_counts.shape == (4, 3, 4) and int(st.seq_counts.sum()) == 2 * 3 * st.n_tokens
    assert st.token_experts.shape == (st.n_tokens, 3, 2)
    last = routing_stats(moe, TEXTS, positions="last")
    assert last.n_tokens == 4
    back = RoutingStats.load(st.save(tmp_path))
    torch.testing.assert_close(back.affinity, st.affinity)
    assert len(st.plot().data) == 1


def test_compare_routing_sees_a_router_change(moe):
    same = compare_routing(moe, moe, TEXTS)
    assert same.mean_overlap == 1.0 and float(same.jsd.max()) < 1e-9
    other = make_subject("mixtral")
    w = other.anatomy.router_weight(1)
    w.data[2] += 5 * w.data.abs().max()  # make expert 2 of layer 1 win far more often
    cmp = compare_routing(moe, other, TEXTS)
    assert cmp.overlap[1] < 1.0 and cmp.overlap[0] == 1.0 and cmp.overlap[2] == 1.0
    assert float(cmp.frequency_shift[1, 2]) > 0 and float(cmp.jsd[1]) > 0
    assert js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])).item() == pytest.approx(0.6931, abs=1e-4)


def test_uoe_attribution_finds_a_planted_expert(moe):
    s = make_subject("mixtral")
    r = s.anatomy.router_weight(2)
    # plant: expert 3 of layer 2 fires on every token (its router row aligns with a large bias direction)
    ln = s.anatomy.module(s.anatomy.path(2, "post_attention_layernorm"))
    ln.weight.data[:] = 1.0
    r.data[3] = 0
    with torch.no_grad():
        acts = []
        h = ln.register_forward_hook(lambda m, i, o: acts.append(o))
        s.model(**s.tokenize(TEXTS))
        h.remove()
        mean_in = acts[0][s.tokenize(TEXTS)["attention_mask"].bool()].mean(0)
    r.data[3] = 50 * mean_in / mean_in.norm() ** 2
    ranking = uoe_attribution(s, TEXTS)
    assert ranking.top(1)[0][:2] == (2, 3)
    assert ranking.top(1, layer=0)[0][0] == 0 and len(ranking.top(layer=1)) == 4
    with pytest.raises(UnlearnscopeError, match="not an MoE layer"):
        ranking.top(1, layer=7)
    diff = uoe_attribution(s, TEXTS, contrast=TEXTS)
    assert float(diff.scores.abs().max()) == 0.0
    assert ranking.ranked_experts(2)[0] == {"layer": 2, "expert": 3, "score": round(ranking.top(1)[0][2], 6)}


def test_ftri_maps_against_hand_counts_and_bad_input(moe, tmp_path):
    fam = PromptFamily("{who} likes {what}.", {"who": ["Alice", "Bob"], "what": ["tea", "chess"]})
    prompts = fam.expand()
    assert prompts == ["Alice likes tea.", "Alice likes chess.", "Bob likes tea.", "Bob likes chess."]
    labels = ["a", "b", "a", "c"]
    fm = ftri(moe, prompts, labels=labels, target="a")
    st = routing_stats(moe, prompts, keep_sequences=True)
    m = st.seq_counts
    expect = m[[0, 2]].mean(0) - (m[1] + m[3]) / 2
    torch.testing.assert_close(fm.differential, expect)
    by_prompt = ftri(moe, prompts, labels=labels, target="a", reference="prompts", by="weights", normalize=True)
    w = st.seq_weights / st.seq_tokens[:, None, None]
    torch.testing.assert_close(by_prompt.differential, w[[0, 2]].mean(0) - w[[1, 3]].mean(0))
    assert fm.class_counts == {"a": 2, "b": 1, "c": 1}
    assert FTRIMap.load(fm.save(tmp_path)).target == "a"
    assert isinstance(fm.ranking(), ExpertRanking) and len(fm.plot().data) == 1
    with pytest.raises(UnlearnscopeError, match="has no prompts"):
        ftri(moe, prompts, labels=labels, target="refused")
    with pytest.raises(UnlearnscopeError, match="another class"):
        ftri(moe, prompts, labels=["a"] * 4, target="a")
    with pytest.raises(UnlearnscopeError, match="empty"):
        ftri(moe, [], labels=[])
    with pytest.raises(UnlearnscopeError, match="EMoE"):
        ftri(make_subject("gpt2"), prompts, labels=labels, target="a")
    clf = refusal_classifier()
    assert clf("p", " i cannot help with that .") == "refused" and clf("p", "sure , here is how .") == "answered"


def test_expert_control_draws_matched_random_sets(moe):
    draws = matched_draws(moe, [(0, 1), (2, 3), (2, 0)], 20, seed=1)
    assert all(sorted(l for l, _ in d) == [0, 2, 2] for d in draws)
    assert all((0, 1) not in d and (2, 3) not in d and (2, 0) not in d for d in draws)
    enc = moe.tokenize(TEXTS)
    with torch.no_grad():
        base = moe.model(**enc).logits

    def evaluate(s):
        with torch.no_grad():
            return {"change": float((s.model(**enc).logits - base).abs().mean()), "const": 1.0}

    ctl = expert_control(moe, [(1, 0)], evaluate, mode="gain", gain=1.0, n_random=5)  # gain 1 = no-op
    assert ctl.delta("change") == 0.0 and ctl.p_value("change") == 1.0
    ctl = expert_control(moe, [(1, 0)], evaluate, mode="off", n_random=5)
    assert ctl.delta("change") > 0 and ctl.summary()["const"]["delta"] == 0.0
    with pytest.raises(UnlearnscopeError, match="too few left"):
        matched_draws(moe, [(0, 0), (0, 1), (0, 2)], 3)


def test_emoe_clusters_are_balanced_and_interventions_work(tmp_path):
    x = torch.randn(8, 16, generator=torch.Generator().manual_seed(0)).repeat_interleave(12, 0)
    x = x + 0.05 * torch.randn(96, 16, generator=torch.Generator().manual_seed(1))
    ids = balanced_kmeans(x, 8)
    assert torch.bincount(ids).tolist() == [12] * 8
    assert all(len(set(ids[i * 12 : (i + 1) * 12].tolist())) == 1 for i in range(8)), "planted clusters recovered"
    with pytest.raises(UnlearnscopeError, match="dividing"):
        balanced_kmeans(x, 7)
    s = make_subject("llama")
    em = emergent_experts(s, 4, top_k=2)
    assert all(torch.bincount(em.assignment(l)).tolist() == [24] * 4 for l in em.layers)
    st = em.routing_stats(s, TEXTS)
    torch.testing.assert_close(st.frequency.sum(1), torch.full((3,), 2.0))
    enc = s.tokenize(TEXTS)
    with torch.no_grad():
        base = s.model(**enc).logits
        with em.route(s, off=[(1, 2)]):
            off = s.model(**enc).logits
        with em.route(s, gain={(1, 2): 0.0}):
            g0 = s.model(**enc).logits
        with em.route(s, gated=True, force=[(1, 2)]):
            forced = s.model(**enc).logits
    assert not torch.allclose(off, base) and torch.equal(off, g0) and not torch.allclose(forced, base)
    cs = em.components(s, 1, 2)
    assert cs.n_params == 24 * 3 * s.anatomy.d_model
    with pytest.raises(OutOfRangeError):
        em.neurons(1, 9)
    with pytest.raises(UnlearnscopeError, match="gated"):
        with em.route(s, force=[(1, 0)]):
            pass
    with pytest.raises(UnlearnscopeError, match="MoE layers"):
        emergent_experts(make_subject("mixtral"), 4)
