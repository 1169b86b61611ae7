"""Reuse measurements of the reference models across `verify_facts` calls.

An audit verifies several unlearned models against the same ORIG, REF and NOISE; their recall,
probes, logit lens and relearning curves do not change between methods, and relearning them is
the most expensive part of verification.  Pass one cache to every call:

    cache = MeasurementCache()
    for name, model in unlearned.items():
        runs[name] = verify_facts(model, forget, retain, original=orig, reference=ref, cache=cache)
    cache.stats()   # {"hits": 24, "misses": 14, "entries": 14}

A measurement is keyed by the model's *weights digest* (a hash of every parameter and buffer,
byte for byte), the measurement's name and a hash of its arguments (facts, configs), so a model
edited in place between calls is measured again, never served stale.  The unlearned model is
never cached (each call brings a new one).  Hooks attached to a reference model while it is
measured are not part of the key: do not hold interventions on ORIG / REF / NOISE.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from ..model.subject import Subject


def weights_digest(subject: Subject) -> str:
    """sha256 over every parameter's and buffer's name, shape, dtype and bytes (the whole tensor,
    not a sample as `Subject.fingerprint`), so any in-place edit changes it."""
    from ..model.subject import config_json

    h = hashlib.sha256(config_json(subject.model).encode())
    tensors = list(subject.model.named_parameters()) + list(subject.model.named_buffers())
    for name, t in tensors:
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        flat = t.detach().reshape(-1)
        if flat.dtype.is_floating_point and flat.element_size() == 2:
            flat = flat.view(torch.int16)  # bf16 has no numpy dtype; the bits are what matter
        h.update(flat.cpu().numpy().tobytes())
    return h.hexdigest()


def _args_key(args) -> str:
    return hashlib.sha256(repr(args).encode()).hexdigest()


class MeasurementCache:
    """In-memory memo of ``fn(subject, *args)`` keyed by ``(weights digest, name, args)``."""

    def __init__(self):
        self._store: dict[tuple, object] = {}
        self._digests: dict[int, tuple[object, str]] = {}
        self.hits = 0
        self.misses = 0

    def digest(self, subject) -> str:
        """The subject's `weights_digest`, computed once between two `reset_digests`."""
        entry = self._digests.get(id(subject))
        if entry is None or entry[0] is not subject:
            entry = (subject, weights_digest(subject))
            self._digests[id(subject)] = entry
        return entry[1]

    def reset_digests(self):
        """Forget the remembered digests (not the measurements) and the models they hold:
        `verify_facts` calls this on entry and exit, since models may change between calls."""
        self._digests.clear()

    def _get(self, key: tuple, compute: Callable):
        if key in self._store:
            self.hits += 1
            return self._store[key]
        self.misses += 1
        self._store[key] = value = compute()
        return value

    def measure(self, subject, name: str, fn: Callable, *args):
        """``fn(subject, *args)``, keyed by the subject's weights digest, ``name`` and ``args``."""
        return self._get((self.digest(subject), name, _args_key(args)), lambda: fn(subject, *args))

    def memo(self, name: str, args, fn: Callable):
        """``fn()`` keyed by ``(name, args)`` alone (no model), e.g. a seeded random-init model."""
        return self._get((None, name, _args_key(args)), fn)

    def stats(self) -> dict:
        return {"hits": self.hits, "misses": self.misses, "entries": len(self._store)}

    def clear(self):
        self._store.clear()
        self._digests.clear()
