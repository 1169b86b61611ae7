"""Exact gradient masks: train only the entries of a `ComponentSet`.

* Parameters outside the set get ``requires_grad=False`` (no gradient, no optimizer state).
* Parameters partly inside get a gradient hook that zeroes the entries outside; Adam's update of
  an entry whose gradient is always zero is exactly zero.
* Weight decay is applied here, only inside the set (the optimizer runs with ``weight_decay=0``):
  decoupled decay on masked entries would shrink every entry, frozen or not (a bug of the
  ConceptVectors Needle code, which masks gradients but decays the whole tensor).
* After every step the entries outside the set are restored from a snapshot, so untouched weights
  are bit-identical whatever the optimizer does (a guarantee, not an assumption).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..model.components import ComponentSet


@dataclass
class MaskedParams:
    subject: object
    components: ComponentSet | None  # None: the whole model
    params: dict[str, torch.nn.Parameter] = field(default_factory=dict)
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # partial params only
    snapshot: dict[str, torch.Tensor] = field(default_factory=dict)  # original values of trained params
    _handles: list = field(default_factory=list)
    _requires_grad: dict[str, bool] = field(default_factory=dict)

    def __enter__(self) -> MaskedParams:
        named = dict(self.subject.model.named_parameters())
        self._requires_grad = {n: p.requires_grad for n, p in named.items()}
        masks = self.components.masks(self.subject) if self.components is not None else {n: None for n in named}
        for name, p in named.items():
            m = masks.get(name)
            if name not in masks:
                p.requires_grad_(False)
                continue
            p.requires_grad_(True)
            self.params[name] = p
            self.snapshot[name] = p.detach().clone()
            if m is not None and not bool(m.all()):
                self.masks[name] = m
                self._handles.append(p.register_hook(lambda g, m=m: g * m))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()
        for name, p in self.subject.model.named_parameters():
            p.requires_grad_(self._requires_grad.get(name, True))

    @property
    def n_trained(self) -> int:
        return sum(int(self.masks[n].sum()) if n in self.masks else p.numel() for n, p in self.params.items())

    @torch.no_grad()
    def decay(self, lr: float, weight_decay: float) -> None:
        """Decoupled weight decay on the trained entries only."""
        if weight_decay:
            for name, p in self.params.items():
                m = self.masks.get(name)
                p.mul_(1 - lr * weight_decay) if m is None else p.sub_(lr * weight_decay * p * m)

    @torch.no_grad()
    def restore_outside(self) -> None:
        """Put every entry outside the set back to its original value (bit-exact)."""
        for name, m in self.masks.items():
            p = self.params[name]
            p.copy_(torch.where(m, p, self.snapshot[name]))
