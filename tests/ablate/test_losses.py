"""Each unlearning objective against a hand computation on a tiny batch."""

import math

import pytest
import torch

from unlearnscope.ablate import losses as L
from unlearnscope.ablate.methods.npo import npo
from unlearnscope.ablate.methods.rmu import rmu_forget, rmu_retain
from unlearnscope.ablate.methods.simnpo import simnpo

# one batch of two sequences over a 3-token vocabulary; the second has a padded last position
LOGITS = torch.tensor(
    [[[0.0, 1.0, 2.0], [2.0, 0.0, 0.0], [0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0], [0.0, 3.0, 0.0], [5.0, 5.0, 5.0]]]
)
IDS = torch.tensor([[0, 2, 0], [1, 1, 2]])
MASK = torch.tensor([[1, 1, 1], [1, 1, 0]])


def lsm(row, tok):
    return row[tok] - math.log(sum(math.exp(x) for x in row))


def test_token_logprobs_and_nll_by_hand():
    lp, n = L.token_logprobs(LOGITS, IDS, MASK)
    seq0 = lsm([0.0, 1.0, 2.0], 2) + lsm([2.0, 0.0, 0.0], 0)  # predicts ids[1:] from positions :-1
    seq1 = lsm([1.0, 1.0, 1.0], 1)  # position 1 predicts the padded token: not counted
    assert lp.tolist() == pytest.approx([seq0, seq1]) and n.tolist() == [2, 1]
    assert L.nll(LOGITS, IDS, MASK).item() == pytest.approx(-(seq0 / 2 + seq1 / 1) / 2)


def test_npo_at_initialisation_is_two_over_beta_log_two():
    logp = torch.tensor([-3.0, -1.5, -7.0])
    for beta in (0.1, 1.0):
        assert npo(logp, logp.clone(), beta).item() == pytest.approx(2 / beta * math.log(2))
    # and it falls as the model's log-probability drops below the reference's
    assert npo(logp - 5, logp, 0.1) < npo(logp, logp, 0.1)


def test_simnpo_by_hand():
    logp, n, beta, gamma = torch.tensor([-4.0, -1.0]), torch.tensor([2.0, 1.0]), 0.5, 0.3
    want = (
        -(2 / beta)
        * sum(
            math.log(1 / (1 + math.exp(-(-(beta / k) * x - gamma))))
            for x, k in zip(logp.tolist(), n.tolist(), strict=True)
        )
        / 2
    )
    assert simnpo(logp, n, beta, gamma).item() == pytest.approx(want)


def test_kl_to_reference_by_hand():
    assert L.kl_to_ref(LOGITS, LOGITS.clone(), MASK).item() == pytest.approx(0.0, abs=1e-7)
    ref = torch.zeros_like(LOGITS)  # uniform reference: KL(u || p) = −log 3 − mean_j log p_j per position
    per_pos = [
        -math.log(3) - sum(lsm(row, j) for j in range(3)) / 3
        for row in ([0.0, 1.0, 2.0], [2.0, 0.0, 0.0], [1.0, 1.0, 1.0])
    ]
    assert L.kl_to_ref(LOGITS, ref, MASK).item() == pytest.approx(sum(per_pos) / 3)


def test_rmu_terms_by_hand():
    h = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    mask = torch.tensor([[1, 0]])
    control = torch.tensor([0.0, 2.0])
    assert rmu_forget(h, control, mask).item() == pytest.approx(((1 - 0) ** 2 + (2 - 2) ** 2) / 2)
    assert rmu_retain(h, h + 1.5, mask).item() == pytest.approx(1.5**2)
