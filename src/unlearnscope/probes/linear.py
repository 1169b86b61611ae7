"""Linear probes for facts, with controls, batched over depths × roles × targets.

Targets are relations (the answer's class within its relation); rows are fact prompts of forget
and retain entities.  Two modes:

* ``transfer``: fitted on the retain entities, applied to the forget entities (Guo et al.'s
  protocol) — of the same model (``train_on="self"``) or of another one (``train_on=subject``,
  e.g. ORIG's retain activations);
* ``refit``: grouped k-fold over *all* entities of this model (forget entities sit in the test
  folds, other forget entities can be in training) — is the attribute linearly present at all?

Controls run in the same batched solve as extra targets: a Hewitt & Liang *control task* (labels
a random function of the subject's last word, a type that recurs across entities, so a probe
that memorises lexical identity can solve it; selectivity = task − control), *shuffled labels*
(training labels permuted across entities) and the *majority class* of the training rows.  The
random-init model of the same architecture is `random_init_like`.  ``seeds`` re-draw folds and
control labels; per-row correctness is averaged over seeds.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from ..data import as_facts
from ..errors import UnlearnscopeError
from .features import FactFeatures, fact_features
from .solvers import fit_probes
from .splits import entity_folds, fold_masks

if TYPE_CHECKING:
    from ..data.records import FactsLike
    from ..model.subject import Subject

MODES = ("transfer", "refit")


@dataclass(frozen=True)
class ProbeConfig:
    layers: tuple[int, ...] | None = None  # depths (None: all)
    roles: tuple[str, ...] = ("last",)
    method: str = "ridge"  # ridge | logistic
    l2: float = 1e-2
    folds: int = 5  # refit mode
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    max_iter: int = 200  # logistic


@dataclass
class ProbeRun:
    """One model, one mode.  ``correct[c]`` is ``[group, n_rows]`` correctness on the evaluated
    (forget) rows for ``c`` in task | control | shuffled | majority, averaged over seeds."""

    mode: str
    groups: list[tuple[int, str]]
    entities: list[str]  # per evaluated row
    relations: list[str]
    correct: dict = field(default_factory=dict)

    def accuracy(self, which: str = "task") -> torch.Tensor:
        return self.correct[which].mean(-1)  # [group]

    def plot(self):
        """Accuracy per (depth, role) for the task and every control."""
        from ..viz.probes import probe_run_figure

        return probe_run_figure(self)


def _labels(facts, relations):
    """Class per row within its relation ``[n]`` and classes per relation."""
    classes = {r: sorted({f.answer for f in facts if (f.relation or "all") == r}) for r in relations}
    y = torch.tensor([classes[f.relation or "all"].index(f.answer) for f in facts])
    return y, classes


def _targets(facts, relations, y, classes, train_rows, seed):
    """``[3R, n]`` labels: task, control task, shuffled (training rows only), -1 off-relation."""
    n, R = len(facts), len(relations)
    rel = [relations.index(f.relation or "all") for f in facts]
    g = torch.Generator().manual_seed(10_000 + seed)
    Y = torch.full((3 * R, n), -1, dtype=torch.long)
    words = sorted({f.subject.split()[-1] for f in facts})
    for t, r in enumerate(relations):
        rows = torch.tensor([i for i in range(n) if rel[i] == t])
        Y[t, rows] = y[rows]
        word_class = torch.randint(len(classes[r]), (len(words),), generator=g)
        Y[R + t, rows] = torch.tensor(
            [int(word_class[words.index(facts[i].subject.split()[-1])]) for i in rows.tolist()]
        )
        # shuffled: permute the entity -> value map among training entities of this relation
        ents = sorted({facts[i].subject for i in rows.tolist() if train_rows[i]})
        vals = {facts[i].subject: int(y[i]) for i in rows.tolist()}
        perm = torch.randperm(len(ents), generator=g).tolist()
        moved = {e: vals[ents[p]] for e, p in zip(ents, perm, strict=True)}
        Y[2 * R + t, rows] = torch.tensor(
            [moved.get(facts[i].subject, int(y[i])) if train_rows[i] else int(y[i]) for i in rows.tolist()]
        )
    return Y


def _check_probe_inputs(mode: str, facts, relations: list[str], classes: dict, ev: torch.Tensor) -> None:
    if mode not in MODES:
        raise UnlearnscopeError(f"unknown probe mode {mode!r}; choose from {MODES}")
    if any(not f.subject for f in facts):
        raise UnlearnscopeError(
            "probing needs the subject (entity) of every fact: entity-disjoint splits group rows by entity"
        )
    one = [r for r in relations if len(classes[r]) < 2]
    if one:
        raise UnlearnscopeError(
            f"probe target(s) {one} have a single class ({[classes[r][0] for r in one]}): a probe needs at least two"
        )
    if not ev.any() or ev.all():
        raise UnlearnscopeError("probing needs both evaluated (forget) rows and other (retain) rows")


def _majority(
    train: torch.Tensor, test_fold: torch.Tensor, rel_of_row: torch.Tensor, y: torch.Tensor, n_relations: int
) -> torch.Tensor:
    """``[n]`` each row's majority-class prediction: the commonest label among the training rows
    of its relation in its test fold (folds x relations, a handful of iterations)."""
    maj = torch.zeros(len(y), dtype=torch.long)
    for f in range(train.shape[0]):
        for t in range(n_relations):
            tr_rows = train[f] & (rel_of_row == t)
            if tr_rows.any():
                maj[(test_fold == f) & (rel_of_row == t)] = y[tr_rows].mode().values
    return maj


def run_probes(
    feats: FactFeatures,
    evaluate_rows: torch.Tensor,
    mode: str,
    cfg: ProbeConfig,
    train_feats: FactFeatures | None = None,
) -> ProbeRun:
    """Fit and score probes on already captured features (see module doc).

    ``evaluate_rows [n]`` marks the forget rows; in transfer mode the others are the training
    rows.  ``train_feats`` (transfer from another model) must hold the same facts in the same order."""
    facts = feats.facts
    relations = sorted({f.relation or "all" for f in facts})
    y, classes = _labels(facts, relations)
    ev = evaluate_rows.bool().cpu()
    _check_probe_inputs(mode, facts, relations, classes, ev)
    R, n = len(relations), len(facts)
    rel_of_row = torch.tensor([relations.index(f.relation or "all") for f in facts])
    seeds = cfg.seeds if mode == "refit" else cfg.seeds[:1]
    sums = {k: torch.zeros(len(feats.groups), int(ev.sum())) for k in ("task", "control", "shuffled", "majority")}
    X = feats.X
    for seed in seeds:
        if mode == "transfer":
            train = (~ev)[None]  # [1, n]
            test_fold = torch.zeros(n, dtype=torch.long)
            Xtr = train_feats.X if train_feats is not None else X
        else:
            fold = entity_folds(feats.entities, cfg.folds, seed)
            train, _ = fold_masks(fold, cfg.folds)
            test_fold = fold
            Xtr = X
        Y = _targets(
            facts, relations, y, classes, (~ev) if mode == "transfer" else torch.ones(n, dtype=torch.bool), seed
        )
        Yd = Y.to(X.device)
        n_classes = max(len(c) for c in classes.values())
        kw = {"method": cfg.method, "l2": cfg.l2, "max_iter": cfg.max_iter}
        probes = fit_probes(Xtr, Yd, train.to(X.device), n_classes, **kw)  # type: ignore[arg-type]
        pred = probes.predict(X).cpu()  # [g, 3R, f, n]
        rows = torch.arange(n)
        # each row's prediction from its own target and its own test fold
        for k, off in (("task", 0), ("control", R), ("shuffled", 0)):
            t_idx = rel_of_row + (2 * R if k == "shuffled" else off)
            p = pred[:, t_idx, test_fold, rows]  # [g, n]
            gold = Y[rel_of_row + off, rows]
            sums[k] += (p == gold)[:, ev].float()
        maj = _majority(train, test_fold, rel_of_row, y, R)
        sums["majority"] += (maj == y)[ev].float()[None].expand(len(feats.groups), -1)
    correct = {k: v / len(seeds) for k, v in sums.items()}
    return ProbeRun(
        mode,
        feats.groups,
        [f.subject for f, e in zip(facts, ev.tolist(), strict=True) if e],
        [f.relation or "all" for f, e in zip(facts, ev.tolist(), strict=True) if e],
        correct,
    )


def probe_model(
    subject: Subject,
    forget: FactsLike,
    retain: FactsLike,
    *,
    mode: str = "transfer",
    config: ProbeConfig = ProbeConfig(),
    train_on: str | Subject = "self",
    features: Callable[[Subject, FactsLike], FactFeatures] | None = None,
    batch_size: int = 128,
) -> ProbeRun:
    """Capture features of ``forget`` + ``retain`` facts on ``subject`` and run one probe mode.

    ``train_on``: ``"self"`` or another subject whose retain activations train the transfer probe.
    ``features``: ``(subject, facts) -> FactFeatures`` to probe something other than the residual
    stream at ``config``'s depths and roles, e.g. SAE latents
    (`unlearnscope.localize.concepts.sae_probe_features`)."""
    forget, retain = as_facts(forget), as_facts(retain)
    facts = forget + retain
    ev = torch.tensor([True] * len(forget) + [False] * len(retain))

    def capture(s):
        if features is not None:
            return features(s, facts)
        return fact_features(s, facts, layers=config.layers, roles=config.roles, batch_size=batch_size)

    feats = capture(subject)
    train_feats = None
    if train_on != "self":
        if mode != "transfer":
            raise UnlearnscopeError("train_on another model only applies to transfer probes")
        train_feats = capture(train_on)
    return run_probes(feats, ev, mode, config, train_feats)


def random_init_like(subject: Subject, seed: int = 0) -> Subject:
    """A subject with the same architecture and tokenizer and freshly initialised weights (the
    random-init probe control; Zhang & Bowman)."""
    from ..model.loading import load

    torch.manual_seed(seed)
    config = copy.deepcopy(subject.model.config)
    model = type(subject.model)(config).to(subject.device).eval()
    return load(model, subject.tokenizer)
