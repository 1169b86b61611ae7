"""The loss one unlearning step minimises (the formulas are in `losses`).

`Objective` holds what a method needs besides the batch: the frozen reference copy (NPO, RMU,
the KL term), RMU's layer and control vector, and an optional auxiliary loss (UOE's router anchor).
Calling it on a forget batch (and a retain batch or ``None``) returns
``(total loss, forget part, retain part or None, the auxiliary loss's raw value or None)``.
"""

from __future__ import annotations

import contextlib
import copy

import torch

from ..model.anatomy import Anatomy
from ..model.capture import capture
from ..model.subject import Subject
from . import losses as L


class Objective:
    def __init__(self, subject, cfg, gen: torch.Generator, aux_loss=None):
        """``gen`` draws RMU's control vector (before any batch is drawn from it); ``aux_loss`` has
        ``recording()`` (a context around the forget batch's forward) and ``loss(batch) ->
        (weighted scalar, raw float)``."""
        self.subject, self.cfg, self.aux_loss = subject, cfg, aux_loss
        self.ref = None
        if cfg.method in ("npo", "rmu") or cfg.kl_weight > 0:
            self.ref = copy.deepcopy(subject.model).eval().requires_grad_(False)
        a = subject.anatomy
        self.layer = a.check_layer(cfg.rmu_layer if cfg.rmu_layer is not None else a.n_layers // 2)
        self.control = None
        if cfg.method == "rmu":
            u = torch.rand(a.d_model, generator=gen)
            self.control = (cfg.rmu_coef * u / u.norm()).to(subject.device)
        self._ref_subject = None

    def __call__(self, fb: dict, rb: dict | None):
        aux = self.aux_loss
        with aux.recording() if aux is not None else contextlib.nullcontext():
            total, f_loss, r_loss = self._rmu(fb, rb) if self.cfg.method == "rmu" else self._likelihood(fb, rb)
        if aux is None:
            return total, f_loss, r_loss, None
        extra, raw = aux.loss(fb)
        return total + extra, f_loss, r_loss, raw

    def _rmu(self, fb, rb):
        name = f"blocks.{self.layer}.hook_resid_post"
        model = self.subject.model
        with capture(self.subject, name, grad=True) as c:
            model(**fb)
        f_loss = L.rmu_forget(c[name], self.control, fb["attention_mask"])
        if rb is None:
            return f_loss, f_loss, None
        with capture(self.subject, name, grad=True) as c:
            model(**rb)
        with torch.no_grad(), capture(self.reference_subject(), name) as cr:
            self.ref(**rb)
        r_loss = L.rmu_retain(c[name], cr[name], rb["attention_mask"])
        return f_loss + self.cfg.alpha * r_loss, f_loss, r_loss

    def _likelihood(self, fb, rb):
        cfg, model = self.cfg, self.subject.model
        out = model(**fb)
        ids, mask = fb["input_ids"], fb["attention_mask"]
        if cfg.method in ("ga", "graddiff"):
            f_loss = -L.nll(out.logits, ids, mask)
        else:
            logp, n = L.token_logprobs(out.logits, ids, mask)
            if cfg.method == "npo":
                with torch.no_grad():
                    ref_logp, _ = L.token_logprobs(self.ref(**fb).logits, ids, mask)
                f_loss = L.npo(logp, ref_logp, cfg.beta)
            else:
                f_loss = L.simnpo(logp, n, cfg.beta, cfg.gamma)
        if rb is None:
            return f_loss, f_loss, None
        r_out = model(**rb)
        r_loss = L.nll(r_out.logits, rb["input_ids"], rb["attention_mask"])
        total = f_loss + cfg.alpha * r_loss
        if cfg.kl_weight:
            with torch.no_grad():
                ref_logits = self.ref(**rb).logits
            total = total + cfg.kl_weight * L.kl_to_ref(r_out.logits, ref_logits, rb["attention_mask"])
        return total, f_loss, r_loss

    def reference_subject(self) -> Subject:
        """The frozen reference copy as a `Subject` (for hooks on it), built once."""
        if self._ref_subject is None:
            self._ref_subject = Subject(self.ref, self.subject.tokenizer, Anatomy.of(self.ref, self.subject.anatomy.family))
        return self._ref_subject
