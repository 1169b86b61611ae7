"""Quantization round trips against hand computation, and the mechanism by which quantization
undoes small unlearning updates (Zhang et al., ICLR 2025)."""

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.model.quantize import quantize_weights_, quantized_copy, round_trip


def test_round_trip_by_hand_per_channel():
    w = torch.tensor([[1.4, -0.66, 0.09], [0.02, 0.01, -0.04]])
    q = round_trip(w, 4, 0)  # 7 levels each side; row 0 step 0.2, row 1 step 0.04 / 7
    assert q[0].tolist() == pytest.approx(
        [1.4, -0.6, 0.0], abs=1e-6
    )  # -0.66 / 0.2 = -3.3 -> -3; 0.09 / 0.2 = 0.45 -> 0
    s1 = 0.04 / 7
    assert q[1].tolist() == pytest.approx([round(0.02 / s1) * s1, round(0.01 / s1) * s1, -0.04], abs=1e-7)
    assert torch.equal(round_trip(w.T, 4, 1), q.T)  # the channel dimension is honoured
    with pytest.raises(UnlearnscopeError, match="bits"):
        round_trip(w, 5, 0)


def test_updates_below_half_a_step_vanish():
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, 32, generator=g)
    q = round_trip(w, 4, 0)
    step = w.abs().amax(1, keepdim=True) / 7
    # move every weight that is not its row's maximum by a tenth of a step towards the centre of its bin
    d = (q - w).sign() * 0.1 * step * ((q - w).abs() > 0.15 * step)
    d[w.abs() == w.abs().amax(1, keepdim=True)] = 0
    assert d.abs().sum() > 0
    assert torch.equal(round_trip(w + d, 4, 0), q)  # the update is gone after the round trip


def test_quantized_copy_leaves_the_source_and_moves_outputs_little():
    s = make_subject("gpt2")
    before = {k: v.clone() for k, v in s.model.state_dict().items()}
    q8, q4 = quantized_copy(s, 8), quantized_copy(s, 4)
    assert all(torch.equal(v, s.model.state_dict()[k]) for k, v in before.items())
    ids = torch.randint(0, s.anatomy.d_vocab, (2, 6), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = s.model(input_ids=ids).logits
        e8 = (q8.model(input_ids=ids).logits - ref).abs().max().item()
        e4 = (q4.model(input_ids=ids).logits - ref).abs().max().item()
    assert 0 < e8 < e4  # 8 bits perturbs less than 4
    info = quantize_weights_(make_subject("gpt2").model, 8)
    assert info["n_matrices"] >= 1 + 4 * s.anatomy.n_layers  # embeddings, then qkv / attn out / fc / proj per block
    with pytest.raises(UnlearnscopeError, match="no linear"):
        quantize_weights_(torch.nn.Sequential(torch.nn.ReLU()), 8)
