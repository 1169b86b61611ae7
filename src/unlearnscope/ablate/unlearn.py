"""Localized unlearning: one trainer, five objectives, restricted to any `ComponentSet`.

    result = unlearn(subject, forget, retain, components=ComponentSet.parse(subject, "blocks.1.mlp"),
                     config=UnlearnConfig(method="npo", steps=50, lr=1e-4))
    result.forget_metric_curve                  # [(step, top-1 accuracy on forget answers)]
    result.edits.save("runs/npo-l1")            # the change as an edit patch (not a model copy)
    result.edits.undo()                         # back to the original, bit for bit

Forget / retain data are texts or `Item`s (items with answers also give a top-1 forget metric,
used for early stopping).  The model stays in eval mode (no dropout).  Training stops early when
the forget metric reaches ``stop_at_forget_acc``.  A step whose loss or gradient is not finite is
not applied, and a step that leaves non-finite weights is rolled back to the last good checkpoint
(taken every ``eval_every`` steps); training stops and ``stopped`` says so.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from ..errors import UnlearnscopeError
from ..model.edits import EditRecord, Edits
from ..organisms.world import Item
from . import losses as L
from .components import ComponentSet
from .masking import MaskedParams

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
        summary = {**self.to_dict(), "patch_path": str(out)}
        tmp = out / ".summary.json.tmp"
        tmp.write_text(json.dumps(summary, indent=2))
        os.replace(tmp, out / "summary.json")
        return out


def _texts(data) -> list[str]:
    return [d.text if isinstance(d, Item) else str(d) for d in data]


def _encode(subject, data):
    """Texts / items → tokenizer dict; token sets pass through: a dict with ``input_ids`` (and
    ``attention_mask``), a LongTensor ``[n, L]``, or a list of token-id lists (right-padded here)."""
    if isinstance(data, dict) and "input_ids" in data:
        ids = data["input_ids"].to(subject.device)
        return {"input_ids": ids, "attention_mask": data.get("attention_mask", torch.ones_like(ids)).to(subject.device)}
    if isinstance(data, torch.Tensor):
        return {"input_ids": data.to(subject.device), "attention_mask": torch.ones_like(data, device=subject.device)}
    if data and isinstance(data[0], (list, tuple)) and data[0] and isinstance(data[0][0], int):
        pad = subject.tokenizer.pad_token_id if subject.tokenizer is not None and subject.tokenizer.pad_token_id is not None else 0
        L_max = max(len(x) for x in data)
        ids = torch.tensor([list(x) + [pad] * (L_max - len(x)) for x in data], device=subject.device)
        mask = torch.tensor([[1] * len(x) + [0] * (L_max - len(x)) for x in data], device=subject.device)
        return {"input_ids": ids, "attention_mask": mask}
    return subject.tokenize(_texts(data))


def _n(data) -> int:
    if isinstance(data, dict) and "input_ids" in data:
        return int(data["input_ids"].shape[0])
    return int(data.shape[0]) if isinstance(data, torch.Tensor) else len(data)


def _as_list(data):
    return data if isinstance(data, (dict, torch.Tensor)) else list(data or [])


def _batches(enc, batch_size, gen):
    n = enc["input_ids"].shape[0]
    while True:
        for idx in torch.randperm(n, generator=gen).split(batch_size):
            yield {k: v[idx] for k, v in enc.items()}


def unlearn(subject, forget, retain=None, *, components: ComponentSet | None = None, config: UnlearnConfig = UnlearnConfig(),
            progress: bool = True, metric_items: list[Item] | None = None, aux_loss=None,
            monitors: dict | None = None) -> UnlearnResult:
    """Run one unlearning method; the subject's model is modified in place (undo with ``result.edits``).

    ``aux_loss``: an object with ``recording()`` (a context manager around the forget batch's
    forward) and ``loss(batch) -> (weighted scalar, unweighted float)``, added to the objective
    (UOE's router anchor, `uoe.RouterAnchor`).  ``monitors``: ``{name: () -> float}`` evaluated at
    step 0 and every ``eval_every`` steps into ``result.monitor_curves``."""
    from tqdm.auto import tqdm

    from ..organisms.train import accuracy

    cfg = config
    cfg.validate()
    forget, retain = _as_list(forget), _as_list(retain)
    if not _n(forget):
        raise UnlearnscopeError("empty forget set: give at least one text, item or token sequence")
    needs_retain = cfg.alpha > 0 or cfg.kl_weight > 0
    if needs_retain and not _n(retain):
        raise UnlearnscopeError(f"method {cfg.method!r} with retain_weight={cfg.alpha} / kl_weight={cfg.kl_weight} needs a retain set")
    f_enc = _encode(subject, forget)
    r_enc = _encode(subject, retain) if _n(retain) else None
    if r_enc is not None:
        rows = lambda enc: {tuple(r[m.bool()].tolist()) for r, m in zip(enc["input_ids"], enc["attention_mask"], strict=True)}  # noqa: E731
        overlap = rows(f_enc) & rows(r_enc)
        if overlap:
            warnings.warn(f"{len(overlap)} of {_n(forget)} forget texts also appear in the retain set ({_n(retain)} texts)", stacklevel=2)
    metric_items = metric_items if metric_items is not None else [d for d in forget if isinstance(d, Item)] if isinstance(forget, list) else []
    model = subject.model
    ref = None
    if cfg.method in ("npo", "rmu") or cfg.kl_weight > 0:
        ref = copy.deepcopy(model).eval().requires_grad_(False)
    layer = subject.anatomy.check_layer(cfg.rmu_layer if cfg.rmu_layer is not None else subject.anatomy.n_layers // 2)
    gen = torch.Generator().manual_seed(cfg.seed)
    control = None
    if cfg.method == "rmu":
        u = torch.rand(subject.anatomy.d_model, generator=gen)
        control = (cfg.rmu_coef * u / u.norm()).to(subject.device)
    f_iter = _batches(f_enc, cfg.batch_size, gen)
    r_iter = _batches(r_enc, cfg.batch_size, gen) if r_enc is not None else None
    baseline = Edits(subject)  # hashes of every parameter before training (for verify)
    model.eval()
    f_curve, r_curve, metric, stopped = [], [], [], "steps"
    monitors = dict(monitors or {})
    curves: dict[str, list] = {k: [] for k in monitors}
    aux_curve: list = []

    def monitor(step):
        for k, fn in monitors.items():
            curves[k].append((step, fn()))

    def forget_metric():
        return accuracy(model, subject.tokenizer, metric_items) if metric_items else None

    with MaskedParams(subject, components) as mp:
        opt = torch.optim.AdamW(list(mp.params.values()), lr=cfg.lr, weight_decay=0.0)
        m0 = forget_metric()
        if m0 is not None:
            metric.append((0, m0))
        monitor(0)
        step, good_step = 0, 0
        last_good = {n: t.clone() for n, t in mp.snapshot.items()}
        params = list(mp.params.values())
        pending = None  # device flag: weights finite after the last applied step, read with the next step's numbers
        nan = torch.tensor(float("nan"), device=subject.device)

        def weights_diverged(at: int) -> str:
            """Put back the last good checkpoint and cut the curves to it; the message for ``stopped``."""
            opt.zero_grad(set_to_none=True)
            with torch.no_grad():
                for n, p in mp.params.items():
                    p.copy_(last_good[n])
            del f_curve[good_step:], r_curve[good_step:]
            metric[:] = [m for m in metric if m[0] <= good_step]
            return f"diverged at step {at}: weights became non-finite; restored the last good checkpoint (step {good_step})"

        for step in tqdm(range(1, cfg.steps + 1), desc=f"unlearn:{cfg.method}", disable=not progress, leave=False):
            fb = next(f_iter)
            rb = next(r_iter) if (r_iter is not None and needs_retain) else None
            with aux_loss.recording() if aux_loss is not None else contextlib.nullcontext():
                loss, f_loss, r_loss = _objective(cfg, subject, ref, fb, rb, layer, control)
            if aux_loss is not None:
                extra, extra_raw = aux_loss.loss(fb)
                loss = loss + extra
                aux_curve.append(round(extra_raw, 6))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.clip)
            # one host read per step: the numbers the checks and curves need (no per-parameter syncs)
            prev_ok = pending if pending is not None else torch.ones((), dtype=torch.bool, device=nan.device)
            loss_v, norm_v, prev_ok, f_v, r_v = torch.stack(
                [loss.detach().float().to(nan.device), norm.float().to(nan.device), prev_ok.float().to(nan.device),
                 f_loss.detach().float().to(nan.device), r_loss.detach().float().to(nan.device) if r_loss is not None else nan]).tolist()
            if not prev_ok:  # the previous step made the weights non-finite (its loss was finite)
                stopped = weights_diverged(step - 1)
                step = good_step + 1
                break
            if not math.isfinite(loss_v):
                opt.zero_grad(set_to_none=True)
                stopped = f"diverged at step {step}: loss is {loss_v}; the step was not applied (weights as after step {step - 1})"
                break
            if not math.isfinite(norm_v):
                opt.zero_grad(set_to_none=True)
                stopped = f"diverged at step {step}: gradient is not finite; the step was not applied (weights as after step {step - 1})"
                break
            opt.step()
            mp.decay(cfg.lr, cfg.weight_decay)
            mp.restore_outside()
            pending = torch.stack([torch.isfinite(p).all() for p in params]).all()
            f_curve.append(round(f_v, 5))
            r_curve.append(round(r_v, 5) if r_loss is not None else None)
            due = step % cfg.eval_every == 0 or (cfg.checkpoint_every and cfg.checkpoint_dir and step % cfg.checkpoint_every == 0)
            if due and not bool(pending):  # never checkpoint or evaluate non-finite weights
                stopped = weights_diverged(step)
                step = good_step + 1
                break
            if due:
                pending = None
            if step % cfg.eval_every == 0:
                last_good = {n: p.detach().clone() for n, p in mp.params.items()}
                good_step = step
            if cfg.checkpoint_every and cfg.checkpoint_dir and step % cfg.checkpoint_every == 0:
                _as_edits(baseline.copy_baseline(), mp, components).save(Path(cfg.checkpoint_dir) / f"step-{step:06d}")
            if monitors and step % cfg.eval_every == 0:
                monitor(step)
            if metric_items and step % cfg.eval_every == 0:
                metric.append((step, forget_metric()))
                if cfg.stop_at_forget_acc is not None and metric[-1][1] <= cfg.stop_at_forget_acc:
                    stopped = "forget_metric"
                    break
        else:
            step = cfg.steps
            if pending is not None and not bool(pending):  # the last steps ran past the last check
                stopped = weights_diverged(step)
                step = good_step + 1
        if metric_items and (not metric or metric[-1][0] != step) and not stopped.startswith("diverged"):
            metric.append((step, forget_metric()))
        if monitors and curves[next(iter(curves))][-1][0] != step and not stopped.startswith("diverged"):
            monitor(step)
        edits = _as_edits(baseline, mp, components)
        n_trained = mp.n_trained
    steps_run = step if not stopped.startswith("diverged") else step - 1
    return UnlearnResult(cfg.method, asdict(cfg), components.names if components else None, n_trained, steps_run,
                         f_curve, r_curve, metric, stopped, edits, curves, aux_curve[: len(f_curve)])


def _objective(cfg, subject, ref, fb, rb, layer, control):
    """(total loss, forget part, retain part or None)."""
    from ..model.capture import capture

    model, a = subject.model, cfg.alpha
    r_loss = None
    if cfg.method == "rmu":
        name = f"blocks.{layer}.hook_resid_post"
        with capture(subject, name, grad=True) as c:
            model(**fb)
        f_loss = L.rmu_forget(c[name], control, fb["attention_mask"])
        total = f_loss
        if rb is not None:
            with capture(subject, name, grad=True) as c:
                model(**rb)
            ref_subject = _ref_subject(subject, ref)
            with torch.no_grad(), capture(ref_subject, name) as cr:
                ref(**rb)
            r_loss = L.rmu_retain(c[name], cr[name], rb["attention_mask"])
            total = total + a * r_loss
        return total, f_loss, r_loss
    out = model(**fb)
    ids, mask = fb["input_ids"], fb["attention_mask"]
    if cfg.method in ("ga", "graddiff"):
        f_loss = -L.nll(out.logits, ids, mask)
    else:
        logp, n = L.token_logprobs(out.logits, ids, mask)
        if cfg.method == "npo":
            with torch.no_grad():
                ref_logp, _ = L.token_logprobs(ref(**fb).logits, ids, mask)
            f_loss = L.npo(logp, ref_logp, cfg.beta)
        else:
            f_loss = L.simnpo(logp, n, cfg.beta, cfg.gamma)
    total = f_loss
    if rb is not None:
        r_out = model(**rb)
        r_loss = L.nll(r_out.logits, rb["input_ids"], rb["attention_mask"])
        total = total + a * r_loss
        if cfg.kl_weight:
            with torch.no_grad():
                ref_logits = ref(**rb).logits
            total = total + cfg.kl_weight * L.kl_to_ref(r_out.logits, ref_logits, rb["attention_mask"])
    return total, f_loss, r_loss


def _ref_subject(subject, ref):
    from ..model.subject import Subject

    cached = subject.__dict__.get("_ref_subject")
    if cached is None or cached.model is not ref:
        from ..model.anatomy import Anatomy

        cached = Subject(ref, subject.tokenizer, Anatomy.of(ref, subject.anatomy.family))
        subject.__dict__["_ref_subject"] = cached
    return cached


def _as_edits(baseline: Edits, mp: MaskedParams, components: ComponentSet | None) -> Edits:
    """The training's change as slice-exact edit records on top of the pre-training hashes."""
    from ..model.anatomy import ParamSlice

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
