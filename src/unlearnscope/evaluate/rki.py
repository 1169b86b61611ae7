"""Residual Knowledge Index, verdicts and per-readout findings (the protocol: ``docs/verify.md``).

For a metric ``m`` where higher means "knows more" (accuracy, recovered accuracy, probe accuracy):

    RKI = (m_unl − m_REF) / (m_ORIG − m_REF)

0 = at the never-knew level, 1 = as the original, < 0 = below the never-knew level (over-unlearned).
``m`` is the mean over entities (and over models where a role has several: unlearning seeds,
never-knew references of several weight seeds); the CI comes from a paired bootstrap over entities
and models (`stats.Resamples`).  RKI is undefined when ``|m_ORIG − m_REF|`` is below ``min_gap``:
the metric does not separate a model that knows from one that never knew.

Residual knowledge is one-sided: a readout *shows no residual knowledge* when its RKI's CI upper
bound is at most ``margin``; it *shows residual knowledge* when the CI lower bound is above 0 and
the point estimate above ``margin``; it is *over-unlearned* (below the never-knew level: damage to
that ability, not knowledge) when the CI upper bound is below 0 and the point estimate below
``−margin``.  Knowledge verdict, from the behavioural RKI ``b`` and the intrinsic and adversarial
readouts (margins in `VerdictConfig`, pre-registered and printed with the results):

* ``erased``: ``b`` shows no residual knowledge, at least one intrinsic readout and at least one
  relearning attack are defined, and no defined intrinsic or adversarial readout shows any;
  with a family missing or undefined the verdict is ``inconclusive`` and says which and why;
* ``suppressed``: ``b`` shows none, some intrinsic / adversarial readout shows residual knowledge;
* ``not unlearned``: ``b`` and some intrinsic / adversarial readout show residual knowledge;
* ``inconclusive``: none of the above (e.g. CIs too wide, partial forgetting);
* ``no reference``: without REF the excess over a never-knew model cannot be computed.

Then damage: ``damaged`` (the knowledge verdict beside it) when a locality metric dropped beyond
NOISE's own drop — the paired CI of ``(m_unl − m_NOISE) / m_ORIG`` lies below ``−locality_margin``
(without NOISE: the retained share ``m_unl / m_ORIG`` below ``1 − locality_margin``).  Forget
readouts below the never-knew level are listed as over-unlearned (``over_unlearned``, and in the
reason): damage to that ability, not residual knowledge.  Every verdict lists the readouts that
were asked for but not used (``missing_readouts``: not run, or not separating ORIG from REF) and why.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import torch

from ..errors import UnlearnscopeError
from .stats import Resamples, mean_ci, percentile_ci, warn_few_entities
from .verdicts import RKI, Finding, MetricSummary, MissingReadout, RoleSummary, SeedVerdict, Verdict

KINDS = ("behavioural", "intrinsic", "adversarial", "locality")
ROLES = ("unlearned", "original", "reference", "noise")


@dataclass(frozen=True)
class VerdictConfig:
    """Pre-registered margins and statistics settings (printed with every verdict)."""

    margin: float = 0.2  # residual knowledge: RKI CI upper bound <= margin means none
    locality_margin: float = 0.1  # damaged if the drop beyond NOISE (or the retained share) is CI-below this
    min_gap: float = 0.05  # |m_ORIG − m_REF| below this: RKI undefined
    n_boot: int = 2000
    level: float = 0.95
    min_entities: int = 20  # fewer: warn that CIs are not meaningful
    seed: int = 0

    def validate(self) -> None:
        if not (0 < self.margin < 1 and 0 < self.locality_margin < 1 and self.min_gap >= 0):
            raise UnlearnscopeError(f"verdict margins must be in (0, 1): {asdict(self)}")
        if self.n_boot < 100 or not 0.5 < self.level < 1:
            raise UnlearnscopeError(f"n_boot must be >= 100 and level in (0.5, 1): {asdict(self)}")


def _rows(v: torch.Tensor | None, role: str, n: int) -> torch.Tensor | None:
    """Per-entity values as ``[n_models, n_entities]``."""
    if v is None:
        return None
    v = v[None] if v.ndim == 1 else v
    if v.ndim != 2 or v.shape[1] != n or v.shape[0] < 1:
        raise UnlearnscopeError(
            f"{role} has shape {tuple(v.shape)}, expected [{n}] or [n_models, {n}] (one value per entity)"
        )
    return v


@dataclass
class Metric:
    """One metric on the forget (or, for locality, retained) entities for every model.

    Each role holds per-entity values ``[n_entities]`` or ``[n_models, n_entities]`` (entity order
    ``entities``): several unlearned models are unlearning seeds, several references never-knew
    models of different weight seeds, several NOISE models drift floors; ``original`` /
    ``reference`` / ``noise`` may be ``None`` when not given."""

    name: str
    kind: str  # behavioural | intrinsic | adversarial | locality
    entities: list[str]
    unlearned: torch.Tensor
    original: torch.Tensor | None = None
    reference: torch.Tensor | None = None
    detail: dict = field(default_factory=dict)
    noise: torch.Tensor | None = None

    def __post_init__(self):
        if self.kind not in KINDS:
            raise UnlearnscopeError(f"metric kind must be one of {KINDS}, got {self.kind!r}")
        for role in ROLES:
            try:
                setattr(self, role, _rows(getattr(self, role), role, len(self.entities)))
            except UnlearnscopeError as err:
                raise UnlearnscopeError(f"metric {self.name}: {err}") from err

    @property
    def n_seeds(self) -> int:
        return self.unlearned.shape[0]

    def seed(self, s: int) -> Metric:
        """The metric with unlearned model ``s`` alone (for per-seed verdicts); a metric measured
        on one unlearned model is the same for every seed."""
        if self.n_seeds == 1:
            return self
        return Metric(
            self.name,
            self.kind,
            self.entities,
            self.unlearned[s : s + 1],
            self.original,
            self.reference,
            self.detail,
            self.noise,
        )

    def _resamples(self, cfg: VerdictConfig) -> Resamples:
        n = {r: getattr(self, r).shape[0] for r in ROLES if getattr(self, r) is not None}
        return Resamples.draw(len(self.entities), n, cfg.n_boot, cfg.seed)

    def summary(self, cfg: VerdictConfig = VerdictConfig()) -> MetricSummary:
        """The metric's `MetricSummary`: the unlearned models' mean, CI, per seed and per entity,
        each reference role's mean and CI, the RKI (locality metrics: the retained share)."""
        rs = self._resamples(cfg)
        u = self.unlearned.double()
        lo, hi = percentile_ci(rs.means("unlearned", u), cfg.level)
        roles = {}
        for role in ("original", "reference", "noise"):
            v = getattr(self, role)
            if v is not None:
                rlo, rhi = percentile_ci(rs.means(role, v), cfg.level)
                roles[role] = RoleSummary(float(v.double().mean()), (rlo, rhi), v.shape[0])
        return MetricSummary(
            self.name,
            self.kind,
            float(u.mean()),
            (lo, hi),
            len(self.entities),
            [float(x) for x in u.mean(1)],
            dict(zip(self.entities, [round(x, 6) for x in u.mean(0).tolist()], strict=True)),
            **roles,
            rki=self.rki(cfg) if self.kind != "locality" else None,
            locality=self.locality(cfg) if self.kind == "locality" and self.original is not None else None,
            detail=self.detail or None,
        )

    def rki(self, cfg: VerdictConfig = VerdictConfig()) -> RKI:
        """The metric's `RKI` (see module doc)."""
        if self.original is None or self.reference is None:
            missing = [r for r in ("original", "reference") if getattr(self, r) is None]
            return RKI.undefined(
                f"no {' / '.join(missing)} model: the excess over the never-knew reference could not be computed"
            )
        o, u, r = (x.double().mean() for x in (self.original, self.unlearned, self.reference))
        gap = float(o - r)
        if abs(gap) < cfg.min_gap:
            return RKI.undefined(
                f"ORIG and REF differ by {gap:+.3f} (< {cfg.min_gap}): does not separate knowing from never knowing"
            )
        rs = self._resamples(cfg)
        ob, ub, rb = (
            rs.means("original", self.original),
            rs.means("unlearned", self.unlearned),
            rs.means("reference", self.reference),
        )
        den = ob - rb
        samples = torch.where(den.abs() >= cfg.min_gap, (ub - rb) / den, torch.full_like(den, float("nan")))
        lo, hi = percentile_ci(samples, cfg.level)
        return RKI(float((u - r) / gap), (lo, hi), True)

    def locality(self, cfg: VerdictConfig = VerdictConfig()) -> dict:
        """Retained share ``m_unl / m_ORIG`` and, with NOISE, the drop beyond NOISE's
        ``(m_unl − m_NOISE) / m_ORIG``, each with a paired bootstrap CI."""
        o = self.original.double()
        if float(o.mean()) <= 0:
            return {"value": None, "ci": [None, None], "beyond_noise": None}
        rs = self._resamples(cfg)
        ob, ub = rs.means("original", o).clamp_min(1e-12), rs.means("unlearned", self.unlearned)
        out = {
            "value": float(self.unlearned.double().mean() / o.mean()),
            "ci": list(percentile_ci(ub / ob, cfg.level)),
            "beyond_noise": None,
        }
        if self.noise is not None:
            nb = rs.means("noise", self.noise)
            out["beyond_noise"] = {
                "value": float((self.unlearned.double().mean() - self.noise.double().mean()) / o.mean()),
                "ci": list(percentile_ci((ub - nb) / ob, cfg.level)),
            }
        return out


# ---------------------------------------------------------------------------- the rules
def shows_none(r: RKI, m: float) -> bool:
    """No residual knowledge: the RKI's CI upper bound is at most ``m`` (one-sided)."""
    return r.defined and r.ci[1] is not None and r.ci[1] <= m


def shows_knowledge(r: RKI, m: float) -> bool:
    """Residual knowledge: CI lower bound above 0 and the point estimate above ``m``."""
    return r.defined and r.ci[0] is not None and r.ci[0] > 0 and r.value > m


def over_unlearned(r: RKI, m: float) -> bool:
    """Below the never-knew level: CI upper bound below 0 and the point estimate below ``−m``."""
    return r.defined and r.ci[1] is not None and r.ci[1] < 0 and r.value < -m


def is_relearning(name: str) -> bool:
    return name == "relearn" or name.startswith("relearn:")


def _worst(rows: list[tuple[str, RKI]]) -> RKI | None:
    w = max(rows, key=lambda x: x[1].value, default=None)
    return replace(w[1], metric=w[0]) if w else None


def _damage(metrics: list[Metric], rk: dict, cfg: VerdictConfig) -> tuple[dict, list[str], list[str]]:
    """``(locality results, damaged locality metrics, over-unlearned forget readouts)``."""
    loc = {m.name: m.locality(cfg) for m in metrics if m.kind == "locality" and m.original is not None}
    damaged = []
    for name, v in loc.items():
        test = v["beyond_noise"] if v["beyond_noise"] is not None else None
        if test is not None:
            if test["ci"][1] is not None and test["ci"][1] < -cfg.locality_margin:
                damaged.append(f"{name} (−{-test['value']:.2f} beyond NOISE)")
        elif v["ci"][1] is not None and v["ci"][1] < 1 - cfg.locality_margin:
            damaged.append(f"{name} (retained {v['value']:.2f}; no NOISE control)")
    over = [k for k, r in rk.items() if over_unlearned(r, cfg.margin)]
    return loc, damaged, over


def _knowledge(rk: dict, kinds: dict, cfg: VerdictConfig, missing: dict) -> tuple[str, str]:
    """The knowledge verdict and its reason (see module doc)."""
    m = cfg.margin
    beh = [(k, rk[k]) for k, kind in kinds.items() if kind == "behavioural" and rk[k].defined]
    b = max(beh, key=lambda x: x[1].value, default=None)
    if b is None:
        whys = [f"{k}: {missing[k]}" for k, kind in kinds.items() if kind == "behavioural" and k in missing]
        return "inconclusive", "no behavioural readout separates ORIG from REF (" + "; ".join(whys) + ")"
    b = b[1]
    inner = [(k, rk[k]) for k, kind in kinds.items() if kind in ("intrinsic", "adversarial") and rk[k].defined]
    present = [k for k, r in inner if shows_knowledge(r, m)]
    if shows_none(b, m) and present:
        return (
            "suppressed",
            f"behaviour at or below the never-knew level (RKI CI ≤ {m}) but {', '.join(present)} show residual "
            "knowledge",
        )
    if shows_knowledge(b, m) and present:
        return "not unlearned", f"behaviour and {', '.join(present)} show residual knowledge"
    if shows_none(b, m) and all(shows_none(r, m) for _, r in inner):
        families = {
            "intrinsic": [k for k, _ in inner if kinds[k] == "intrinsic"],
            "relearning": [k for k, _ in inner if is_relearning(k)],
        }
        gaps = [f for f, got in families.items() if not got]
        if not gaps:
            return "erased", (
                f"behaviour, {len(families['intrinsic'])} intrinsic and "
                f"{sum(kinds[k] == 'adversarial' for k, _ in inner)} "
                f"adversarial readouts (relearning included) show no residual knowledge (RKI CIs ≤ {m})"
            )
        whys = {
            "intrinsic": [
                f"{k}: {w}"
                for k, w in missing.items()
                if kinds.get(k) == "intrinsic" or k.startswith("probe") or k == "logit_lens"
            ],
            "relearning": [f"{k}: {w}" for k, w in missing.items() if is_relearning(k)],
        }
        parts = [f"no defined {f} readout ({'; '.join(whys[f]) or 'none was asked for'})" for f in gaps]
        return "inconclusive", "nothing shows residual knowledge, but erasure needs every family: " + "; ".join(parts)
    return "inconclusive", f"no rule applies at margin {m} (CIs too wide or forgetting partial)"


def verdict_of(metrics: list[Metric], cfg: VerdictConfig = VerdictConfig(), *, not_run: dict | None = None) -> Verdict:
    """The `Verdict` for one target (see module doc) with the RKIs it rests on.  ``not_run``:
    ``{readout: why}`` for readouts asked for that could not be run (listed in
    ``missing_readouts`` beside the undefined ones)."""
    cfg.validate()
    if not metrics:
        raise UnlearnscopeError("a verdict needs at least one metric")
    behavioural = [m for m in metrics if m.kind == "behavioural"]
    if not behavioural:
        raise UnlearnscopeError("a verdict needs a behavioural metric (e.g. forget-set recall)")
    n = min(len(m.entities) for m in behavioural)
    warning = warn_few_entities("verdict (forget entities)", n, cfg.min_entities)
    kinds = {m.name: m.kind for m in metrics if m.kind != "locality"}
    rk = {m.name: m.rki(cfg) for m in metrics if m.kind != "locality"}
    missing = {**{k: v.why for k, v in rk.items() if not v.defined}, **(not_run or {})}
    base = {"config": asdict(cfg), "rki": rk, "missing_readouts": [MissingReadout(k, w) for k, w in missing.items()]}
    if any(m.reference is None for m in metrics if m.kind != "locality"):
        return Verdict(
            "no reference",
            "no reference",
            "no never-knew reference (REF) model: the excess over REF could not be computed, so no verdict",
            warning=warning,
            **base,
        )
    if min(m.reference.shape[0] for m in metrics if m.kind != "locality") < 2:
        warning = "; ".join(
            w for w in (warning, "one never-knew model: its seed-to-seed spread is not in the CIs") if w
        )
    beh = [(m.name, rk[m.name]) for m in behavioural if rk[m.name].defined]
    knowledge, reason = _knowledge(rk, kinds, cfg, missing)
    locality, damaged, over = _damage(metrics, rk, cfg)
    if over:
        reason += (
            "; over-unlearned (below the never-knew level, damage to that ability, not residual knowledge): "
            f"{', '.join(over)}"
        )
    label, reason = (
        ("damaged", f"locality dropped ({', '.join(damaged)}); knowledge verdict: {knowledge} ({reason})")
        if damaged
        else (knowledge, reason)
    )
    return Verdict(
        label,
        knowledge,
        reason,
        warning=warning,
        locality=locality,
        over_unlearned=over,
        behavioural_rki=max((r for _, r in beh), key=lambda r: r.value, default=None),
        intrinsic_rki=_worst([(k, r) for k, r in rk.items() if kinds[k] == "intrinsic" and r.defined]),
        adversarial_rki=_worst([(k, r) for k, r in rk.items() if kinds[k] == "adversarial" and r.defined]),
        **base,
    )


def seed_verdicts(
    metrics: list[Metric], cfg: VerdictConfig, pooled: Verdict, *, not_run: dict | None = None, adjust=None, labels=None
) -> Verdict:
    """Per unlearning seed, the verdict on that seed's model alone (passed through ``adjust``,
    as the pooled one was); ``pooled`` becomes ``unstable`` (its own verdict kept as
    ``pooled_verdict``) when the seeds disagree.  ``labels``: the seeds' names in the ``seeds``
    rows (default 0, 1, …, the unlearned models' order)."""
    n = max(m.n_seeds for m in metrics)
    labels = list(labels) if labels is not None else list(range(n))
    if len(labels) != n:
        raise UnlearnscopeError(f"{len(labels)} seed labels for {n} unlearned models; give one label per model")
    if n < 2:
        return replace(pooled, seeds=[SeedVerdict(labels[0], pooled.label, pooled.knowledge)], stability="single seed")
    adjust = adjust or (lambda v: v)
    rows = [adjust(verdict_of([m.seed(s) for m in metrics], cfg, not_run=not_run)) for s in range(n)]
    seeds = [SeedVerdict(lab, r.label, r.knowledge) for lab, r in zip(labels, rows, strict=True)]
    if len({r.label for r in rows}) == 1:
        return replace(pooled, seeds=seeds, stability="stable")
    listed = ", ".join(f"seed {s.seed}: {s.label}" for s in seeds)
    return replace(
        pooled,
        seeds=seeds,
        stability="unstable",
        pooled_verdict=pooled.label,
        label="unstable",
        reason=f"the seeds disagree ({listed}); pooled over seeds: {pooled.label} ({pooled.reason})",
    )


# ---------------------------------------------------------------------------- findings (subset commands)
FINDINGS = {  # kind -> (shows residual knowledge, shows none)
    "behavioural": ("recalls", "does not recall at margin {m}"),
    "intrinsic": ("decodable", "not linearly decodable at margin {m}"),
    "adversarial": ("recovers", "does not recover at margin {m}"),
}


def findings(metrics: list[Metric], cfg: VerdictConfig = VerdictConfig()) -> list[Finding]:
    """Per readout, what it shows — never a knowledge verdict (that needs every family):
    ``{"name", "kind", "rki", "finding"}``; probes read "decodable" / "not linearly decodable at
    margin m", attacks "recovers" / "does not recover at margin m"."""
    out = []
    for m in metrics:
        if m.kind == "locality":
            continue
        r = m.rki(cfg)
        yes, no = FINDINGS[m.kind]
        if not r.defined:
            f = f"undefined: {r.why}"
        elif over_unlearned(r, cfg.margin):
            f = "below the never-knew level (over-unlearned)"
        elif shows_knowledge(r, cfg.margin):
            f = yes
        elif shows_none(r, cfg.margin):
            f = no.format(m=cfg.margin)
        else:
            f = "undecided (the CI straddles the margin)"
        out.append(Finding(m.name, m.kind, r, f))
    return out


def mean_and_ci(values: torch.Tensor, cfg: VerdictConfig) -> tuple[float, float | None, float | None]:
    """Entity-bootstrap mean and CI of one model's per-entity values (probe tables)."""
    return mean_ci(values, n_boot=cfg.n_boot, seed=cfg.seed, level=cfg.level)
