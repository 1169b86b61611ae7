"""FFN statistics, Neuron Adjust and Key Space Detection on tiny random models (ground truth by
hand computation)."""

from __future__ import annotations

import math

import pytest
import torch

from tests.conftest import TEXTS, make_subject
from unlearnscope.errors import OutOfRangeError, UnlearnscopeError
from unlearnscope.localize.skills import (
    FFNStats,
    KeySpaceCube,
    NeuronSelection,
    adjust_values,
    ffn_site,
    ffn_stats,
    fit_key_space,
    generate_with_abstention,
    key_space_detector,
    key_space_distance,
    key_space_roc,
    key_space_steering,
    neuron_adjust,
    select_neurons,
)

FORGET = ["12 plus 7 equals 19.", "3 plus 4 equals 7.", "8 plus 1 equals 9 and more", "5 plus 5", "6 plus 2 equals 8."]
RETAIN = [
    "The capital of France is Paris.",
    "Bob plays tennis on Sundays",
    "A red kite flew",
    "Birds sing at dawn in spring.",
]


def _manual(s, texts, layer, site, positions):
    """Two-pass reference: every counted vector, stacked."""
    name = ffn_site(s, layer, site)
    rows = []
    for t in texts:  # one text at a time: no padding at all
        enc = s.tokenize([t])
        with s.capture(name) as cache, torch.no_grad():
            s.model(**enc)
        act = cache[name].reshape(enc["input_ids"].shape[1], -1)
        rows.append(act if positions == "all" else act[-1:] if positions == "last" else act[:1])
    return torch.cat(rows).float()


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "mixtral", "bert"])
@pytest.mark.parametrize("site", ["pre", "key"])
def test_stats_equal_two_pass_statistics_on_padded_batches(model_type, site):
    s = make_subject(model_type)
    positions = "first" if model_type == "bert" else "last"
    for pos in ("all", positions):
        ref = _manual(s, FORGET, 1, site, pos)
        for bs in (1, 2, 5):
            st = ffn_stats(s, FORGET, layers=[1], site=site, positions=pos, batch_size=bs, keep=True)
            assert st.count == ref.shape[0] and st.n_sequences == len(FORGET)
            torch.testing.assert_close(st.mean[0], ref.mean(0), atol=1e-5, rtol=1e-4)
            torch.testing.assert_close(st.var[0], ref.var(0, unbiased=False), atol=1e-5, rtol=1e-3)
            torch.testing.assert_close(st.sample_var[0], ref.var(0, unbiased=True), atol=1e-5, rtol=1e-3)
            torch.testing.assert_close(st.keys[0], ref, atol=1e-5, rtol=1e-4)


def test_stats_layers_errors_and_round_trip(tmp_path):
    s = make_subject("gpt2")
    st = ffn_stats(s, TEXTS, layers=[-1, 0])
    assert st.layers == [0, s.anatomy.n_layers - 1]
    assert FFNStats.load(st.save(tmp_path)).count == st.count
    with pytest.raises(OutOfRangeError, match="out of range"):
        ffn_stats(s, TEXTS, layers=[s.anatomy.n_layers])
    with pytest.raises(UnlearnscopeError, match="empty prompt set"):
        ffn_stats(s, [])
    with pytest.raises(UnlearnscopeError, match="site"):
        ffn_stats(s, TEXTS, site="values")
    with pytest.raises(UnlearnscopeError, match="no layers"):
        ffn_stats(s, TEXTS, layers=[])


# ---------------------------------------------------------------------------- Neuron Adjust
def test_selection_is_global_one_sided_top_p():
    s = make_subject("gpt2")
    f, r = ffn_stats(s, FORGET), ffn_stats(s, RETAIN)
    sel = select_neurons(f, r, top_p=0.05)
    delta = torch.cat([a - b for a, b in zip(f.mean, r.mean, strict=True)])
    k = round(0.05 * delta.numel())
    assert sel.n_selected == k == sum(n.numel() for n in sel.neurons)
    chosen = torch.cat(
        [n + f.layers.index(l) * f.mean[0].numel() for l, n in zip(sel.layers, sel.neurons, strict=True)]
    )
    assert set(chosen.tolist()) == set(delta.topk(k).indices.tolist())
    assert sel.tau > 0 and all(
        (d >= sel.tau).sum() == n.numel()
        for d, n in zip([sel.delta[f.layers.index(l)] for l in sel.layers], sel.neurons, strict=True)
    )
    for j, l in enumerate(sel.layers):
        i = f.layers.index(l)
        torch.testing.assert_close(sel.sd_r[j], r.var[i][sel.neurons[j]].sqrt())
    with pytest.raises(UnlearnscopeError, match="forget set equals the retain set"):
        select_neurons(f, ffn_stats(s, FORGET))
    with pytest.raises(UnlearnscopeError, match="top_p"):
        select_neurons(f, r, top_p=3)
    with pytest.raises(UnlearnscopeError, match="same site"):
        select_neurons(f, ffn_stats(s, RETAIN, site="key"))


def test_adjust_values_matches_the_formula():
    mu_f, sd_f, mu_r, sd_r = torch.tensor([2.0]), torch.tensor([0.5]), torch.tensor([-1.0]), torch.tensor([1.0])
    x = torch.tensor([[2.2], [-1.0], [4.0]])

    def pdf(v, m, sd):
        return math.exp(-0.5 * ((v - m) / sd) ** 2) / (sd * math.sqrt(2 * math.pi))

    for u_val in (0.0, 0.999):
        new, rep = adjust_values(x, mu_f, sd_f, mu_r, sd_r, torch.full_like(x, u_val))
        for v, n, r in zip(x.flatten().tolist(), new.flatten().tolist(), rep.flatten().tolist(), strict=True):
            pf, pr = pdf(v, 2.0, 0.5), pdf(v, -1.0, 1.0)
            expect = pr <= pf and u_val < pf / (pr + pf)
            assert r == expect
            assert n == pytest.approx(-1.0 - (1.0 / 0.5) * (v - 2.0) if expect else v, rel=1e-6)
    # zero variance anywhere: finite results, no NaN
    new, _ = adjust_values(
        torch.tensor([[0.0, 1.0]]), torch.zeros(2), torch.zeros(2), torch.ones(2), torch.zeros(2), torch.zeros(1, 2)
    )
    assert torch.isfinite(new).all()


def _selection(s, **kw):
    return select_neurons(ffn_stats(s, FORGET, **kw), ffn_stats(s, RETAIN, **kw), top_p=0.1)


@pytest.mark.parametrize("model_type", ["gpt2", "llama", "mixtral"])
def test_neuron_adjust_moves_forget_activations_toward_retain(model_type):
    s = make_subject(model_type)
    sel = _selection(s)
    before = ffn_stats(s, FORGET, layers=sel.layers)
    with neuron_adjust(s, sel, seed=0) as na:
        after = ffn_stats(s, FORGET, layers=sel.layers[:1])  # the first selected layer is read after its own adjustment
    assert 0 < na.n_adjusted < na.n_seen
    enc = s.tokenize(FORGET)
    with torch.no_grad():
        base = s.model(**enc).logits
        with neuron_adjust(s, sel, seed=0):
            assert not torch.allclose(s.model(**enc).logits, base, atol=1e-4)
    if (
        not s.anatomy.is_moe
    ):  # dense-expert points are recomputed from the experts' input: a later reader sees the unadjusted value
        j, l = 0, sel.layers[0]
        idx = sel.neurons[j]
        gap_before = (before.mean[before.row(l)][idx] - sel.mu_r[j]).abs().mean()
        gap_after = (after.mean[0][idx] - sel.mu_r[j]).abs().mean()
        assert gap_after < 0.8 * gap_before
    with pytest.raises(RuntimeError), neuron_adjust(s, sel):
        raise RuntimeError("boom")
    with torch.no_grad():
        assert torch.equal(s.model(**enc).logits, base)  # nothing left hooked


def test_neuron_adjust_draws_paper_vs_compat():
    s = make_subject("gpt2")
    sel = _selection(s)
    enc = s.tokenize(FORGET[:1])
    outs = []
    for seed in (0, 0, 1):
        with neuron_adjust(s, sel, seed=seed), torch.no_grad():
            outs.append(s.model(**enc).logits)
    assert torch.equal(outs[0], outs[1]) and not torch.equal(outs[0], outs[2])  # seeded, stochastic
    # compat: one uniform per row decides for all its values, σ_r = variance, σ_f = μ_f
    name = ffn_site(s, sel.layers[0], "pre")
    with s.capture(name) as plain, torch.no_grad():
        s.model(**enc)
    x = plain[name][..., sel.neurons[0]].float()
    u = torch.rand(1, generator=torch.Generator().manual_seed(3))
    expect, replaced = adjust_values(x, sel.mu_f[0], sel.mu_f[0], sel.mu_r[0], sel.var_r[0], u[:, None, None])
    with neuron_adjust(s, sel, compat=True, seed=3) as na, s.capture(name) as cache, torch.no_grad():
        s.model(**enc)
    assert int(replaced.sum()) > 0 and na.n_adjusted >= int(replaced.sum())  # later layers add their own
    # capture registered after the adjust hook sees the adjusted value
    torch.testing.assert_close(cache[name][..., sel.neurons[0]].float(), expect)


def test_selection_round_trips(tmp_path):
    s = make_subject("gpt2")
    sel = _selection(s)
    back = NeuronSelection.load(sel.save(tmp_path))
    assert back.layers == sel.layers and torch.equal(back.neurons[0], sel.neurons[0])
    assert sel.plot().data


# ---------------------------------------------------------------------------- Key Space Detection
@pytest.mark.parametrize("model_type", ["gpt2", "mixtral"])
def test_cube_k_star_is_exact_and_distances_match(model_type):
    s = make_subject(model_type)
    cube = fit_key_space(s, FORGET, layer=-1)
    keys = ffn_stats(s, FORGET, layers=[-1], site="key", positions="last", keep=True).keys[0]
    assert cube.n_probe == len(FORGET)
    torch.testing.assert_close(cube.s, keys.std(0))
    assert cube.contains(keys, 1.0).all()  # every probe inside at λ = 1 ...
    assert not cube.contains(keys, 0.999).all()  # ... and k* is the smallest such k
    ratio = ((keys - keys.mean(0)).abs() / keys.std(0)).max()
    assert cube.k_star == pytest.approx(float(ratio), rel=1e-5)
    d = key_space_distance(s, cube, FORGET + RETAIN)
    assert float(d[: len(FORGET)].max()) == pytest.approx(1.0, rel=1e-5)
    with key_space_detector(s, cube, lam=1.0) as det, torch.no_grad():
        s.model(**s.tokenize(FORGET[:1]))
    assert det.flags.tolist() == [True] and det.first_step.tolist() == [0]


def test_zero_variance_neurons_and_low_spread():
    s = make_subject("gpt2")
    cube = fit_key_space(s, FORGET, layer=0)
    cube.s[:5] = 0.0  # constant neurons
    d = cube.distance(torch.stack([cube.mu, cube.mu + 1.0]))
    assert torch.isfinite(d).all() and d[0] == 0 and d[1] > 1
    with pytest.raises(UnlearnscopeError, match="reference"):
        fit_key_space(s, FORGET, low_spread=8)
    tight = fit_key_space(s, FORGET, layer=0, reference=RETAIN, low_spread=8)
    assert tight.n_neurons == 8 and tight.k_star > 0
    keys = ffn_stats(s, FORGET, layers=[0], site="key", positions="last", keep=True).keys[0]
    allk = torch.cat([keys, ffn_stats(s, RETAIN, layers=[0], site="key", positions="last", keep=True).keys[0]])
    ratio = allk.std(0) / keys.std(0)
    assert set(tight.neurons.tolist()) == set(ratio.topk(8).indices.tolist())
    with pytest.raises(UnlearnscopeError, match="at least 2"):
        fit_key_space(s, FORGET[:1])
    with pytest.raises(OutOfRangeError):
        fit_key_space(s, FORGET, layer=99)


def test_detection_inside_generate_any_step_and_reset():
    s = make_subject("gpt2")
    prompt = FORGET[1]
    enc = s.tokenize([prompt], padding_side="left")
    name = ffn_site(s, 1, "key")
    with s.capture(name, keep="all") as cache, torch.no_grad():
        s.model.generate(**enc, max_new_tokens=4, do_sample=False, pad_token_id=s.tokenizer.pad_token_id)
    step_keys = [k[:, -1] for k in cache[name]]  # prefill + 3 decode forwards
    assert len(step_keys) == 4
    # a cube around the key of decode step 2 only (tiny spread): prefill is outside, step 2 inside
    cube = KeySpaceCube(
        1, "key", "last", step_keys[2][0].float(), torch.full_like(step_keys[2][0].float(), 1e-3), 1.0, 2
    )
    assert not bool(cube.contains(step_keys[0])) and bool(cube.contains(step_keys[2]))
    out = generate_with_abstention(s, [prompt], cube, lam=1.0, max_new_tokens=4, refusal="NO")
    assert out[0]["abstained"] and out[0]["first_step"] == 2 and out[0]["output"] == "NO"
    # per-query reset: a second call with an unrelated prompt is judged on its own
    out2 = generate_with_abstention(s, [RETAIN[0]], cube, lam=1.0, max_new_tokens=4, refusal="NO")
    assert not out2[0]["abstained"] and out2[0]["first_step"] == -1
    # batched, left-padded: flags per row
    both = generate_with_abstention(s, [RETAIN[0], prompt], cube, lam=1.0, max_new_tokens=4, refusal="NO")
    assert [o["abstained"] for o in both] == [False, True]


def test_steer_vector_replaces_detected_keys():
    s = make_subject("gpt2")
    cube = fit_key_space(s, FORGET, layer=1)
    enc = s.tokenize(FORGET[:1])
    steer = torch.zeros_like(cube.mu)
    with torch.no_grad():
        base = s.model(**enc).logits
        with key_space_detector(s, cube, 1.0, steer=steer) as det:
            steered = s.model(**enc).logits
    assert det.flags.all()
    assert torch.equal(steered[:, :-1], base[:, :-1]) and not torch.allclose(steered[:, -1], base[:, -1])


def test_stateless_steering_replaces_every_detected_position_in_any_batch():
    s = make_subject("gpt2")
    cube = fit_key_space(s, FORGET, layer=1)
    name = ffn_site(s, 1, "key")
    steer = torch.full_like(cube.mu, 0.5)
    enc = s.tokenize(FORGET[:2] + RETAIN[:2])  # right-padded, mixed lengths
    with torch.no_grad(), s.capture(name) as before:
        base = s.model(**enc).logits
    inside = cube.contains(before[name], 1.0)  # [batch, pos]
    assert inside.any() and not inside.all()
    with torch.no_grad(), key_space_steering(s, cube, steer, 1.0) as st:
        with s.capture(name) as after:
            steered = s.model(**enc).logits
        s.model(**s.tokenize(RETAIN[2:3]))  # another batch shape in the same block: no per-query state
    keys = after[name]
    assert torch.equal(keys[inside], steer.expand(int(inside.sum()), -1)) and torch.equal(
        keys[~inside], before[name][~inside]
    )
    assert st.n_steered >= int(inside.sum()) and st.n_seen > inside.numel()
    rows = inside.any(1)
    assert not torch.allclose(steered[rows], base[rows]) and torch.equal(steered[~rows], base[~rows])
    with torch.no_grad():
        torch.testing.assert_close(s.model(**enc).logits, base)  # the hook is gone after the block
    with pytest.raises(UnlearnscopeError, match="shape"):
        with key_space_steering(s, cube, steer[:3]):
            pass


def test_roc_over_lambda():
    cube = KeySpaceCube(0, "key", "last", torch.zeros(2), torch.ones(2), 2.0, 3)
    roc = key_space_roc(cube, torch.tensor([0.2, 0.5, 0.9]), torch.tensor([0.7, 1.5, 3.0, float("inf")]))
    assert roc.auc == pytest.approx(11 / 12)  # pairs with d_f < d_r: 0.2 and 0.5 < all four, 0.9 < three
    assert (roc.tpr.diff() >= 0).all() and (roc.fpr.diff() >= 0).all()
    assert roc.at(1.0) == (1.0, 0.25)
    assert roc.youden_lambda() == pytest.approx(0.9, abs=1e-3)
    assert roc.plot().data
    with pytest.raises(UnlearnscopeError, match="at least one"):
        key_space_roc(cube, torch.tensor([]), torch.tensor([1.0]))


def test_bert_encoder_stats_selection_and_detection():
    s = make_subject("bert")
    f = ffn_stats(s, FORGET, site="pre", positions="all")
    r = ffn_stats(s, RETAIN, site="pre", positions="all")
    sel = select_neurons(f, r, top_p=0.05)
    assert sel.n_selected > 0
    cube = fit_key_space(s, FORGET, layer=-1, positions="first")
    d = key_space_distance(s, cube, FORGET + RETAIN)
    assert d.shape == (len(FORGET) + len(RETAIN),) and bool((d[: len(FORGET)] <= 1.0 + 1e-5).all())
    with neuron_adjust(s, sel) as na, torch.no_grad():
        s.model(**s.tokenize(FORGET))
    assert na.n_seen > 0
