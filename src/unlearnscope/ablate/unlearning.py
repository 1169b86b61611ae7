"""Localized unlearning: one trainer for every registered objective (`ablate.methods`), restricted
to any `ComponentSet`.

    result = unlearn(subject, forget, retain, components=ComponentSet.parse(subject, "blocks.1.mlp"),
                     config=UnlearnConfig(method="npo", steps=50, lr=1e-4))
    result.forget_metric_curve                  # [(step, top-1 accuracy on forget answers)]
    result.edits.save("runs/npo-l1")            # the change as an edit patch (not a model copy)
    result.edits.undo()                         # back to the original, bit for bit

Forget / retain data are texts, `Item`s, `Fact`s or token sets (`inputs`; items and facts also
give a top-1 forget metric on their answers, used for early stopping).  The model stays in eval mode (no dropout).
Training stops early when the forget metric reaches ``stop_at_forget_acc``.  A step whose loss or
gradient is not finite is not applied, and a step that leaves non-finite weights is rolled back to
the last good checkpoint (taken every ``eval_every`` steps); training stops and ``stopped`` says so
(the loop and its rules: `loop.TrainingLoop`; the objectives: `objectives.Objective`).
"""

from __future__ import annotations

import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from ..data import Fact, Item
from ..errors import UnlearnscopeError
from ..model.anatomy import ParamSlice
from ..model.components import ComponentSet
from ..model.edits import EditRecord, Edits
from ..results import write_json_atomic
from .inputs import as_list, batches, encode_inputs, n_rows
from .loop import TrainingLoop
from .masking import MaskedParams
from .methods import UNLEARNING_METHODS
from .objectives import Objective

if TYPE_CHECKING:
    from ..data.records import FactsLike
    from ..model.subject import Subject

SCHEDULES = ("constant", "linear", "cosine")
LOSS_ON = ("answer", "text")


@dataclass(frozen=True)
class UnlearnConfig:
    """One unlearning run with the registered objective ``method`` (`ablate.methods`).  Defaults
    that differ by method are ``None`` here and resolved by the properties below from the method's
    registration (`paper_defaults` holds the papers' full settings):

    * ``retain_weight`` (``alpha``): the method's own (1 for graddiff and log1mp, Guo et al.'s
      maintain loss; 100 for rmu, WMDP's code; 0 otherwise).
    * ``beta``: the method's own (NPO: Zhang et al. 2024; SimNPO: Fan et al. 2024, TOFU); a
      method without a β takes none.
    * ``forget_weight``: the forget loss's weight ``c_f`` (Guo et al.: 5 for MLP-only
      localizations, 0.1 for attribution/tracing/random; 1 elsewhere).
    * ``schedule``: ``constant`` (after ``warmup_steps`` of linear warm-up), ``linear`` (Hugging
      Face's: warm-up, then linear decay to 0 at ``steps``) or ``cosine`` (Guo et al.: cosine
      annealing over ``steps`` after the warm-up).
    * ``loss_on``: likelihood losses on facts and items score the ``answer`` tokens only (the
      prompt is context, as TOFU's and Guo et al.'s losses); ``text`` scores the whole text.  Texts
      and token sets always score every token.
    * RMU (Li et al. 2024, WMDP): the control vector is ``rmu_coef`` times a random unit vector,
      or, with ``rmu_scale`` set (the default), ``rmu_scale`` times the mean norm of ORIG's residual
      stream at ``rmu_layer`` on the forget tokens, so one setting works across models whose
      residual norms differ (WMDP tuned 6.5 for Zephyr-7B's layer 7 and 300 for Mixtral); the
      trained parameters default to the MLP output projections of layers ``rmu_layer − 2 …
      rmu_layer`` (WMDP updates three MLPs).
    * ``relabel``: descent on the forget data as given (``+nll``) — forgetting by fine-tuning
      toward other answers, e.g. random labels (Zhang, Choshen & Andreas, "Unforgettable
      Generalization in Language Models"); track the original answers with ``metric_items``.
    * ``log1mp``: Guo et al.'s forget loss ``−log(1 − p(answer token))``, a term dropped once
      ``log p < log1mp_floor`` (−5).
    """

    method: str = "ga"
    steps: int = 50
    lr: float = 1e-4
    batch_size: int = 16
    weight_decay: float = 0.0
    retain_weight: float | None = None
    kl_weight: float = 0.0
    beta: float | None = None  # NPO / SimNPO
    gamma: float = 0.0  # SimNPO margin
    npo_reference: str = "frozen"  # "self": the released UOE/SEUF NPO trainer's bug (log-ratio 0; a weighted GA)
    forget_weight: float = 1.0
    schedule: str = "constant"
    warmup_steps: int = 0
    loss_on: str = "answer"
    rmu_layer: int | None = None  # default: the middle layer
    rmu_coef: float = 6.5  # absolute norm of the RMU control vector (used when rmu_scale is None)
    rmu_scale: float | None = 5.0  # control norm = rmu_scale × mean residual norm at rmu_layer on the forget tokens
    log1mp_floor: float = -5.0
    clip: float = 1.0
    seed: int = 0
    eval_every: int = 5
    stop_at_forget_acc: float | None = None
    checkpoint_every: int | None = None  # with checkpoint_dir: write an edit patch every N steps
    checkpoint_dir: str | None = None

    def validate(self) -> None:
        UNLEARNING_METHODS.resolve(self.method)  # unknown methods: an error naming the registered ones
        if self.schedule not in SCHEDULES:
            raise UnlearnscopeError(f"unknown learning-rate schedule {self.schedule!r}; choose from {SCHEDULES}")
        if self.npo_reference not in ("frozen", "self"):
            raise UnlearnscopeError(
                f"npo_reference={self.npo_reference!r}: 'frozen' (the paper) or 'self' (UOE code compat)"
            )
        if self.loss_on not in LOSS_ON:
            raise UnlearnscopeError(f"loss_on={self.loss_on!r}: choose from {LOSS_ON}")
        bad = {
            k: v
            for k, v in asdict(self).items()
            if k in ("steps", "batch_size", "eval_every") and (not isinstance(v, int) or v < 1)
        }
        bad |= {
            k: v
            for k, v in (
                ("lr", self.lr),
                ("clip", self.clip),
                ("rmu_coef", self.rmu_coef),
                ("forget_weight", self.forget_weight),
            )
            if not v > 0
        }
        if self.beta_ is not None and not self.beta_ > 0:
            bad["beta"] = self.beta_
        if self.beta is not None and UNLEARNING_METHODS[self.method].beta is None:
            raise UnlearnscopeError(
                f"beta={self.beta} does not apply to {self.method!r} (no β in its objective); "
                f"methods with a β: {', '.join(UNLEARNING_METHODS.names(lambda m: m.beta is not None))}"
            )
        bad |= {
            k: v
            for k, v in (
                ("weight_decay", self.weight_decay),
                ("kl_weight", self.kl_weight),
                ("warmup_steps", self.warmup_steps),
            )
            if v < 0
        }
        if self.rmu_scale is not None and not self.rmu_scale > 0:
            bad["rmu_scale"] = self.rmu_scale
        if bad:
            raise UnlearnscopeError(f"invalid unlearning config values {bad}")

    @property
    def alpha(self) -> float:
        """The retain term's weight: ``retain_weight``, or the method's own."""
        return self.retain_weight if self.retain_weight is not None else UNLEARNING_METHODS[self.method].retain_weight

    @property
    def beta_(self) -> float | None:
        """``beta``, or the method's own (``None`` for a method without a β)."""
        return self.beta if self.beta is not None else UNLEARNING_METHODS[self.method].beta

    def lr_factor(self, step: int) -> float:
        """The multiplier of ``lr`` for optimizer step ``step`` (0-based), as Hugging Face's
        schedulers: ``step / warmup_steps`` during warm-up (the first step of a warm-up moves
        nothing), then 1 (constant), a linear decay to 0 at ``steps`` (linear) or a half cosine."""
        w = self.warmup_steps
        if step < w:
            return step / w
        if self.schedule == "constant":
            return 1.0
        frac = (step - w) / max(1, self.steps - w)
        return max(0.0, 1.0 - frac) if self.schedule == "linear" else 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))

    @classmethod
    def paper(cls, method: str, **overrides) -> UnlearnConfig:
        """The method's settings as its paper (and, where the papers leave them open, its code) ran
        it — `paper_defaults`; ``overrides`` replace any field."""
        papers = paper_defaults()
        if method not in papers:
            raise UnlearnscopeError(f"no paper settings for {method!r}; known: {sorted(papers)}")
        return cls(**{**papers[method]["config"], **overrides})


def paper_defaults() -> dict[str, dict]:
    """``{name: {"source", "config"}}``: every registered objective's paper settings, and Needle's
    (ConceptVectors: gradient ascent on one noised vector, `needle_config`)."""
    out = {m.name: m.paper for m in UNLEARNING_METHODS if m.paper}
    return {**out, "needle": NEEDLE_PAPER}


# ConceptVectors' Needle: gradient ascent on one value vector after N(0, σ²) noise
NEEDLE_SIGMA, NEEDLE_LR, NEEDLE_WEIGHT_DECAY, NEEDLE_BATCH = 0.1, 0.2, 0.01, 32
NEEDLE_PAPER = {
    "source": "ConceptVectors' Needle: N(0, 0.1^2) noise on the vector, then gradient ascent on that vector only, lr "
    "0.2, 1 epoch at batch 32 (4 x 8), AdamW weight decay 0.01 (here on the vector only), warm-up over the whole epoch",
    "config": {
        "method": "ga",
        "lr": NEEDLE_LR,
        "weight_decay": NEEDLE_WEIGHT_DECAY,
        "batch_size": NEEDLE_BATCH,
        "steps": 1,
        "schedule": "linear",
        "warmup_steps": 1,
        "loss_on": "text",
    },
}


@dataclass
class UnlearnResult:
    method: str
    config: dict
    components: list[str] | None
    n_params_trained: int
    steps: int
    forget_loss_curve: list[float]
    retain_loss_curve: list[float]
    forget_metric_curve: list[tuple[int, float]]
    stopped: str  # "steps" | "forget_metric" | "diverged at step N: ..."
    edits: Edits = field(repr=False)
    monitor_curves: dict = field(default_factory=dict)  # name -> [(step, value)] (e.g. routing overlap)
    aux_loss_curve: list = field(default_factory=list)  # the auxiliary loss per step (e.g. UOE's router anchor)

    def to_dict(self) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "edits"}
        d["forget_metric_curve"] = [list(x) for x in self.forget_metric_curve]
        d["monitor_curves"] = {k: [list(x) for x in v] for k, v in self.monitor_curves.items()}
        return d

    def save(self, out: str | os.PathLike) -> Path:
        """Write the edit patch and ``summary.json`` (with ``patch_path``) into ``out``."""
        out = Path(out)
        self.edits.save(out)
        write_json_atomic(out / "summary.json", {**self.to_dict(), "patch_path": str(out)})
        return out


def unlearn(
    subject: Subject,
    forget: FactsLike,
    retain: FactsLike | None = None,
    *,
    components: ComponentSet | None = None,
    config: UnlearnConfig = UnlearnConfig(),
    progress: bool = True,
    metric_items: list[Item] | None = None,
    aux_loss: Any | None = None,
    monitors: dict | None = None,
) -> UnlearnResult:
    """Run one unlearning method; the subject's model is modified in place (undo with ``result.edits``).

    ``aux_loss``: an object with ``recording()`` (a context manager around the forget batch's
    forward) and ``loss(batch) -> (weighted scalar, unweighted float)``, added to the objective
    (UOE's router anchor, `uoe.RouterAnchor`).  ``monitors``: ``{name: () -> float}`` evaluated at
    step 0 and every ``eval_every`` steps into ``result.monitor_curves``."""
    from ..organisms.train import accuracy

    cfg = config
    cfg.validate()
    forget, retain = as_list(forget), as_list(retain)
    f_enc, r_enc, needs_retain = _encoded(subject, forget, retain, cfg)
    if metric_items is None:  # items and facts have answers
        metric_items = [d for d in forget if isinstance(d, Fact)] if isinstance(forget, list) else []
    gen = torch.Generator().manual_seed(cfg.seed)
    objective = Objective(subject, cfg, gen, aux_loss, forget=f_enc)  # draws RMU's control vector from gen first
    f_iter = batches(f_enc, cfg.batch_size, gen)
    r_iter = batches(r_enc, cfg.batch_size, gen) if r_enc is not None and needs_retain else None
    baseline = Edits(subject)  # hashes of every parameter before training (for verify)
    subject.model.eval()
    if components is None:
        components = objective.default_components()
    forget_metric = (lambda: accuracy(subject.model, subject.tokenizer, metric_items)) if metric_items else None
    with objective, MaskedParams(subject, components) as mp:

        def save_checkpoint(step: int) -> None:
            as_edits(baseline.copy_baseline(), mp, components).save(Path(cfg.checkpoint_dir) / f"step-{step:06d}")

        loop = TrainingLoop(
            subject, cfg, mp, monitors=monitors, forget_metric=forget_metric, save_checkpoint=save_checkpoint
        )
        steps = loop.run(
            objective, lambda: (next(f_iter), next(r_iter) if r_iter is not None else None), progress=progress
        )
        edits = as_edits(baseline, mp, components)
        n_trained = mp.n_trained
    c = loop.curves
    names = components.names if components else None
    curves = (c.forget_loss, c.retain_loss, c.forget_metric)
    aux = c.aux_loss[: len(c.forget_loss)]
    return UnlearnResult(
        cfg.method, asdict(cfg), names, n_trained, steps, *curves, loop.stopped, edits, c.monitors, aux
    )


def _encoded(subject, forget: list, retain: list, cfg: UnlearnConfig) -> tuple[dict, dict | None, bool]:
    """``(forget encoding, retain encoding or None, whether the objective reads retain batches)``;
    an empty forget set, or a retain term without retain data, is an error."""
    if not n_rows(forget):
        raise UnlearnscopeError("empty forget set: give at least one text, item or token sequence")
    needs_retain = cfg.alpha > 0 or cfg.kl_weight > 0
    if needs_retain and not n_rows(retain):
        raise UnlearnscopeError(
            f"method {cfg.method!r} with retain_weight={cfg.alpha} / kl_weight={cfg.kl_weight} needs a retain set"
        )
    f_enc = encode_inputs(subject, forget, cfg.loss_on)
    r_enc = encode_inputs(subject, retain, cfg.loss_on) if n_rows(retain) else None
    if r_enc is not None:
        _warn_overlap(f_enc, r_enc)
    return f_enc, r_enc, needs_retain


def _warn_overlap(f_enc: dict, r_enc: dict) -> None:
    """Warn when forget texts also appear (token for token) in the retain set."""
    rows = lambda enc: {
        tuple(r[m.bool()].tolist()) for r, m in zip(enc["input_ids"], enc["attention_mask"], strict=True)
    }
    overlap = rows(f_enc) & rows(r_enc)
    if overlap:
        n_f, n_r = f_enc["input_ids"].shape[0], r_enc["input_ids"].shape[0]
        warnings.warn(f"{len(overlap)} of {n_f} forget texts also appear in the retain set ({n_r} texts)", stacklevel=3)


def as_edits(baseline: Edits, mp: MaskedParams, components: ComponentSet | None) -> Edits:
    """The training's change as slice-exact edit records on top of the pre-training hashes."""
    slices = components.slices() if components is not None else [ParamSlice(n) for n in mp.params]
    for sl in slices:
        p = mp.params[sl.param]
        ix = sl.indexer(p.shape, p.device)
        old, new = mp.snapshot[sl.param][ix], p.detach()[ix]
        if not torch.equal(old, new):
            baseline.records.append(EditRecord(sl, old.cpu().clone(), new.cpu().clone(), "unlearn"))
    return baseline


def noise_reference(
    subject: Subject,
    unrelated: FactsLike,
    retain: FactsLike | None = None,
    *,
    components: ComponentSet | None = None,
    config: UnlearnConfig = UnlearnConfig(),
    metric_items: list[Item] | None = None,
    progress: bool = True,
) -> UnlearnResult:
    """A NOISE run: the same method, components and budget on unrelated data, so reports can tell
    unlearning from drift.  ``metric_items`` (e.g. the real forget items) are tracked, never
    optimised; early stopping is off so the budget matches the run it controls for."""
    from dataclasses import replace

    r = unlearn(
        subject,
        unrelated,
        retain,
        components=components,
        config=replace(config, stop_at_forget_acc=None),
        progress=progress,
        metric_items=metric_items or [],
    )
    r.method = f"noise:{config.method}"
    return r


def needle_config(n_forget: int, **overrides) -> UnlearnConfig:
    """ConceptVectors' Needle schedule for ``n_forget`` training rows: one epoch at batch 32
    (``max(1, n_forget // 32)`` steps), lr 0.2 warmed up linearly over that whole epoch (their
    warm-up equals the steps per epoch, so the first step moves nothing and the last runs at
    ``0.2 · (steps − 1) / steps``), AdamW weight decay 0.01 on the vector only."""
    steps = max(1, n_forget // NEEDLE_BATCH)
    return UnlearnConfig.paper("needle", **{"steps": steps, "warmup_steps": steps, **overrides})


def needle(
    subject: Subject,
    layer: int,
    neuron: int,
    forget: FactsLike,
    *,
    expert: int | None = None,
    sigma: float = NEEDLE_SIGMA,
    seed: int = 0,
    config: UnlearnConfig | None = None,
    progress: bool = True,
    metric_items: list[Item] | None = None,
) -> UnlearnResult:
    """ConceptVectors' Needle oracle: add N(0, sigma²) noise to one value vector, then gradient
    ascent on the forget data updating that vector only (``config`` default: `needle_config`,
    the paper's schedule).  The returned edits hold both steps."""
    from .static import ablate

    config = config or needle_config(n_rows(as_list(forget)))
    if config.method != "ga":
        raise UnlearnscopeError(
            f"Needle is gradient ascent on one vector; config.method={config.method!r} would be another method "
            "(use unlearn() with components= for that)"
        )
    vector = ComponentSet.from_slices(
        subject,
        [subject.anatomy.value_slice(layer, [neuron], expert=expert)],
        [f"blocks.{layer}." + (f"moe.expert:{expert}.value:{neuron}" if expert is not None else f"mlp.value:{neuron}")],
    )
    noised = ablate(subject, vector, "noise", sigma=sigma, seed=seed)
    try:
        r = unlearn(
            subject, forget, None, components=vector, config=config, progress=progress, metric_items=metric_items
        )
    except BaseException:
        noised.undo()
        raise
    combined = noised.copy_baseline()
    combined.records = noised.records + r.edits.records
    r.edits, r.method = combined, "needle"
    return r
