"""The loss one unlearning step minimises: the registered method's (`ablate.methods`) forget term,
the retain term and the KL term.

`Objective` holds what a method needs besides the batch: the frozen reference copy (NPO, RMU,
the KL term), the state the method draws before any batch (RMU's layer and control vector) and an
optional auxiliary loss (UOE's router anchor).  Calling it on a forget batch (and a retain batch
or ``None``) returns ``(total loss, forget part, retain part or None, the auxiliary loss's raw
value or None)``.
"""

from __future__ import annotations

import contextlib
import copy

import torch

from ..model.anatomy import Anatomy
from ..model.subject import Subject
from . import losses as L
from .inputs import model_inputs, scored
from .methods import UNLEARNING_METHODS


class Objective:
    """A context manager: the frozen reference copy lives only inside ``with objective:`` (it is
    released on exit, so a finished run holds no second model)."""

    def __init__(self, subject, cfg, gen: torch.Generator, aux_loss=None, forget: dict | None = None):
        """``gen`` draws the method's own state (RMU's control vector) before any batch is drawn
        from it; ``aux_loss`` has ``recording()`` (a context around the forget batch's forward) and
        ``loss(batch) -> (weighted scalar, raw float)``; ``forget``: the encoded forget set."""
        self.subject, self.cfg, self.aux_loss = subject, cfg, aux_loss
        self.method = UNLEARNING_METHODS[cfg.method]
        self.ref = None
        if self.method.needs_reference(cfg) or cfg.kl_weight > 0:
            self.ref = copy.deepcopy(subject.model).eval().requires_grad_(False)
        self._ref_subject = None
        if self.method.setup is not None:
            self.method.setup(self, forget, gen)

    def __enter__(self) -> Objective:
        return self

    def __exit__(self, *exc) -> None:
        self.ref, self._ref_subject = None, None

    def default_components(self):
        """The parameters the method trains when no components are given (``None``: every one)."""
        return self.method.default_components(self) if self.method.default_components is not None else None

    def __call__(self, fb: dict, rb: dict | None):
        aux = self.aux_loss
        loss = self.method.loss or _likelihood
        with aux.recording() if aux is not None else contextlib.nullcontext():
            total, f_loss, r_loss = loss(self, fb, rb)
        if aux is None:
            return total, f_loss, r_loss, None
        extra, raw = aux.loss(fb)
        return total + extra, f_loss, r_loss, raw

    def reference_logits(self, batch: dict) -> torch.Tensor:
        """The reference's logits: the frozen copy's, or, with ``npo_reference = "self"``, the
        model being trained under no_grad (the released UOE/SEUF trainer's bug)."""
        if self.cfg.npo_reference == "self":
            return self.subject.model(**model_inputs(batch)).logits
        return self.ref(**model_inputs(batch)).logits

    def reference_subject(self) -> Subject:
        """The frozen reference copy as a `Subject` (for hooks on it), built once."""
        if self._ref_subject is None:
            self._ref_subject = Subject(
                self.ref, self.subject.tokenizer, Anatomy.of(self.ref, self.subject.anatomy.family)
            )
        return self._ref_subject


def _likelihood(objective: Objective, fb: dict, rb: dict | None):
    """``forget_weight × forget term + α × NLL_r (+ kl_weight × KL(ref ‖ model) on retain tokens)``."""
    cfg, model = objective.cfg, objective.subject.model
    out = model(**model_inputs(fb))
    f_loss = objective.method.forget_loss(objective, fb, out.logits, scored(fb))
    if rb is None:
        return cfg.forget_weight * f_loss, f_loss, None
    r_out = model(**model_inputs(rb))
    r_loss = L.nll(r_out.logits, rb["input_ids"], scored(rb))
    total = cfg.forget_weight * f_loss + cfg.alpha * r_loss
    if cfg.kl_weight:
        with torch.no_grad():
            ref_logits = objective.ref(**model_inputs(rb)).logits
        total = total + cfg.kl_weight * L.kl_to_ref(r_out.logits, ref_logits, rb["attention_mask"])
    return total, f_loss, r_loss
