"""Meta-evaluate every readout a verdict uses on a population of one organism world.

    from unlearnscope.metaeval import MetaEvalConfig, run_metaeval
    m = run_metaeval(MetaEvalConfig(organism="facts", size="small", seeds=2), out="reports/metaeval")
    m.rows[0]["faithfulness_auc"], m.table().unfaithful(), m.plot()

The population (`population`), the values per member and condition (`measure`) and the scores
(`scores`) are cached, so a second run, or an audit that asks for the table, reads them back.
The table is also written beside the population (`evaluate.faithfulness.table_path`), where
audits of the same organism find it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from ..errors import UnlearnscopeError
from ..evaluate.config import VerifyConfig
from ..evaluate.faithfulness import FLOOR, FaithfulnessTable, table_path
from ..evaluate.rki import VerdictConfig
from ..results import Result
from .measure import CONDITIONS, member_values
from .population import FT_MEMBERS, Member, cached_member, finetune_unrelated, weight_seed_members
from .scores import readout_row

# every readout family at a light budget; relearning at one learning rate (no selection across members)
METAEVAL_VERIFY = (
    VerifyConfig(rules=VerdictConfig(n_boot=200))
    .configure("probe", seeds=(0, 1), random_init_control=False)
    .configure("incontext", k=(1,))
    .configure("relearn", lrs=(3e-4,), seeds=(0, 1), steps=15)
)
ORGANISMS = ("facts",)
UNLEARNED_MEMBERS = ("ga", "localized", "ablate")  # audit methods whose unlearned models join the population


@dataclass(frozen=True)
class MetaEvalConfig:
    organism: str = "facts"
    size: str | None = None  # default: $UNLEARNSCOPE_ORGANISM_SIZE or "default"
    seed: int = 0  # the organism's seed (its world, ORIG and REF: the anchors)
    seeds: int = 4  # weight-seed models per side (knows: orig1..N, never knew: ref1..N), plus one fine-tuned model each
    methods: tuple[str, ...] = UNLEARNED_MEMBERS  # audit methods whose unlearned models join for robustness (() : none)
    floor: float = FLOOR  # pre-registered faithfulness floor for verdicts
    n_boot: int = 2000  # bootstrap resamples over models for the AUC CIs
    verify: VerifyConfig = METAEVAL_VERIFY

    def validate(self) -> MetaEvalConfig:
        if self.organism not in ORGANISMS:
            raise UnlearnscopeError(f"metaeval runs on the organisms {ORGANISMS}, got {self.organism!r}")
        if self.seeds < 2:
            raise UnlearnscopeError(f"--seeds must be >= 2 (weight-seed models per side), got {self.seeds}")
        if not 0.5 <= self.floor <= 1:
            raise UnlearnscopeError(f"the faithfulness floor must be in [0.5, 1], got {self.floor}")
        if len(self.verify.setting("relearn").lrs) != 1:
            raise UnlearnscopeError(
                "metaeval relearns at one learning rate (a value must not depend on the other members)"
            )
        self.verify.validate()
        return self


@dataclass
class MetaEval(Result):
    kind = "metaeval"
    organism: dict
    population: list[dict]
    rows: list[dict]
    config: dict
    seconds: float
    report: dict = field(default_factory=dict)  # paths written

    def table(self) -> FaithfulnessTable:
        src = (
            f"metaeval of {self.organism['name']} ({self.organism['size']}, seed {self.organism['seed']}), "
            f"{sum(m['group'] == 'knows' for m in self.population)} knows vs "
            f"{sum(m['group'] == 'never_knew' for m in self.population)} never-knew models"
        )
        return FaithfulnessTable(
            {
                r["name"]: {"auc": r["faithfulness_auc"], "ci": r["ci"], "robustness": r["robustness"]}
                for r in self.rows
            },
            src,
            self.config["floor"],
        )

    def plot(self):
        from ..viz.metaeval import roc_figure

        return roc_figure(self.to_dict())


def _check_out(out) -> None:
    if out is not None:
        from ..audit.plan import check_writable

        check_writable(Path(out))


def _unlearned(org, cfg: MetaEvalConfig, progress: bool, log) -> list[tuple[Member, object]]:
    """``[(member, model directory)]`` for each audit method, unlearned from ORIG at seed 0."""
    from ..audit.config import AuditConfig
    from ..audit.facts import facts_plan
    from ..audit.methods import check_methods
    from ..audit.plan import AuditContext

    acfg = AuditConfig(
        organism=cfg.organism, size=org.size, seed=org.seed, methods=cfg.methods, n_references=1
    ).validate()
    plan = {}

    def make(method):
        def run():
            if "plan" not in plan:  # localization runs only when some unlearned member is missing
                plan["plan"] = facts_plan(acfg, Path(org.path.parent / ".metaeval-plan"), log)
            p = plan["plan"]
            subject = p.models.fresh()
            method.run(AuditContext(acfg, p.target, p.original, p.localization, progress, seed=0), subject)
            return subject

        return run

    out = []
    for m in check_methods(cfg.methods, "facts"):
        spec = {"method": m.name, "audit": {k: v for k, v in acfg.to_dict().items() if k != "methods"}, "seed": 0}
        out.append(
            (
                Member(m.name, "unlearned", f"ORIG unlearned by the audit's {m.name} (seed 0): {m.description}"),
                cached_member(org, m.name, spec, make(m), log),
            )
        )
    return out


def _members(org, cfg: MetaEvalConfig, target, progress: bool, log) -> list[tuple[Member, object]]:
    """``[(member, model directory)]``: weight-seed models, fine-tuned anchors, unlearned models."""
    out = [(m, org.variant_path(m.name, log=log)) for m in weight_seed_members(cfg.seeds)]
    for m in FT_MEMBERS:
        anchor = m.name.split("+")[0]

        def make(anchor=anchor):
            s = org.load(anchor)
            finetune_unrelated(s, target.noise_items, seed=0)
            return s

        out.append(
            (m, cached_member(org, m.name, {"anchor": anchor, "how": m.how, "data": target.noise_source}, make, log))
        )
    return out + (_unlearned(org, cfg, progress, log) if cfg.methods else [])


def run_metaeval(
    config: MetaEvalConfig = MetaEvalConfig(),
    *,
    out: str | os.PathLike | None = None,
    progress: bool = True,
    publish: bool = True,
    log: Callable[[str], None] = lambda m: None,
) -> MetaEval:
    """Build (or load) the population, measure every readout on every member and condition, score
    faithfulness and robustness and, with ``out``, write the report (``metaeval.html`` +
    ``metaeval.json``).  ``publish``: save the faithfulness table beside the population, where
    audits of this organism read it (and stop using the readouts below the floor)."""
    from tqdm.auto import tqdm

    from ..audit.target import organism_target
    from ..evaluate.cache import MeasurementCache
    from ..model.loading import load
    from ..organisms import build, organism_size

    cfg = config.validate()
    t0 = time.perf_counter()
    _check_out(out)
    org = build(cfg.organism, cfg.size or organism_size(), cfg.seed, progress=False, log=log)
    target = organism_target(org)
    vcfg = replace(cfg.verify, bos=target.bos) if cfg.verify.bos is None else cfg.verify
    anchors = (org.load("orig"), org.load("ref"))
    members = _members(org, cfg, target, progress, log)
    values, cache = {}, MeasurementCache()
    bar = tqdm(total=len(members) * len(CONDITIONS), desc="metaeval", disable=not progress)
    for m, path in members:
        subject = load(str(path))
        for cond in CONDITIONS:
            bar.set_postfix_str(f"{m.name} {cond}")
            values[(m.name, cond)] = member_values(
                org, Path(path).parent.name, cond, subject, anchors, target, vcfg, cache
            )
            bar.update()
    bar.close()
    first = values[(members[0][0].name, "base")]
    pop = [m for m, _ in members]
    rows = [
        readout_row(name, v["kind"], values, pop, CONDITIONS, floor=cfg.floor, n_boot=cfg.n_boot)
        for name, v in first.items()
    ]
    for r in rows:
        r["anchors"] = {"orig": first[r["name"]]["orig"], "ref": first[r["name"]]["ref"]}
    result = MetaEval(
        {"name": org.name, "size": org.size, "seed": org.seed, "entry": org.path.name},
        [m.to_dict() for m in pop],
        rows,
        {**asdict(cfg), "conditions": list(CONDITIONS), "verify": vcfg.to_dict()},
        round(time.perf_counter() - t0, 1),
    )
    if publish:
        result.table().save(table_path(org))
    if out is not None:
        from .report import write_metaeval_report

        result.report = {k: str(v) for k, v in zip(("html", "json"), write_metaeval_report(result, out), strict=True)}
    return result
