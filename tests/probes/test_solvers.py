"""Batched probes: agree with scikit-learn, respect masks, and fail clearly on bad input."""

import pytest
import torch

from unlearnscope.errors import UnlearnscopeError
from unlearnscope.probes.solvers import fit_probes
from unlearnscope.probes.splits import entity_folds, fold_masks


def _blobs(n=300, d=16, c=4, g=3, seed=0, noise=1.5):
    gen = torch.Generator().manual_seed(seed)
    y = torch.randint(c, (n,), generator=gen)
    scale = torch.tensor([0.0, 1.0, 3.0]) if g == 3 else torch.full((g,), 3.0)  # with 3 groups, group 0 has no signal
    centers = torch.randn(g, c, d, generator=gen) * scale[:, None, None]
    X = centers[:, y] + noise * torch.randn(g, n, d, generator=gen)
    return X, y


def test_logistic_matches_sklearn_accuracy_per_group():
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs()
    train = torch.zeros(1, 300, dtype=torch.bool)
    train[0, :200] = True
    n_tr = 200
    probes = fit_probes(X, y[None], train, 4, method="logistic", l2=1.0 / n_tr, max_iter=300)
    pred = probes.predict(X)[:, 0, 0, 200:]
    for g in range(3):
        mu, sd = X[g, :200].mean(0), X[g, :200].std(0, unbiased=False)
        sk = LogisticRegression(C=1.0, max_iter=2000).fit(((X[g, :200] - mu) / sd).numpy(), y[:200].numpy())
        acc_sk = (torch.tensor(sk.predict(((X[g, 200:] - mu) / sd).numpy())) == y[200:]).float().mean()
        acc = (pred[g] == y[200:]).float().mean()
        assert abs(float(acc - acc_sk)) <= 0.02, (g, float(acc), float(acc_sk))
    assert (pred[0] == y[200:]).float().mean() < 0.45  # no-signal group near chance (0.25)
    assert (pred[2] == y[200:]).float().mean() > 0.9


def test_ridge_masks_rows_per_target_and_fold():
    X, y = _blobs(n=200, g=1)
    # target 1 only uses even rows; its probe must ignore odd rows, whose labels are garbage
    y2 = torch.stack([y, torch.where(torch.arange(200) % 2 == 0, y, -1)])
    folds = entity_folds([f"e{i // 2}" for i in range(200)], 4, seed=0)
    train, test = fold_masks(folds, 4)
    p = fit_probes(X, y2, train, 4, method="ridge", l2=1e-2)
    pred = p.predict(X)  # [g, t, f, n]
    assert pred.shape == (1, 2, 4, 200)
    for f in range(4):
        rows = test[f]
        acc = (pred[0, 0, f, rows] == y[rows]).float().mean()
        assert acc > 0.8
    # the masked target trained on half the rows still generalises to held-out even rows
    even = test[0] & (torch.arange(200) % 2 == 0)
    assert (pred[0, 1, 0, even] == y[even]).float().mean() > 0.8


def test_unseen_classes_are_never_predicted():
    X, y = _blobs(n=120, g=1, noise=0.1)
    train = (y != 3)[None]  # class 3 never in training
    for method in ("ridge", "logistic"):
        p = fit_probes(X, y[None], train, 4, method=method, l2=1e-2)
        assert not bool((p.predict(X) == 3).any())


def test_entity_folds_group_rows():
    subj = ["a", "a", "b", "b", "c", "c", "d"]
    f = entity_folds(subj, 2, seed=3)
    assert f[0] == f[1] and f[2] == f[3] and f[4] == f[5]
    with pytest.raises(UnlearnscopeError, match="at least 5 entities"):
        entity_folds(["a", "b"], 5, seed=0)


def test_bad_probe_inputs():
    X, y = _blobs(n=10, g=1)
    with pytest.raises(UnlearnscopeError, match="rows"):
        fit_probes(X, y[None, :5], torch.ones(1, 10, dtype=torch.bool))
    with pytest.raises(UnlearnscopeError, match="fewer than 2 training rows"):
        fit_probes(X, y[None], torch.zeros(1, 10, dtype=torch.bool))
    with pytest.raises(UnlearnscopeError, match="unknown probe method"):
        fit_probes(X, y[None], torch.ones(1, 10, dtype=torch.bool), method="mlp")


def test_logistic_drops_converged_problems_without_changing_any_solution():
    """Per-problem L-BFGS trajectories are independent, so re-batching over the still-active
    (group, fold) pairs must reproduce the never-compacted solution."""
    from unlearnscope.probes import solvers

    X, y = _blobs(n=240, d=12, c=4, g=3)
    folds, _ = fold_masks(torch.arange(240) % 3, 3)  # [3 folds, n] training rows
    ys = torch.stack([y, (y + 1) % 4])
    captured = {}
    real = solvers._logistic

    def spy(*a, **k):
        captured["args"] = a
        return real(*a, **k)

    solvers._logistic = spy
    try:
        fit_probes(X, ys, folds, 4, method="logistic", l2=1e-2, max_iter=200)
    finally:
        solvers._logistic = real
    W0, b0 = real(*captured["args"], compact=0.0)
    W1, b1 = real(*captured["args"], compact=1.01)  # re-batch at every iteration with a converged pair
    assert W0.shape == W1.shape == (3, 2, 3, 12, 4)
    assert torch.allclose(W0, W1, atol=1e-5, rtol=1e-4) and torch.allclose(b0, b1, atol=1e-5, rtol=1e-4)
