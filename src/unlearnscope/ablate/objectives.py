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

from ..errors import UnlearnscopeError
from ..model.anatomy import Anatomy
from ..model.capture import capture
from ..model.subject import Subject
from . import losses as L
from .inputs import model_inputs, scored


class Objective:
    """A context manager: the frozen reference copy lives only inside ``with objective:`` (it is
    released on exit, so a finished run holds no second model)."""

    def __init__(self, subject, cfg, gen: torch.Generator, aux_loss=None, forget: dict | None = None):
        """``gen`` draws RMU's control vector (before any batch is drawn from it); ``aux_loss`` has
        ``recording()`` (a context around the forget batch's forward) and ``loss(batch) ->
        (weighted scalar, raw float)``; ``forget``: the encoded forget set (RMU's norm scale)."""
        self.subject, self.cfg, self.aux_loss = subject, cfg, aux_loss
        self.ref = None
        if (cfg.method == "npo" and cfg.npo_reference == "frozen") or cfg.method == "rmu" or cfg.kl_weight > 0:
            self.ref = copy.deepcopy(subject.model).eval().requires_grad_(False)
        a = subject.anatomy
        self.layer = a.check_layer(cfg.rmu_layer if cfg.rmu_layer is not None else a.n_layers // 2)
        self.control, self.control_norm = None, None
        if cfg.method == "rmu":
            u = torch.rand(a.d_model, generator=gen)
            self.control_norm = cfg.rmu_coef if cfg.rmu_scale is None else cfg.rmu_scale * self._residual_norm(forget)
            self.control = (self.control_norm * u / u.norm()).to(subject.device)
        self._ref_subject = None

    def __enter__(self) -> Objective:
        return self

    def __exit__(self, *exc) -> None:
        self.ref, self._ref_subject = None, None

    @torch.no_grad()
    def _residual_norm(self, enc: dict | None, batch_size: int = 64) -> float:
        """Mean L2 norm of ORIG's residual stream (after block ``layer``) over the forget tokens."""
        if enc is None:
            raise UnlearnscopeError("RMU's norm-scaled control vector needs the forget set (or rmu_scale=None and an absolute rmu_coef)")
        name = f"blocks.{self.layer}.hook_resid_post"
        total, count = 0.0, 0.0
        for s in range(0, enc["input_ids"].shape[0], batch_size):
            b = {k: v[s : s + batch_size] for k, v in model_inputs(enc).items()}
            with capture(self.subject, name) as c:
                self.subject.model(**b)
            m = b["attention_mask"].bool()
            total += float(c[name].float().norm(dim=-1)[m].sum())
            count += float(m.sum())
        return total / max(count, 1.0)

    def rmu_components(self):
        """WMDP's trained parameters: the MLP output projections (every value vector) of layers
        ``layer − 2 … layer``; an MoE layer's whole MLP (SEUF's RMU trains every expert MLP there)."""
        from ..model.components import ComponentSet

        a = self.subject.anatomy
        layers = range(max(0, self.layer - 2), self.layer + 1)
        return ComponentSet.parse(self.subject, [f"blocks.{l}.mlp" if l in a.moe_layers else f"blocks.{l}.mlp.value:0-{a.d_mlp - 1}"
                                                 for l in layers])

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
            model(**model_inputs(fb))
        f_loss = L.rmu_forget(c[name], self.control, fb["attention_mask"])
        if rb is None:
            return f_loss, f_loss, None
        with capture(self.subject, name, grad=True) as c:
            model(**model_inputs(rb))
        with torch.no_grad(), capture(self.reference_subject(), name) as cr:
            self.ref(**model_inputs(rb))
        r_loss = L.rmu_retain(c[name], cr[name], rb["attention_mask"])
        return f_loss + self.cfg.alpha * r_loss, f_loss, r_loss

    def _likelihood(self, fb, rb):
        cfg, model = self.cfg, self.subject.model
        out = model(**model_inputs(fb))
        ids, mask = fb["input_ids"], scored(fb)
        if cfg.method in ("ga", "graddiff"):
            f_loss = -L.nll(out.logits, ids, mask)
        elif cfg.method == "relabel":
            f_loss = L.nll(out.logits, ids, mask)
        elif cfg.method == "log1mp":
            f_loss = L.log1mp(out.logits, ids, mask, cfg.log1mp_floor)
        else:
            logp, n = L.token_logprobs(out.logits, ids, mask)
            if cfg.method == "npo":
                with torch.no_grad():
                    ref_logp, _ = L.token_logprobs(self.reference_logits(fb), ids, mask)
                f_loss = L.npo(logp, ref_logp, cfg.beta_)
            else:
                f_loss = L.simnpo(logp, n, cfg.beta_, cfg.gamma)
        if rb is None:
            return cfg.forget_weight * f_loss, f_loss, None
        r_out = model(**model_inputs(rb))
        r_loss = L.nll(r_out.logits, rb["input_ids"], scored(rb))
        total = cfg.forget_weight * f_loss + cfg.alpha * r_loss
        if cfg.kl_weight:
            with torch.no_grad():
                ref_logits = self.ref(**model_inputs(rb)).logits
            total = total + cfg.kl_weight * L.kl_to_ref(r_out.logits, ref_logits, rb["attention_mask"])
        return total, f_loss, r_loss

    def reference_logits(self, batch: dict) -> torch.Tensor:
        """The NPO reference's logits: the frozen copy's (the paper), or, with ``npo_reference =
        "self"``, the model being trained under no_grad — the released UOE/SEUF trainer's bug,
        which makes the log-ratio 0 at every step so NPO degenerates to a weighted gradient ascent."""
        if self.cfg.npo_reference == "self":
            return self.subject.model(**model_inputs(batch)).logits
        return self.ref(**model_inputs(batch)).logits

    def reference_subject(self) -> Subject:
        """The frozen reference copy as a `Subject` (for hooks on it), built once."""
        if self._ref_subject is None:
            self._ref_subject = Subject(self.ref, self.subject.tokenizer, Anatomy.of(self.ref, self.subject.anatomy.family))
        return self._ref_subject
