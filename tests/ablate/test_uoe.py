"""UOE: one expert + its router trained with exact masks, the router anchor, selection-shift tracking."""

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.ablate.unlearning import UnlearnConfig
from unlearnscope.ablate.uoe import RouterAnchor, all_experts_components, all_experts_unlearn, uoe_unlearn
from unlearnscope.errors import OutOfRangeError, UnlearnscopeError
from unlearnscope.localize.experts import compare_routing, routing_stats

FORGET = ["Alice Smith works as a doctor in Berlin.", "Marie Curie was a physicist.", "Tokyo is a large city in Japan."]


def test_anchor_loss_is_the_full_softmax_mse_to_onehot():
    s = make_subject("mixtral")
    anchor = RouterAnchor(s, 1, 2, weight=3.0)
    enc = s.tokenize(FORGET)
    with anchor.recording():
        s.model(**enc)
        s.model(**s.tokenize(["Hello!"]))  # only the first forward (the forget batch) is kept
    logits = anchor.logits.detach()
    loss, raw = anchor.loss(enc)
    p = logits.float().softmax(-1)
    target = torch.zeros_like(p)
    target[:, 2] = 1
    m = enc["attention_mask"].reshape(-1).bool()
    expect = ((p - target) ** 2).mean(-1)[m].mean()
    assert raw == pytest.approx(float(expect), rel=1e-6) and float(loss.detach()) == pytest.approx(
        3 * float(expect), rel=1e-6
    )
    with pytest.raises(OutOfRangeError):
        RouterAnchor(s, 1, 9)


def test_uoe_trains_one_expert_and_its_router_and_the_anchor_holds_the_expert():
    cfg = UnlearnConfig(method="ga", steps=12, lr=3e-3, batch_size=3, eval_every=4)
    runs = {}
    for alpha in (0.0, 5.0):
        s = make_subject("mixtral")
        before = {n: p.detach().clone() for n, p in s.model.named_parameters()}
        r = uoe_unlearn(s, FORGET, config=cfg, anchor_weight=alpha, progress=False)
        l, e = r.config["uoe"]["layer"], r.config["uoe"]["expert"]
        changed = {n for n, p in s.model.named_parameters() if not torch.equal(p, before[n])}
        assert changed == {
            f"model.layers.{l}.mlp.gate.weight",
            f"model.layers.{l}.mlp.experts.gate_up_proj",
            f"model.layers.{l}.mlp.experts.down_proj",
        }
        for n in changed - {f"model.layers.{l}.mlp.gate.weight"}:
            p = dict(s.model.named_parameters())[n]
            others = [i for i in range(p.shape[0]) if i != e]
            assert torch.equal(p[others], before[n][others]), "only expert e*'s slice of the fused tensor may change"
        curve = r.monitor_curves["selection_overlap"]
        assert curve[-1][0] == r.steps and len(curve) == 4
        # the tracker's last point is the top-k overlap between the original routing and the final one
        assert (
            curve[-1][1] == pytest.approx(compare_routing(make_subject("mixtral"), s, FORGET).mean_overlap, abs=1e-4)
            and curve[-1][1] < 1
        )
        assert r.n_params_trained == r.config["uoe"]["n_params"] < all_experts_components(s).n_params / 3
        freq = routing_stats(s, FORGET).prob_mean[l, e].item()
        runs[alpha] = (freq, r)
        if alpha:
            assert len(r.aux_loss_curve) == r.steps and r.aux_loss_curve[-1] < r.aux_loss_curve[0]
        r.edits.undo()
        assert all(torch.equal(p, before[n]) for n, p in s.model.named_parameters())
    assert runs[5.0][0] > runs[0.0][0] + 0.05, "the anchor pulls the full routing distribution of forget tokens to e*"


def test_all_experts_baseline_and_bad_input():
    s = make_subject("mixtral")
    r = all_experts_unlearn(
        s, FORGET, config=UnlearnConfig(method="ga", steps=4, lr=1e-3, batch_size=3, eval_every=2), progress=False
    )
    assert r.n_params_trained == all_experts_components(s).n_params and "selection_overlap" in r.monitor_curves
    r.edits.undo()
    with pytest.raises(UnlearnscopeError, match="dense"):
        all_experts_components(make_subject("gpt2"))
    with pytest.raises(UnlearnscopeError, match="anchor_weight"):
        uoe_unlearn(s, FORGET, anchor_weight=-1)
    with pytest.raises(OutOfRangeError):
        uoe_unlearn(s, FORGET, expert=(0, 7))
