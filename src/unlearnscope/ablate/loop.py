"""The unlearning training loop: one optimizer step at a time, with the divergence rules.

`TrainingLoop` owns a run's state — optimizer, `Curves`, the last good checkpoint and the pending
finiteness flag — so each step reads top to bottom:

1. loss (`objectives.Objective`), backward, gradient clipping;
2. one host read for the step's numbers (loss, gradient norm, the previous step's finiteness flag,
   the curve values), no per-parameter syncs;
3. a step whose loss or gradient is not finite is not applied (the run stops there); a step that
   left non-finite weights (found with the next step's read, or before any checkpoint or
   evaluation) rolls the weights back to the last good checkpoint, taken every ``eval_every``
   steps, and cuts the curves to it;
4. apply the update inside the component set only (`masking.MaskedParams`), at the schedule's
   learning rate (``cfg.lr_factor``), decoupled weight decay at that rate on the trained entries;
5. every ``eval_every`` steps: checkpoint, monitors, the forget metric and the early stop.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from .masking import MaskedParams


@dataclass
class Curves:
    """What a run records: losses per applied step, ``[(step, value)]`` of the forget metric and
    of each monitor every ``eval_every`` steps, the auxiliary loss's raw value per step."""

    forget_loss: list = field(default_factory=list)
    retain_loss: list = field(default_factory=list)
    forget_metric: list = field(default_factory=list)
    monitors: dict = field(default_factory=dict)
    aux_loss: list = field(default_factory=list)

    def cut(self, step: int) -> None:
        """Drop everything recorded after ``step``."""
        del self.forget_loss[step:], self.retain_loss[step:]
        self.forget_metric[:] = [m for m in self.forget_metric if m[0] <= step]
        for curve in self.monitors.values():
            curve[:] = [m for m in curve if m[0] <= step]


class TrainingLoop:
    def __init__(
        self,
        subject,
        cfg,
        mp: MaskedParams,
        *,
        forget_metric: Callable[[], float] | None = None,
        monitors: dict | None = None,
        save_checkpoint: Callable[[int], None] | None = None,
    ):
        """``forget_metric``: ``() -> float`` (early stopping at ``cfg.stop_at_forget_acc``);
        ``monitors``: ``{name: () -> float}``; ``save_checkpoint(step)``: every
        ``cfg.checkpoint_every`` steps when ``cfg.checkpoint_dir`` is set."""
        self.cfg, self.mp = cfg, mp
        self.params = list(mp.params.values())
        self.opt = torch.optim.AdamW(self.params, lr=cfg.lr, weight_decay=0.0)
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, cfg.lr_factor
        )  # the lr of step k is lr · cfg.lr_factor(k)
        self.forget_metric, self.monitors, self.save_checkpoint = forget_metric, dict(monitors or {}), save_checkpoint
        self.curves = Curves(monitors={k: [] for k in self.monitors})
        self.last_good = {n: t.clone() for n, t in mp.snapshot.items()}
        self.good_step = 0
        self.pending: torch.Tensor | None = None  # device flag: weights finite after the last applied step
        self.nan = torch.tensor(float("nan"), device=subject.device)
        self.stopped = "steps"  # "steps" | "forget_metric" | "diverged at step N: ..."

    @property
    def diverged(self) -> bool:
        return self.stopped.startswith("diverged")

    def run(self, objective, next_batches: Callable[[], tuple], *, progress: bool = True) -> int:
        """Train for ``cfg.steps`` steps at most; returns the number of steps whose update stands."""
        from tqdm.auto import tqdm

        cfg = self.cfg
        self.record_metric(0)
        self.record_monitors(0)
        step = 0
        for step in tqdm(range(1, cfg.steps + 1), desc=f"unlearn:{cfg.method}", disable=not progress, leave=False):
            stop = self.step(step, objective, *next_batches())
            if stop is not None:
                self.stopped, step = stop
                break
        else:
            step = cfg.steps
            if self.pending is not None and not bool(self.pending):  # the last steps ran past the last check
                self.stopped, step = self.restore(step), self.good_step + 1
        if not self.diverged:
            if self.forget_metric is not None and (
                not self.curves.forget_metric or self.curves.forget_metric[-1][0] != step
            ):
                self.record_metric(step)
            if self.monitors and self.curves.monitors[next(iter(self.monitors))][-1][0] != step:
                self.record_monitors(step)
        return step - 1 if self.diverged else step

    def step(self, step: int, objective, fb: dict, rb: dict | None) -> tuple[str, int] | None:
        """One step; ``None`` to go on, or ``(stopped, step)`` to stop (``step``: the run's last)."""
        cfg = self.cfg
        loss, f_loss, r_loss, aux = objective(fb, rb)
        if aux is not None:
            self.curves.aux_loss.append(round(aux, 6))
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        norm = torch.nn.utils.clip_grad_norm_(self.params, cfg.clip)
        loss_v, norm_v, prev_ok, f_v, r_v = self.read(loss, norm, f_loss, r_loss)
        if not prev_ok:  # the previous step made the weights non-finite (its loss was finite)
            return self.restore(step - 1), self.good_step + 1
        if not math.isfinite(loss_v):
            self.opt.zero_grad(set_to_none=True)
            return (
                f"diverged at step {step}: loss is {loss_v}; the step was not applied (weights as after step "
                f"{step - 1})",
                step,
            )
        if not math.isfinite(norm_v):
            self.opt.zero_grad(set_to_none=True)
            return (
                f"diverged at step {step}: gradient is not finite; the step was not applied (weights as after step "
                f"{step - 1})",
                step,
            )
        lr_now = self.opt.param_groups[0]["lr"]
        self.opt.step()
        self.sched.step()
        self.mp.decay(lr_now, cfg.weight_decay)
        self.mp.restore_outside()
        self.pending = torch.stack([torch.isfinite(p).all() for p in self.params]).all()
        self.curves.forget_loss.append(round(f_v, 5))
        self.curves.retain_loss.append(round(r_v, 5) if r_loss is not None else None)
        evaluate = step % cfg.eval_every == 0
        checkpoint = bool(cfg.checkpoint_every and cfg.checkpoint_dir and step % cfg.checkpoint_every == 0)
        if evaluate or checkpoint:  # never checkpoint or evaluate non-finite weights
            if not bool(self.pending):
                return self.restore(step), self.good_step + 1
            self.pending = None
        if evaluate:
            self.last_good = {n: p.detach().clone() for n, p in self.mp.params.items()}
            self.good_step = step
        if checkpoint and self.save_checkpoint is not None:
            self.save_checkpoint(step)
        if evaluate:
            self.record_monitors(step)
            if (
                self.record_metric(step)
                and cfg.stop_at_forget_acc is not None
                and self.curves.forget_metric[-1][1] <= cfg.stop_at_forget_acc
            ):
                return "forget_metric", step
        return None

    def read(self, loss, norm, f_loss, r_loss) -> list[float]:
        """The step's numbers in one host read: loss, gradient norm, whether the weights were finite
        after the previous step, forget loss, retain loss (NaN without one)."""
        dev = self.nan.device
        prev_ok = self.pending if self.pending is not None else torch.ones((), dtype=torch.bool, device=dev)
        return torch.stack(
            [
                loss.detach().float().to(dev),
                norm.float().to(dev),
                prev_ok.float().to(dev),
                f_loss.detach().float().to(dev),
                r_loss.detach().float().to(dev) if r_loss is not None else self.nan,
            ]
        ).tolist()

    def restore(self, at: int) -> str:
        """Put back the last good checkpoint and cut the curves to it; the message for ``stopped``."""
        self.opt.zero_grad(set_to_none=True)
        with torch.no_grad():
            for n, p in self.mp.params.items():
                p.copy_(self.last_good[n])
        self.curves.cut(self.good_step)
        return (
            f"diverged at step {at}: weights became non-finite; restored the last good checkpoint (step "
            f"{self.good_step})"
        )

    def record_metric(self, step: int) -> bool:
        """Append the forget metric at ``step`` (``False`` when the run has none)."""
        if self.forget_metric is None:
            return False
        self.curves.forget_metric.append((step, self.forget_metric()))
        return True

    def record_monitors(self, step: int) -> None:
        for k, fn in self.monitors.items():
            self.curves.monitors[k].append((step, fn()))
