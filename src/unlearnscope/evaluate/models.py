"""The models a verification measures, by role, and how each measurement is taken.

Roles: ``unlearned`` (one model per unlearning seed), ``original`` (ORIG), ``reference``
(never-knew models: REF and REFs of other weight seeds, so the never-knew level has a spread),
``noise`` (NOISE drift floors).  Every measurement runs the same function on every model;
references are memoised in a `MeasurementCache` when one is given (never the unlearned models).
An inference-time intervention (``hold``: ``subject -> context manager``, e.g. a routing
override) is held around every measurement of the unlearned models, ``noise_hold`` around the
NOISE models' (their weights are ORIG's, so they are never cached); ``weights_only`` measures the
unlearned models without their intervention.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import torch

from ..errors import UnlearnscopeError
from .rki import Metric


def as_list(models) -> list:
    if models is None:
        return []
    return list(models) if isinstance(models, (list, tuple)) else [models]


@dataclass
class ModelSet:
    """The models of one verification by role (`ROLES`), and how they are measured.

    ``seeds``: the unlearning seed of each unlearned model, as the verdict's per-seed rows name
    them (default 0, 1, …); ``hold`` / ``noise_hold``: ``subject -> context manager`` of an
    inference-time intervention held around the unlearned / NOISE models' measurements;
    ``residency``: the memory plan (`model.residency.Residency`: ORIG and the measured model on
    the device, the others parked); ``cache``: the `MeasurementCache` the verification uses;
    ``extra``: control models measured beside the roles by the readouts that ask for them."""

    roles: dict[str, list]
    hold: Callable | None = None
    cache: object | None = None
    weights_only: bool = False  # measure the unlearned models without `hold`
    extra: dict = field(default_factory=dict)  # name -> [subject] measured beside the roles (random-init probes)
    noise_hold: Callable | None = None
    residency: object | None = None  # model.residency.Residency: at most ORIG + the measured model on the device
    seeds: list | None = None

    @classmethod
    def of(
        cls,
        unlearned,
        original=None,
        reference=None,
        noise=None,
        *,
        seeds=None,
        hold=None,
        noise_hold=None,
        residency=None,
    ) -> ModelSet:
        """``unlearned``: a model or one per unlearning seed; ``reference``: a never-knew model or
        several (REFs of other weight seeds: their spread enters the CIs); ``noise``: the NOISE
        drift floor(s)."""
        roles = {
            "unlearned": as_list(unlearned),
            "original": as_list(original),
            "reference": as_list(reference),
            "noise": as_list(noise),
        }
        if not roles["unlearned"]:
            raise UnlearnscopeError("verification needs at least one unlearned model")
        if len(roles["original"]) > 1:
            raise UnlearnscopeError("give one original model (ORIG)")
        if seeds is not None and len(list(seeds)) != len(roles["unlearned"]):
            raise UnlearnscopeError(
                f"{len(list(seeds))} seed labels for {len(roles['unlearned'])} unlearned models; give one label per "
                "model"
            )
        ms = cls(
            {r: v for r, v in roles.items() if v},
            hold,
            None,
            noise_hold=noise_hold,
            residency=residency,
            seeds=list(seeds) if seeds is not None else None,
        )
        if residency is not None:
            for o in roles["original"]:
                residency.pin(o)
            for r in ("unlearned", "reference", "noise"):
                for subject in roles[r]:
                    residency.park(subject)
        return ms

    def resident(self, subject):
        """``subject`` on the device for the block (the memory plan; a null context without one)."""
        return self.residency.use(subject) if self.residency is not None else contextlib.nullcontext(subject)

    def without(self, *roles: str) -> ModelSet:
        return replace(self, roles={r: v for r, v in self.roles.items() if r not in roles})

    def weights(self) -> ModelSet:
        """The same models with the unlearned ones measured without the inference-time intervention."""
        return replace(self, weights_only=True)

    def has(self, role: str) -> bool:
        return role in self.roles

    def held(self, subject):
        """The inference-time intervention around an unlearned model (a null context without one)."""
        return self.hold(subject) if self.hold is not None and not self.weights_only else contextlib.nullcontext()

    def measure(self, role: str, subject, name: str, fn: Callable, *args):
        """``fn(subject, *args)``: memoised for references, under ``hold`` for unlearned models, with
        ``subject`` on the device (`resident`)."""
        with self.resident(subject):
            return self._measure(role, subject, name, fn, *args)

    def _measure(self, role: str, subject, name: str, fn: Callable, *args):
        if role == "noise" and self.noise_hold is not None:
            with self.noise_hold(subject):
                return fn(subject, *args)
        if role != "unlearned":
            return fn(subject, *args) if self.cache is None else self.cache.measure(subject, name, fn, *args)
        with self.held(subject):
            return fn(subject, *args)

    def map(self, name: str, fn: Callable, *args, roles=None, extra: bool = False) -> dict[str, list]:
        """``{role: [fn(model, *args) for each model of the role]}`` for ``roles`` (default: all),
        with ``extra`` the control models too."""
        chosen = {r: v for r, v in self.roles.items() if roles is None or r in roles}
        if extra:
            chosen.update(self.extra)
        return {r: [self.measure(r, s, name, fn, *args) for s in subjects] for r, subjects in chosen.items()}


@dataclass(frozen=True)
class Anchor:
    """An object a measurement needs beside the measured model (ORIG, a patching baseline); its
    ``repr`` — the measurement cache's key — is ``key`` (weights digests and facts), never the object."""

    obj: object = field(repr=False, compare=False)
    key: str


def anchor_of(subject) -> Anchor:
    """``subject`` as a measurement argument keyed by its weights digest."""
    from .cache import weights_digest

    return Anchor(subject, weights_digest(subject))


def metric(name: str, kind: str, per_role: dict[str, list], detail=None) -> Metric:
    """``per_role[role] = [(entities, values [n_entities]) per model]`` → `Metric` (models stacked);
    every model must have been measured on the same entities."""
    ents = per_role["unlearned"][0][0]
    for r, rows in per_role.items():
        if any(e != ents for e, _ in rows):
            raise UnlearnscopeError(f"metric {name}: {r} was measured on other entities than the unlearned model")
    stack = lambda r: torch.stack([v for _, v in per_role[r]]) if r in per_role else None
    return Metric(
        name, kind, ents, stack("unlearned"), stack("original"), stack("reference"), detail or {}, noise=stack("noise")
    )
