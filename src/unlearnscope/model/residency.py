"""A memory plan for audits of large models: at most two full model copies on the device at once.

    plan = Residency("cuda")          # ORIG pinned on the device; every other model parked on CPU
    plan.pin(orig); plan.park(unlearned_seed0); plan.park(ref)
    with plan.use(ref):               # ref on the device for this measurement, parked again after
        measure(ref, anchor=orig)

ORIG stays resident (it is an anchor of many measurements: direction ablation, causal depth,
router restoration, component revert); each other model comes onto the device only while it is
measured.  On CPU (``device="cpu"``) nothing moves.  ``simulate_dtype`` is for tests on CPU: a
parked model is cast to that dtype instead of moved, so a measurement that mixes a parked model
with a resident one fails loudly (a dtype mismatch) where on a GPU it would mix devices.
"""

from __future__ import annotations

import contextlib

import torch


class Residency:
    def __init__(self, device: str | torch.device, *, simulate_dtype: torch.dtype | None = None):
        self.device = torch.device(device)
        self.simulate = simulate_dtype
        self.pinned: set[int] = set()
        self.resident: set[int] = set()
        self.peak = 0  # most models resident at once (pinned ones included)

    @property
    def active(self) -> bool:
        return self.device.type != "cpu" or self.simulate is not None

    def _to(self, subject, on: bool) -> None:
        if self.simulate is not None:
            subject.model.to(torch.float32 if on else self.simulate)
        else:
            subject.model.to(self.device if on else "cpu")
        (self.resident.add if on else self.resident.discard)(id(subject))
        self.peak = max(self.peak, len(self.resident))

    def pin(self, subject) -> None:
        """Keep ``subject`` on the device for good (ORIG)."""
        if self.active:
            self.pinned.add(id(subject))
            if id(subject) not in self.resident:
                self._to(subject, True)

    def park(self, subject) -> None:
        """Move ``subject`` off the device (unless pinned)."""
        if self.active and id(subject) not in self.pinned:
            self._to(subject, False)

    @contextlib.contextmanager
    def use(self, subject):
        """``subject`` on the device for the block; parked again after (pinned models stay)."""
        if not self.active or id(subject) in self.pinned or id(subject) in self.resident:
            yield subject
            return
        self._to(subject, True)
        try:
            yield subject
        finally:
            self._to(subject, False)
