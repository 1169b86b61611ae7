"""The registry of unlearning objectives (`UNLEARNING_METHODS`): one `UnlearningMethod` per module.

A likelihood method gives its forget term from the model's logits on a forget batch
(``forget_loss(objective, batch, logits, mask)``, minimised; ``mask``: the scored tokens); the
trainer adds ``retain_weight × NLL`` of a retain batch (and ``kl_weight × KL`` to the frozen
reference when asked) and weights the forget term by ``forget_weight``.  A method with a loss of
its own (RMU reads activations, not logits) gives ``loss(objective, forget_batch, retain_batch)``
instead.  ``retain_weight`` and ``beta`` are the method's defaults when `UnlearnConfig` leaves
them ``None``; ``paper``: the settings its paper ran (`UnlearnConfig.paper`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ...registry import Registry


@dataclass(frozen=True)
class UnlearningMethod:
    """A registered unlearning objective (see module doc).  ``needs_reference(config)``: whether
    the run keeps a frozen copy of the model (NPO's reference, RMU's retain activations);
    ``setup(objective, forget_encoding, generator)``: state drawn before any batch (RMU's control
    vector); ``default_components(objective)``: the parameters it trains when none are given."""

    name: str
    description: str
    source: str
    forget_loss: Callable[..., Any] | None = None
    loss: Callable[..., Any] | None = None
    retain_weight: float = 0.0
    beta: float | None = None
    needs_reference: Callable[[Any], bool] = lambda config: False
    setup: Callable[..., None] | None = None
    default_components: Callable[..., Any] | None = None
    paper: dict[str, Any] = field(default_factory=dict)


UNLEARNING_METHODS: Registry[UnlearningMethod] = Registry("unlearning method")


def register(method: UnlearningMethod, *, aliases: tuple[str, ...] = (), replace: bool = False) -> UnlearningMethod:
    import sys

    origin = sys._getframe(1).f_globals.get("__name__")
    return UNLEARNING_METHODS.register(method, aliases=aliases, replace=replace, origin=origin)
