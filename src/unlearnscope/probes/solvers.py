"""Batched linear probes: many (feature group × target × training set) problems in one solve.

Shapes (TransformerLens-style vocabulary, ``g`` = feature group such as (layer, position)):

* ``X``      ``[g, n, d]``  features of ``n`` rows, shared by every target;
* ``y``      ``[t, n]``     integer class per row and target, ``-1`` where a row is not in target ``t``;
* ``train``  ``[f, n]``     bool: rows of training set ``f`` (a fold's complement, or one fixed set).

Every ``(g, t, f)`` problem is fitted on rows ``train[f] & (y[t] >= 0)``.  Features are
standardised with the training set's mean / std per ``(g, f)``.  Only the classes present in a
problem's training rows can be predicted (as in scikit-learn).

* ``ridge``: closed-form one-vs-rest ridge regression on one-hot targets (intercept unpenalised),
  ``min ||A W + b - Y||² / n + l2 ||W||²`` — one batched ``solve``;
* ``logistic``: multinomial logistic regression, ``mean CE + l2/2 ||W||²`` (scikit-learn's
  ``C`` is ``1 / (l2 · n)``), all problems at once by a batched L-BFGS that keeps a history and a
  line search per problem (each stops on its own gradient, as scikit-learn's does).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import UnlearnscopeError

SOLVERS = ("ridge", "logistic")  # probe solvers


@dataclass
class LinearProbes:
    """Fitted probes: ``W [g, t, f, d, c]``, ``b [g, t, f, c]``, per-problem standardisation
    ``mu, sd [g, f, d]`` and ``allowed [t, f, c]`` (classes seen in training)."""

    W: torch.Tensor
    b: torch.Tensor
    mu: torch.Tensor
    sd: torch.Tensor
    allowed: torch.Tensor

    def scores(self, X: torch.Tensor) -> torch.Tensor:
        """``X [g, n, d]`` → class scores ``[g, t, f, n, c]`` (disallowed classes at ``-inf``)."""
        A = (X[:, None].float() - self.mu[:, :, None]) / self.sd[:, :, None]  # [g, f, n, d]
        s = _apply(A, self.W) + self.b[:, :, :, None]
        return s.masked_fill(~self.allowed[None, :, :, None], float("-inf"))

    def predict(self, X: torch.Tensor) -> torch.Tensor:
        """Predicted class ``[g, t, f, n]``."""
        return self.scores(X).argmax(-1)


def _check(X, y, train):
    if X.ndim != 3 or y.ndim != 2 or train.ndim != 2:
        raise UnlearnscopeError(
            f"probe inputs need X [g, n, d], y [t, n], train [f, n]; got {tuple(X.shape)}, {tuple(y.shape)}, "
            f"{tuple(train.shape)}"
        )
    if not (X.shape[1] == y.shape[1] == train.shape[1]):
        raise UnlearnscopeError(
            f"probe inputs disagree on the number of rows: X {X.shape[1]}, y {y.shape[1]}, train {train.shape[1]}"
        )
    w = (train[None].bool() & (y[:, None] >= 0)).float()  # [t, f, n]
    if (w.sum(-1) < 2).any():
        raise UnlearnscopeError("a probe problem has fewer than 2 training rows: give more entities or fewer folds")
    return w


def _apply(A: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """``A [g, f, n, d]`` × ``W [g, t, f, d, c]`` → ``[g, t, f, n, c]`` as one batched matmul."""
    g, t, f, d, c = W.shape
    Wm = W.permute(0, 2, 3, 1, 4).reshape(g, f, d, t * c)
    return (A @ Wm).view(g, f, -1, t, c).permute(0, 3, 1, 2, 4)


def _standardise(X, train):
    """Training-set mean / std per (group, training set): ``[g, f, d]`` each (two matmuls on
    features shifted by their mean over all rows, so that the variance does not cancel).  A
    feature (nearly) constant on the training rows (std below 1e-3 of its shifted root mean
    square) keeps std 1: dividing by a rounding error would blow it up and make the ridge system
    indefinite."""
    w = train.to(X.dtype)  # [f, n]
    shift = X.mean(1, keepdim=True)  # [g, 1, d]
    Xs = X - shift
    n = w.sum(1)[None, :, None].clamp_min(1)
    mu = (w @ Xs) / n  # [g, f, d]
    ex2 = (w @ (Xs * Xs)) / n
    sd = (ex2 - mu * mu).clamp_min(0).sqrt()
    sd = torch.where(sd > 1e-3 * ex2.sqrt(), sd, torch.ones_like(sd))
    return mu + shift, sd


def fit_probes(
    X: torch.Tensor,
    y: torch.Tensor,
    train: torch.Tensor,
    n_classes: int | None = None,
    *,
    method: str = "ridge",
    l2: float = 1e-2,
    max_iter: int = 200,
) -> LinearProbes:
    """Fit every ``(group, target, training set)`` probe (see module doc)."""
    if method not in SOLVERS:
        raise UnlearnscopeError(f"unknown probe method {method!r}; choose from {SOLVERS}")
    if not l2 > 0:
        raise UnlearnscopeError(f"probe l2 must be > 0, got {l2}")
    X = X.float()
    y = y.to(X.device)
    train = train.to(X.device).bool()
    w = _check(X, y, train)
    c = int(n_classes or int(y.max()) + 1)
    Y = torch.nn.functional.one_hot(y.clamp_min(0), c).float() * (y >= 0)[..., None].float()  # [t, n, c]
    allowed = torch.einsum("tfn,tnc->tfc", w, Y) > 0
    mu, sd = _standardise(X, train)
    A = (X[:, None] - mu[:, :, None]) / sd[:, :, None]  # [g, f, n, d]
    if method == "ridge":
        W, b = _ridge(A, Y, w, l2)
    else:
        W, b = _logistic(A, y, w, allowed, l2, max_iter)
    return LinearProbes(W, b, mu, sd, allowed)


def _ridge(A, Y, w, l2):
    """Centred normal equations per problem.  Grams are computed once per distinct training-row
    pattern ``w[t, f]`` and only over its rows (targets on disjoint rows cost one pass in total;
    targets sharing rows share the gram)."""
    g, f, n, d = A.shape
    t, c = Y.shape[0], Y.shape[-1]
    n_t = w.sum(-1)  # [t, f]
    gram = A.new_empty(g, t, f, d, d)
    Am = A.new_empty(g, t, f, d)
    groups: dict = {}
    for ti in range(t):
        for fi in range(f):
            groups.setdefault((fi, w[ti, fi].bool().cpu().numpy().tobytes()), []).append(ti)
    for (fi, _), targets in groups.items():
        rows = w[targets[0], fi].nonzero()[:, 0]
        Ar = A[:, fi].index_select(1, rows)  # [g, m, d]
        mean = Ar.mean(1)
        Ac = (
            Ar - mean[:, None]
        )  # centred rows: a gram that stays positive semi-definite (no cancellation of large means)
        gram[:, targets, fi] = (Ac.transpose(1, 2) @ Ac)[:, None]
        Am[:, targets, fi] = mean[:, None]
    Ym = torch.einsum("tfn,tnc->tfc", w, Y) / n_t[..., None]
    wY = (w[..., None] * Y[:, None]).permute(1, 2, 0, 3).reshape(f, n, t * c)  # [f, n, t*c]
    cross = (A.transpose(2, 3) @ wY).view(g, f, d, t, c).permute(0, 3, 1, 2, 4)  # [g, t, f, d, c]
    cross = cross - n_t[None, ..., None, None] * Am[..., :, None] * Ym[None, :, :, None, :]
    eye = torch.eye(d, dtype=A.dtype, device=A.device)
    chol = torch.linalg.cholesky(gram + l2 * n_t[None, ..., None, None] * eye)
    W = torch.cholesky_solve(cross, chol)  # [g, t, f, d, c]
    b = Ym[None] - torch.einsum("gtfd,gtfdc->gtfc", Am, W)
    return W, b


class _Problems:
    """The logistic problems still being solved, one row per (group, training set) pair.

    ``A [K, n, d]`` activations of the pairs ``ids [K]`` (flat ``g * f + fi``); every pair holds
    all ``t`` targets.  ``scale [K, t, n, 1]`` are the rows' loss weights (``1 / n_train`` on
    training rows, 0 elsewhere), ``neg [K, t, 1, c]`` masks classes unseen in training.  ``W [K, t,
    d, c]``, ``b [K, t, c]`` the current solution with its ``loss [K, t]`` and gradient ``gW``,
    ``gb``; ``hist`` the L-BFGS pairs ``(s, y, 1 / sᵀy)``."""

    def __init__(self, A, scale_tf, neg_tf, Y, l2):
        g, f, n, d = A.shape
        self.f, self.Y, self.l2 = f, Y, l2
        self.scale_tf, self.neg_tf = scale_tf, neg_tf
        self.ids = torch.arange(g * f, device=A.device)
        self.A = A.reshape(g * f, n, d)  # a view: no copy until the first compaction
        self.scale, self.neg = self._constants(self.ids)
        t, c = neg_tf.shape[0], neg_tf.shape[-1]
        self.W, self.b = A.new_zeros(g * f, t, d, c), A.new_zeros(g * f, t, c)
        self.loss, self.gW, self.gb = self.objective(self.W, self.b)
        self.hist: list = []

    def _constants(self, ids):
        fi = ids % self.f
        return self.scale_tf[:, fi].permute(1, 0, 2)[..., None], self.neg_tf[:, fi].permute(1, 0, 2)[:, :, None]

    def objective(self, W, b):
        """``mean CE + l2/2 ||W||²`` per problem and its analytic gradient ``(loss, gW, gb)``."""
        K, t, d, c = W.shape
        n = self.A.shape[1]
        Z = (
            (self.A @ W.permute(0, 2, 1, 3).reshape(K, d, t * c)).view(K, n, t, c).permute(0, 2, 1, 3)
            + b[:, :, None]
            + self.neg
        )  # [K, t, n, c]
        logZ = Z.logsumexp(-1, keepdim=True)
        loss = -(((Z - logZ) * self.Y).sum(-1, keepdim=True) * self.scale).sum((-1, -2)) + 0.5 * self.l2 * (W * W).sum(
            (-1, -2)
        )
        G = (torch.exp(Z - logZ) - self.Y) * self.scale  # dL/dZ
        gW = (self.A.transpose(1, 2) @ G.permute(0, 2, 1, 3).reshape(K, n, t * c)).view(K, d, t, c).permute(
            0, 2, 1, 3
        ) + self.l2 * W
        return loss, gW, G.sum(-2)

    def keep(self, rows: torch.Tensor) -> None:
        """Keep only the pairs ``rows`` (indices into the current batch), history included."""
        self.ids = self.ids[rows]
        self.A = self.A.index_select(0, rows)
        self.scale, self.neg = self._constants(self.ids)
        self.W, self.b, self.loss, self.gW, self.gb = (
            self.W[rows],
            self.b[rows],
            self.loss[rows],
            self.gW[rows],
            self.gb[rows],
        )
        self.hist = [([s0[rows], s1[rows]], [y0[rows], y1[rows]], rho[rows]) for (s0, s1), (y0, y1), rho in self.hist]


def _dot(x, y):
    """``⟨x, y⟩`` per problem ``[K, t]`` for ``(W, b)`` pairs."""
    return (x[0] * y[0]).sum((-1, -2)) + (x[1] * y[1]).sum(-1)


def _lbfgs_direction(p: _Problems, active: torch.Tensor):
    """The two-loop recursion's ``-H g`` on active problems, steepest descent where it is not a
    descent direction; returns ``(direction, slope gᵀ direction)``."""
    q = [-p.gW, -p.gb]
    alphas = []
    for s_, y_, rho in reversed(p.hist):
        a = rho * _dot(s_, q)
        q = [q[0] - a[..., None, None] * y_[0], q[1] - a[..., None] * y_[1]]
        alphas.append(a)
    if p.hist:
        s_, y_, _ = p.hist[-1]
        yy = _dot(y_, y_)
        gamma = torch.where(yy > 0, _dot(s_, y_) / yy.clamp_min(1e-30), torch.ones_like(yy))
    else:
        gamma = (1.0 / (p.gW.abs().sum((-1, -2)) + p.gb.abs().sum(-1))).clamp(max=1.0)
    q = [q[0] * gamma[..., None, None], q[1] * gamma[..., None]]
    for (s_, y_, rho), a in zip(p.hist, reversed(alphas), strict=True):
        beta = rho * _dot(y_, q)
        q = [q[0] + (a - beta)[..., None, None] * s_[0], q[1] + (a - beta)[..., None] * s_[1]]
    on = active.to(p.A.dtype)
    direction = [q[0] * on[..., None, None], q[1] * on[..., None]]
    gd = _dot([p.gW, p.gb], direction)
    bad = gd >= 0  # not a descent direction: fall back to steepest descent for that problem
    if bool(bad.any()):
        fb = (bad & active).to(p.A.dtype)
        direction = [
            torch.where(bad[..., None, None], -p.gW * fb[..., None, None], direction[0]),
            torch.where(bad[..., None], -p.gb * fb[..., None], direction[1]),
        ]
        gd = _dot([p.gW, p.gb], direction)
    return direction, gd


def _line_search(p: _Problems, direction, gd, active, tries: int = 30):
    """Backtracking (Armijo, c = 1e-4) per problem from step 1: ``(W, b, loss, gW, gb)`` accepted."""
    step = torch.ones_like(p.loss)
    for _ in range(tries):
        Wn, bn = p.W + step[..., None, None] * direction[0], p.b + step[..., None] * direction[1]
        new_loss, gWn, gbn = p.objective(Wn, bn)
        ok = (new_loss <= p.loss + 1e-4 * step * gd) | ~active
        if bool(ok.all()):
            break
        step = torch.where(ok, step, step * 0.5)
    return Wn, bn, new_loss, gWn, gbn


def _logistic(A, y, w, allowed, l2, max_iter, tol: float = 1e-4, history: int = 10, compact: float = 0.75):
    """Batched L-BFGS with a *per-problem* history and backtracking (Armijo) line search, and the
    analytic gradient of ``mean CE + l2/2 ||W||²``; a problem stops once its max |gradient| <= tol
    (scikit-learn's criterion).

    The work is laid out per (group, training set) pair — the pairs share nothing but the targets
    of one pair share ``A`` — and converged pairs are dropped: once fewer than ``compact`` of the
    pairs in the batch are still active, the batch (activations, weights, L-BFGS history) is
    re-gathered over the active ones, so late iterations cost only what is left to solve."""
    g, f, n, d = A.shape
    t, c = y.shape[0], allowed.shape[-1]
    n_t = w.sum(-1)  # [t, f]
    Y = torch.nn.functional.one_hot(y.clamp_min(0), c).to(A.dtype)[None]  # [1, t, n, c]
    p = _Problems(A, w / n_t[..., None], (~allowed).to(A.dtype) * -1e9, Y, l2)
    W_out, b_out = A.new_zeros(g * f, t, d, c), A.new_zeros(g * f, t, c)
    for _ in range(max_iter):
        active = torch.maximum(p.gW.abs().amax((-1, -2)), p.gb.abs().amax(-1)) > tol  # [K, t]
        live = active.any(1)
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live < compact * len(p.ids):  # store the converged pairs and drop them from the batch
            done = ~live
            W_out[p.ids[done]], b_out[p.ids[done]] = p.W[done], p.b[done]
            keep = live.nonzero()[:, 0]
            p.keep(keep)
            active = active[keep]
        direction, gd = _lbfgs_direction(p, active)
        Wn, bn, new_loss, gWn, gbn = _line_search(p, direction, gd, active)
        s_new, y_new = [Wn - p.W, bn - p.b], [gWn - p.gW, gbn - p.gb]
        ys = _dot(s_new, y_new)
        p.hist = (p.hist + [(s_new, y_new, torch.where(ys > 1e-10, 1.0 / ys.clamp_min(1e-10), torch.zeros_like(ys)))])[
            -history:
        ]
        p.W, p.b, p.loss, p.gW, p.gb = Wn, bn, new_loss, gWn, gbn
    W_out[p.ids], b_out[p.ids] = p.W, p.b
    return W_out.view(g, f, t, d, c).transpose(1, 2), b_out.view(g, f, t, c).transpose(1, 2)


def ridge_fit_predict(Xtr: torch.Tensor, Ytr: torch.Tensor, Xte: torch.Tensor, lam: float) -> torch.Tensor:
    """One-vs-rest ridge on one training set: ``Xtr [g, n, d]``, one-hot ``Ytr [n, c]`` → test
    scores ``[g, m, c]`` (standardised features, unpenalised intercept)."""
    X = torch.cat([Xtr, Xte], 1)
    n, m = Xtr.shape[1], Xte.shape[1]
    train = torch.cat([torch.ones(n, dtype=torch.bool), torch.zeros(m, dtype=torch.bool)])[None].to(X.device)
    y = torch.cat([Ytr.argmax(-1), torch.zeros(m, dtype=torch.long, device=Ytr.device)])[None]
    probes = fit_probes(X, y, train, Ytr.shape[-1], method="ridge", l2=lam)
    return probes.scores(Xte)[:, 0, 0]
