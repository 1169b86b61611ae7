"""Localized unlearning: one trainer, five objectives, restricted to any `ComponentSet`.

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

import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

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
from .objectives import Objective

METHODS = ("ga", "graddiff", "npo", "simnpo", "rmu")


@dataclass(frozen=True)
class UnlearnConfig:
    method: str = "ga"
    steps: int = 50
    lr: float = 1e-4
    batch_size: int = 16
    weight_decay: float = 0.0
    retain_weight: float | None = None  # default: 1 for graddiff, 100 for rmu, 0 otherwise
    kl_weight: float = 0.0
    beta: float = 0.1  # NPO / SimNPO
    gamma: float = 0.0  # SimNPO margin
    rmu_layer: int | None = None  # default: the middle layer
    rmu_coef: float = 6.5  # norm of the RMU control vector
    clip: float = 1.0
    seed: int = 0
    eval_every: int = 5
    stop_at_forget_acc: float | None = None
    checkpoint_every: int | None = None  # with checkpoint_dir: write an edit patch every N steps
    checkpoint_dir: str | None = None

    def validate(self) -> None:
        if self.method not in METHODS:
            raise UnlearnscopeError(f"unknown unlearning method {self.method!r}; choose from {METHODS}")
        bad = {k: v for k, v in asdict(self).items() if k in ("steps", "batch_size", "eval_every") and (not isinstance(v, int) or v < 1)}
        bad |= {k: v for k, v in (("lr", self.lr), ("beta", self.beta), ("clip", self.clip), ("rmu_coef", self.rmu_coef)) if not v > 0}
        bad |= {k: v for k, v in (("weight_decay", self.weight_decay), ("kl_weight", self.kl_weight)) if v < 0}
        if bad:
            raise UnlearnscopeError(f"invalid unlearning config values {bad}")

    @property
    def alpha(self) -> float:
        if self.retain_weight is not None:
            return self.retain_weight
        return {"graddiff": 1.0, "rmu": 100.0}.get(self.method, 0.0)


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


def unlearn(subject, forget, retain=None, *, components: ComponentSet | None = None, config: UnlearnConfig = UnlearnConfig(),
            progress: bool = True, metric_items: list[Item] | None = None, aux_loss=None,
            monitors: dict | None = None) -> UnlearnResult:
    """Run one unlearning method; the subject's model is modified in place (undo with ``result.edits``).

    ``aux_loss``: an object with ``recording()`` (a context manager around the forget batch's
    forward) and ``loss(batch) -> (weighted scalar, unweighted float)``, added to the objective
    (UOE's router anchor, `uoe.RouterAnchor`).  ``monitors``: ``{name: () -> float}`` evaluated at
    step 0 and every ``eval_every`` steps into ``result.monitor_curves``."""
    from ..organisms.train import accuracy

    cfg = config
    cfg.validate()
    forget, retain = as_list(forget), as_list(retain)
    if not n_rows(forget):
        raise UnlearnscopeError("empty forget set: give at least one text, item or token sequence")
    needs_retain = cfg.alpha > 0 or cfg.kl_weight > 0
    if needs_retain and not n_rows(retain):
        raise UnlearnscopeError(f"method {cfg.method!r} with retain_weight={cfg.alpha} / kl_weight={cfg.kl_weight} needs a retain set")
    f_enc = encode_inputs(subject, forget)
    r_enc = encode_inputs(subject, retain) if n_rows(retain) else None
    if r_enc is not None:
        _warn_overlap(f_enc, r_enc)
    if metric_items is None:
        metric_items = [d for d in forget if isinstance(d, Fact)] if isinstance(forget, list) else []  # items and facts have answers
    gen = torch.Generator().manual_seed(cfg.seed)
    objective = Objective(subject, cfg, gen, aux_loss)  # draws RMU's control vector from gen first
    f_iter = batches(f_enc, cfg.batch_size, gen)
    r_iter = batches(r_enc, cfg.batch_size, gen) if r_enc is not None and needs_retain else None
    baseline = Edits(subject)  # hashes of every parameter before training (for verify)
    subject.model.eval()
    with MaskedParams(subject, components) as mp:
        loop = TrainingLoop(
            subject, cfg, mp, monitors=monitors,
            forget_metric=(lambda: accuracy(subject.model, subject.tokenizer, metric_items)) if metric_items else None,
            save_checkpoint=lambda step: as_edits(baseline.copy_baseline(), mp, components).save(Path(cfg.checkpoint_dir) / f"step-{step:06d}"))
        steps = loop.run(objective, lambda: (next(f_iter), next(r_iter) if r_iter is not None else None), progress=progress)
        edits = as_edits(baseline, mp, components)
        n_trained = mp.n_trained
    c = loop.curves
    return UnlearnResult(cfg.method, asdict(cfg), components.names if components else None, n_trained, steps,
                         c.forget_loss, c.retain_loss, c.forget_metric, loop.stopped, edits, c.monitors, c.aux_loss[: len(c.forget_loss)])


def _warn_overlap(f_enc: dict, r_enc: dict) -> None:
    """Warn when forget texts also appear (token for token) in the retain set."""
    rows = lambda enc: {tuple(r[m.bool()].tolist()) for r, m in zip(enc["input_ids"], enc["attention_mask"], strict=True)}  # noqa: E731
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


def noise_reference(subject, unrelated, retain=None, *, components: ComponentSet | None = None, config: UnlearnConfig = UnlearnConfig(),
                    metric_items: list[Item] | None = None, progress: bool = True) -> UnlearnResult:
    """A NOISE run: the same method, components and budget on unrelated data, so reports can tell
    unlearning from drift.  ``metric_items`` (e.g. the real forget items) are tracked, never
    optimised; early stopping is off so the budget matches the run it controls for."""
    from dataclasses import replace

    r = unlearn(subject, unrelated, retain, components=components, config=replace(config, stop_at_forget_acc=None),
                progress=progress, metric_items=metric_items or [])
    r.method = f"noise:{config.method}"
    return r


def needle(subject, layer: int, neuron: int, forget, *, expert: int | None = None, sigma: float = 0.1, seed: int = 0,
           config: UnlearnConfig = UnlearnConfig(method="ga", steps=20, lr=0.2), progress: bool = True,
           metric_items: list[Item] | None = None) -> UnlearnResult:
    """ConceptVectors' Needle oracle: add N(0, sigma²) noise to one value vector, then gradient
    ascent on the forget data updating that vector only.  The returned edits hold both steps."""
    from dataclasses import replace

    from .static import ablate

    if config.method != "ga":
        config = replace(config, method="ga")
    vector = ComponentSet.from_slices(subject, [subject.anatomy.value_slice(layer, [neuron], expert=expert)],
                                      [f"blocks.{layer}." + (f"moe.expert:{expert}.value:{neuron}" if expert is not None else f"mlp.value:{neuron}")])
    noised = ablate(subject, vector, "noise", sigma=sigma, seed=seed)
    try:
        r = unlearn(subject, forget, None, components=vector, config=config, progress=progress, metric_items=metric_items)
    except BaseException:
        noised.undo()
        raise
    combined = noised.copy_baseline()
    combined.records = noised.records + r.edits.records
    r.edits, r.method = combined, "needle"
    return r
