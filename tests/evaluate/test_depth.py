"""Causal depth (UDS) against hand computation and the organism's ground truth."""

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.evaluate.depth import PatchingBaseline, causal_depth, depth_score, layer_deltas, patching_baseline
from unlearnscope.organisms import world_facts


def test_depth_score_by_hand():
    # two facts, three layers; fact 1 has no material layer (every baseline effect <= tau)
    d1 = torch.tensor([[1.0, 0.01], [0.5, 0.02], [0.02, 0.0]])
    base = PatchingBaseline(None, [None, None], "last", 0.05, torch.zeros(2), d1)
    d2 = torch.tensor([[0.5, 3.0], [2.0, 3.0], [9.0, 3.0]])  # layer 1's ratio clips to 1; layer 2 is not material
    uds = depth_score(base, d2)
    assert uds[0].item() == pytest.approx((1.0 * 0.5 + 0.5 * 1.0) / 1.5)
    assert torch.isnan(uds[1])
    assert depth_score(base, -d2)[0].item() == 0.0  # a source that adds knowledge clips to 0


@pytest.fixture(scope="module")
def orig_ref(small_organism):
    org = small_organism("facts")
    return org, org.load("orig"), org.load("ref"), world_facts(org, "forget")


def test_orig_reads_zero_ref_one_and_output_suppression_reads_intact(orig_ref):
    org, orig, ref, forget = orig_ref
    base = patching_baseline(orig, ref, forget)
    assert base.defined.float().mean() > 0.9  # REF's states cost ORIG the answer at some layer for almost every fact
    assert base.delta[-1].mean() > base.delta[0].mean()  # at the answer position the effect grows with depth
    assert causal_depth(orig, orig, base).uds.nanmean().item() == pytest.approx(0.0, abs=1e-6)
    assert causal_depth(orig, ref, base).uds.nanmean().item() == pytest.approx(1.0, abs=1e-6)
    # ORIG with the answers' unembedding rows scaled away: recall is gone, the residual stream is ORIG's: UDS 0
    supp = org.load("orig")
    w = supp.model.get_output_embeddings().weight
    ans = torch.tensor(
        sorted({supp.tokenizer(" " + f.answer, add_special_tokens=False)["input_ids"][0] for f in forget})
    )
    with torch.no_grad():
        w[ans] *= 0.0
    assert causal_depth(orig, supp, base).uds.nanmean().item() == pytest.approx(0.0, abs=1e-5)


def test_subject_scope_patches_only_the_subject(orig_ref):
    _, orig, ref, forget = orig_ref
    _, d = layer_deltas(orig, ref, forget[:40], scope="subject")
    # after the last block the subject's positions no longer feed the answer position
    assert d[-1].abs().max().item() < 1e-5 and d[0].mean().item() > 0.1


def test_depth_errors(orig_ref, tiny_dirs):
    _, orig, ref, forget = orig_ref
    with pytest.raises(UnlearnscopeError, match="patching scope"):
        layer_deltas(orig, ref, forget[:2], scope="everything")
    with pytest.raises(UnlearnscopeError, match="width"):
        layer_deltas(orig, make_subject("gpt2"), forget[:2])
    with pytest.raises(UnlearnscopeError, match="at least one fact"):
        patching_baseline(orig, ref, [])
    base = patching_baseline(orig, ref, forget[:4])
    with pytest.raises(UnlearnscopeError, match="same ORIG"):
        causal_depth(ref, orig, base)
