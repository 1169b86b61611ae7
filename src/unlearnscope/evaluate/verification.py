"""Verify residual knowledge: every readout and attack on the unlearned models *and* their references.

    from . import ModelSet, VerifyData, verify
    models = ModelSet.of([unl_seed0, unl_seed1, unl_seed2], original=orig, reference=[ref, ref_seed1], noise=noise)
    v = verify(models, VerifyData.of(forget, retain, formats={"paraphrase": para, "mc": mc}))
    v.verdict["verdict"], v.verdict["seeds"], v.metric("relearn")["rki"], v.save("runs/verify")

Each registered readout (`evaluate.registry.READOUTS`: behaviour, locality, the intrinsic readouts
and the attacks; ``unlearnscope.evaluate.READOUTS.names()`` lists them) that the `VerifyConfig`
asks for is measured on every unlearned model (one per unlearning seed), ORIG, every never-knew
reference (REF and REFs of other weight seeds) and NOISE with the same protocol, then turned into
an RKI with a paired bootstrap CI over entities and models (`rki`).  A readout that cannot run
(no ORIG, no held-out formats, an encoder without an LM head) is listed with why among the
verdict's missing readouts.  The verdict follows `rki.verdict_of` with the pre-registered rules,
per seed and pooled (``unstable`` when the seeds disagree).  With an inference-time intervention
(``ModelSet.hold``) the readouts marked ``weights_only`` are measured again on the weights alone,
and knowledge that comes back without the intervention is "held in the weights".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING

from ..errors import UnlearnscopeError
from ..progress import bar
from ..results import Result
from .config import VerifyConfig
from .data import VerifyData
from .models import ModelSet
from .registry import READOUTS, Measurement
from .rki import Metric, VerdictConfig, findings, seed_verdicts, shows_knowledge, verdict_of
from .verdicts import Finding, MetricSummary, MissingReadout, Verdict

if TYPE_CHECKING:
    from ..data.records import FactsLike
    from ..model.subject import Subject
    from .cache import MeasurementCache
    from .faithfulness import FaithfulnessTable


@dataclass
class Verification(Result):
    """A verification's results: every metric's `MetricSummary` (``metric(name)``), the `Verdict`,
    each readout's `Finding`, the details each readout's section holds (what the report plots), the
    protocol as run (``config``) and the parametric traces of the located vectors and region."""

    kind = "verification"
    metrics: list[MetricSummary]
    verdict: Verdict
    probes: dict
    lens: dict
    relearn: dict
    config: dict
    warnings: list[str] = field(default_factory=list)
    parametric: dict = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)  # per readout: what it shows (see rki.findings)
    weights_only: list[MetricSummary] = field(
        default_factory=list
    )  # inference-time interventions: metrics without them
    depth: dict = field(default_factory=dict)  # causal depth: the patching baseline per layer (see evaluate.depth)
    attacks: dict = field(
        default_factory=dict
    )  # worst-case attacks: each option's recovered recall per role (see evaluate.attacks)
    seconds: dict = field(default_factory=dict)  # wall time of each readout (recall, probe, relearn, ...)
    details: dict = field(default_factory=dict)  # the details sections of readouts registered beyond these fields

    def __post_init__(self) -> None:  # `load` gives the JSON: read it back into the typed records
        as_summary = lambda m: MetricSummary.from_dict(m) if isinstance(m, dict) else m
        self.metrics = [as_summary(m) for m in self.metrics]
        self.weights_only = [as_summary(m) for m in self.weights_only]
        self.findings = [Finding.from_dict(f) if isinstance(f, dict) else f for f in self.findings]
        if isinstance(self.verdict, dict):
            self.verdict = Verdict.from_dict(self.verdict)

    def metric(self, name: str) -> MetricSummary:
        for m in self.metrics:
            if m.name == name:
                return m
        raise UnlearnscopeError(f"no metric {name!r}; have {[m.name for m in self.metrics]}")

    def section(self, name: str) -> dict:
        """A readout's details section (``probes``, ``lens``, ``relearn``, ``depth``, ``attacks`` or another's)."""
        return getattr(self, name) if name in SECTIONS else self.details.get(name, {})

    def plot(self):
        from ..viz.verify import rki_bars

        return rki_bars(self.to_dict())


SECTIONS = ("probes", "lens", "relearn", "depth", "attacks")  # details sections that are fields of `Verification`


def has_lm_head(subject) -> bool:
    """Whether the model predicts tokens (an unembedding); encoders (BERT-family) do not."""
    return subject.anatomy.unembed is not None


def _encoder_verdict(not_run: dict, cfg: VerdictConfig) -> Verdict:
    return Verdict(
        "no verdict",
        "no verdict",
        "an encoder without an LM head: behaviour, relearning and the prompt attacks need next-token predictions, so "
        "only the intrinsic readouts (probes) are measured and there is no verdict",
        config=asdict(cfg),
        missing_readouts=[MissingReadout(k, w) for k, w in not_run.items()],
    )


def _plan(ms: ModelSet, data: VerifyData, cfg: VerifyConfig, details: dict, *, weights_only: bool) -> list[Measurement]:
    """The measurements to take, in the registry's order; what cannot run goes into
    ``details["not_run"]`` (attributions are never missing readouts: they are not readouts)."""
    todo = []
    for name in cfg.asked():
        r = READOUTS[name]
        if weights_only and not r.weights_only:
            continue
        m = Measurement(ms if r.on_noise else ms.without("noise"), data, cfg, r, details, details["not_run"])
        if not r.is_applicable(m):
            continue
        why = r.why_not(m)
        if why is None:
            todo.append(m)
        elif r.kind != "attribution":
            details["not_run"][name] = why
    return todo


def _readouts(
    ms: ModelSet, data: VerifyData, cfg: VerifyConfig, *, weights_only: bool = False
) -> tuple[list[Metric], dict]:
    """Every metric asked for (``weights_only``: those re-measured without an intervention) and
    the details the report plots (probe tables, lens ranks, relearning curves, attack options)."""
    details: dict = {s: {} for s in SECTIONS} | {"not_run": {}, "seconds": {}}
    todo = _plan(ms, data, cfg, details, weights_only=weights_only)
    metrics: list[Metric] = []
    with bar(total=len(todo), desc="verify (weights only)" if weights_only else "verify") as b:
        for m in todo:
            b.set_postfix_str(m.readout.name)
            t0 = time.perf_counter()
            metrics += m.readout.measure(m)
            details["seconds"][m.readout.name] = round(time.perf_counter() - t0, 3)
            b.update()
    return metrics, details


def _with_extra_models(ms: ModelSet, data: VerifyData, cfg: VerifyConfig) -> ModelSet:
    """``ms`` with the control models the asked readouts measure beside the roles (random-init probes)."""
    extra: dict = {}
    for name in cfg.asked():
        r = READOUTS[name]
        if r.extra_models is not None:
            extra.update(r.extra_models(Measurement(ms, data, cfg, r)))
    return replace(ms, extra=extra) if extra else ms


def _held_in_weights(v: Verdict, weights: list[Metric], cfg: VerdictConfig) -> Verdict:
    """An inference-time intervention's verdict, told apart from its weights: knowledge that the
    behavioural or adversarial readouts find without the intervention is held in the weights, so
    the verdict cannot be "erased"."""
    held = [m.name for m in weights if m.kind != "locality" and shows_knowledge(m.rki(cfg), cfg.margin)]
    v = replace(
        v,
        intervention="inference-time",
        held_in_weights=held,
        weights_only_rki={m.name: m.rki(cfg) for m in weights if m.kind != "locality"},
    )
    if held:
        note = f"held in the weights: {', '.join(held)} show residual knowledge with the intervention removed"
        if v.knowledge == "erased":
            v = replace(v, knowledge="suppressed", label="suppressed" if v.label == "erased" else v.label)
        v = replace(v, reason=f"{v.reason}; {note}")
    return v


def _gate(metrics: list[Metric], not_run: dict, table, cfg: VerifyConfig) -> tuple[list[Metric], dict]:
    """The metrics the verdict uses: readouts whose faithfulness AUC is below the table's floor are
    left out (listed with why among the missing readouts) unless ``use_unfaithful``; behaviour
    always counts (a verdict needs it)."""
    if table is None or cfg.use_unfaithful:
        return metrics, not_run
    low = {k: w for k, w in table.unfaithful().items() if any(m.name == k and m.kind != "behavioural" for m in metrics)}
    return [m for m in metrics if m.name not in low], {**not_run, **{k: f"not used: {w}" for k, w in low.items()}}


def _annotated(m: Metric, cfg: VerifyConfig, table, used: list[Metric]) -> MetricSummary:
    faith = table.annotate(m.name) if table is not None else {"status": "not meta-evaluated", "auc": None, "ci": None}
    return replace(
        m.summary(cfg.rules), faithfulness=faith, used_in_verdict=m.kind != "locality" and any(u is m for u in used)
    )


def _mean_summary(rows: list[dict]) -> dict:
    """Numbers averaged over ``rows`` (summaries of several seeds); anything else from the first row."""
    out: dict = {}
    for k, first in rows[0].items():
        vals = [r.get(k) for r in rows]
        numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals)
        out[k] = sum(vals) / len(vals) if numeric else first
    return out


def _traces(ms: ModelSet, vectors, region) -> dict:
    """Parametric traces of every unlearned model against ORIG (summaries averaged over seeds),
    NOISE's as the drift floor, and the unlearned models' drift relative to NOISE's."""
    from .parametric import parametric_traces

    orig = ms.roles["original"][0]

    def trace(u):
        with ms.resident(u):
            return parametric_traces(orig, u, vectors, region)

    ts = [trace(u) for u in ms.roles["unlearned"]]
    summary = _mean_summary([t.summary() for t in ts])
    traces = {
        "summary": summary,
        "by_seed": [t.summary() for t in ts],
        "vectors": ts[0].vectors,
        "modules": ts[0].modules,
    }
    if ms.has("noise"):
        tn = [trace(n) for n in ms.roles["noise"]]
        noise = _mean_summary([t.summary() for t in tn])
        traces["noise"] = {"summary": noise, "vectors": tn[0].vectors}
        traces["relative_to_noise"] = {
            k: summary[k] / noise[k]
            for k in ("total_delta_norm", "mean_relative_change")
            if isinstance(summary.get(k), float) and isinstance(noise.get(k), float) and noise[k] > 0
        }
    return traces


def measure_readouts(
    models: ModelSet, data: VerifyData, config: VerifyConfig = VerifyConfig(), *, cache: MeasurementCache | None = None
) -> list[Metric]:
    """Every readout of `verify` on ``models`` (the unlearned role: one row per model) against its
    ORIG and references — the per-model values a meta-evaluation scores."""
    cfg = config.validate()
    ms = replace(models, cache=cache)
    if cache is not None:
        cache.reset_digests()
    try:
        return _readouts(ms, data, cfg)[0]
    finally:
        if cache is not None:
            cache.reset_digests()


def _verdict(
    ms: ModelSet, data: VerifyData, cfg: VerifyConfig, used: list[Metric], not_run: dict
) -> tuple[list[Metric], Verdict]:
    """The verdict with its per-seed verdicts, and for an inference-time intervention (``ms.hold``)
    the weights-only metrics it is told apart from; an encoder gets the no-verdict verdict."""
    if not has_lm_head(ms.roles["unlearned"][0]):
        return [], _encoder_verdict(not_run, cfg.rules)
    weights = _readouts(ms.weights(), data, cfg, weights_only=True)[0] if ms.hold is not None else []
    adjust = (lambda v: _held_in_weights(v, weights, cfg.rules)) if ms.hold is not None else (lambda v: v)
    pooled = adjust(verdict_of(used, cfg.rules, not_run=not_run))
    return weights, seed_verdicts(used, cfg.rules, pooled, not_run=not_run, adjust=adjust, labels=ms.seeds)


def verify(
    models: ModelSet,
    data: VerifyData,
    config: VerifyConfig = VerifyConfig(),
    *,
    cache: MeasurementCache | None = None,
    faithfulness: FaithfulnessTable | None = None,
) -> Verification:
    """Run every readout and attack ``config`` asks for (see module doc) and the verdict.

    ``cache``: a `MeasurementCache` shared by calls that verify several models against the same
    references (results identical to no cache); ``faithfulness``: a `FaithfulnessTable` (from
    `unlearnscope metaeval`): readouts below its floor are listed but not used in the verdict
    (unless ``config.use_unfaithful``), and every metric shows its faithfulness."""
    import warnings

    from .cache import MeasurementCache

    cfg = config.validate()
    if cache is None and models.hold is not None:
        cache = MeasurementCache()  # references are measured twice with a hold
    ms = _with_extra_models(replace(models, cache=cache), data, cfg)
    if cache is not None:
        cache.reset_digests()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metrics, details = _readouts(ms, data, cfg)
        used, not_run = _gate(metrics, details["not_run"], faithfulness, cfg)
        weights, v = _verdict(ms, data, cfg, used, not_run)
    msgs = sorted(
        {str(w.message) for w in caught if issubclass(w.category, UserWarning) and "entities" in str(w.message)}
    )
    traces = _traces(ms, data.vectors, data.region) if ms.has("original") else {}
    if cache is not None:
        cache.reset_digests()
    others = {k: d for k, d in details.items() if k not in SECTIONS and k not in ("not_run", "seconds")}
    return Verification(
        [_annotated(m, cfg, faithfulness, used) for m in metrics],
        v,
        details["probes"],
        details["lens"],
        details["relearn"],
        cfg.to_dict(),
        msgs,
        traces,
        findings(metrics, cfg.rules),
        [m.summary(cfg.rules) for m in weights],
        details["depth"],
        details["attacks"],
        details["seconds"],
        others,
    )


def verify_facts(
    unlearned: Subject | Sequence[Subject],
    forget: FactsLike,
    retain: FactsLike,
    *,
    original: Subject | None = None,
    reference: Subject | Sequence[Subject] | None = None,
    noise: Subject | Sequence[Subject] | None = None,
    config: VerifyConfig = VerifyConfig(),
    cache: MeasurementCache | None = None,
) -> Verification:
    """`verify` of ``unlearned`` (a model or one per seed) against ``original`` and
    ``reference`` (one never-knew model or several) on ``forget`` / ``retain`` facts alone;
    give held-out formats, demos, restatements or an intervention through `verify`."""
    return verify(
        ModelSet.of(unlearned, original, reference, noise), VerifyData.of(forget, retain), config, cache=cache
    )
