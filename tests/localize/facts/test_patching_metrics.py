"""Patching takes any metric (as TransformerLens' ``generic_activation_patch`` does): built-in names
and user functions, checked against an identity every metric must satisfy."""

from collections import Counter

import pytest
import torch

from tests.conftest import make_subject
from unlearnscope.data import Fact
from unlearnscope.errors import UnlearnscopeError
from unlearnscope.localize.facts import activation_patching, attribution_patching, logit_diff, unit_attribution

POOL = ["Bob", "Alice", "Tom", "Anna", "Paul", "Mary", "John", "Kate", "Mark", "Lisa"]


@pytest.fixture(scope="module")
def setup():
    s = make_subject("gpt2")
    length = {n: len(s.tokenizer(" " + n, add_special_tokens=False)["input_ids"]) for n in POOL}
    common = Counter(length.values()).most_common(1)[0][0]  # swapped subjects must match in length
    return s, [Fact(f"{n} lives in the city of", "Paris", n) for n in POOL if length[n] == common]


def surprisal_gap(logits, answer, corrupt_answer):
    """A user metric: log p(answer) − log p(corrupt answer) (the log-softmax version of logit_diff)."""
    lp = logits.log_softmax(-1)
    return lp.gather(1, answer[:, None])[:, 0] - lp.gather(1, corrupt_answer[:, None])[:, 0]


@pytest.mark.parametrize("metric", ["logit_diff", "logprob", "prob", surprisal_gap])
def test_restoring_the_final_residual_at_the_last_token_recovers_everything(setup, metric):
    """The clean ``blocks.{L-1}.hook_resid_post`` at the last token *is* the clean run's final
    state there, so patching it recovers exactly 100 % of any metric, and patching the embedding-
    level resid at the first position (before the subject) recovers nothing."""
    s, facts = setup
    loc = activation_patching(s, facts, kinds=("resid",), metric=metric)
    L = s.anatomy.n_layers
    assert loc.effects[0, L - 1, loc.roles.index("last")] == pytest.approx(1.0, abs=1e-4)  # float32 sums over facts
    if "before" in loc.roles:
        assert loc.effects[0, 0, loc.roles.index("before")] == pytest.approx(0.0, abs=1e-6)
    assert loc.baseline["metric"] == (metric if isinstance(metric, str) else "surprisal_gap")
    assert loc.baseline["clean"] > loc.baseline["corrupted"]


def test_a_function_equal_to_a_builtin_gives_the_same_scores(setup):
    s, facts = setup
    by_name = attribution_patching(s, facts, metric="logit_diff")
    by_fn = attribution_patching(s, facts, metric=lambda lg, a, c: logit_diff(lg, a, c))
    assert torch.equal(by_name.effects, by_fn.effects) and by_fn.baseline["metric"] == "<lambda>"
    units = unit_attribution(s, facts, metric="logprob")
    assert units.baseline["metric"] == "logprob" and all(torch.isfinite(x).all() for x in units.scores)
    # the first-order estimate tracks the measured effects for a smooth metric too
    ap = activation_patching(s, facts, kinds=("resid",), metric="logprob")
    at = attribution_patching(s, facts, kinds=("resid",), metric="logprob")
    assert torch.corrcoef(torch.stack([ap.effects.flatten(), at.effects.flatten()]))[0, 1] > 0.5


def test_bad_metrics_are_refused(setup):
    s, facts = setup
    with pytest.raises(UnlearnscopeError, match="unknown patching metric"):
        activation_patching(s, facts, metric="accuracy")
    with pytest.raises(UnlearnscopeError, match="one value per fact"):
        activation_patching(s, facts, metric=lambda lg, a, c: lg.sum())
