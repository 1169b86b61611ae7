"""Capture activations by canonical name: only what was asked, where it was asked.

    with capture(subject, ["blocks.*.hook_resid_post"], positions=-1, device="cpu", dtype=torch.float16) as cache:
        subject.forward(["The capital of France is"])
    cache["blocks.3.hook_resid_post"]            # [batch, d_model] (int position drops pos)

    logits, cache = run_with_cache(subject, texts, "blocks.2.mlp.hook_post", stop_at_layer=None)

Options: ``layers`` keeps points of those blocks; ``positions`` (see `positions.py`);
``device``/``dtype`` offload or downcast on store; ``grad=True`` keeps the graph and records
``cache.grads[name]`` (d loss / d activation) after ``backward()``; ``keep="all"`` keeps every
firing (generation steps) as a list instead of the last.  Untouched forwards are bit-identical
to plain HF: capture hooks never write (unless ``grad=True``, which routes the same tensor).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, cast

import torch

from ..errors import UnlearnscopeError
from .forward_hooks import hooks
from .hook_points import HookPoint
from .names import NameSpec
from .positions import Positions, select

if TYPE_CHECKING:
    from .subject import ModelInputs, Subject


class ActivationCache(dict):
    """``name -> tensor`` (or list of tensors with ``keep="all"``); ``.grads`` holds gradients."""

    def __init__(self):
        super().__init__()
        self.grads: dict[str, torch.Tensor] = {}
        self.batch_shape: tuple[int, int] | None = None

    def __missing__(self, key):
        raise KeyError(
            f"{key!r} was not captured (or its hook never fired); captured: "
            f"{sorted(self)[:8]}{' ...' if len(self) > 8 else ''}"
        )

    def stack(self, names: Iterable[str]) -> torch.Tensor:
        """Stack several same-shaped activations along a new leading ``layer`` dim."""
        return torch.stack([self[n] for n in names])


class _StopForward(Exception):
    pass


@contextmanager
def capture(
    subject: Subject,
    names: NameSpec | Iterable[NameSpec] | None = None,
    *,
    layers: Iterable[int] | None = None,
    positions: Positions = None,
    device: str | torch.device | None = None,
    dtype: torch.dtype | None = None,
    grad: bool = False,
    keep: Literal["last", "all"] = "last",
    strict: bool = True,
) -> Iterator[ActivationCache]:
    """Record the named activations of every forward run inside the block into a cache."""
    points = subject.resolve(names, layers=layers)
    cache = ActivationCache()
    need_shape = positions is not None and any(p.token_flat for p in points)

    def record_shape(act, point):
        cache.batch_shape = tuple(act.shape[:2])

    def store_fn(point: HookPoint):
        name, shape = point.name, point.shape

        def fn(act: torch.Tensor, _point):
            if grad:
                if not act.requires_grad:
                    raise UnlearnscopeError(
                        f"grad=True needs gradients at {name}: run the forward with torch.enable_grad(), not under "
                        "no_grad()"
                    )
                act.register_hook(
                    lambda g: _put(cache.grads, name, select(g, shape, positions, cache.batch_shape), keep)
                )
            value = select(act if grad else act.detach(), shape, positions, cache.batch_shape)
            if device is not None or dtype is not None:
                value = value.to(device=device, dtype=dtype)
            _put(cache, name, value, keep)
            return act if grad else None

        return fn

    fwd = [(p, store_fn(p)) for p in points]
    if need_shape:
        fwd.insert(0, (subject.hook_table["hook_embed"], record_shape))
    with hooks(subject, fwd, strict=strict):
        yield cache


def _put(store: dict, name: str, value: torch.Tensor, keep: str) -> None:
    if keep == "all":
        store.setdefault(name, []).append(value)
    else:
        store[name] = value


def run_with_cache(
    subject: Subject,
    inputs: ModelInputs,
    names: NameSpec | Iterable[NameSpec] | None = None,
    *,
    stop_at_layer: int | None = None,
    grad: bool = False,
    **capture_kwargs,
) -> tuple[Any, ActivationCache]:
    """Run one forward and return ``(native output, cache)``.

    ``stop_at_layer=L`` stops before block ``L`` runs (output is ``None``) and keeps only points
    that run before it.  Runs under ``torch.no_grad()`` unless ``grad=True``.
    """
    model_inputs = subject.as_inputs(inputs)
    layers = capture_kwargs.pop("layers", None)
    points = subject.resolve(names, layers=layers)
    stop_point = None
    if stop_at_layer is not None:
        stop_at_layer = subject.anatomy.check_layer(stop_at_layer)
        points = [p for p in points if p.layer is not None and p.layer < stop_at_layer or p.name == "hook_embed"]
        if not points:
            raise UnlearnscopeError(f"nothing to capture before layer {stop_at_layer}")
        stop_point = subject.hook_table[f"blocks.{stop_at_layer}.hook_resid_pre"]
    output = None
    with torch.set_grad_enabled(grad):
        with capture(subject, cast(Any, points), grad=grad, **capture_kwargs) as cache:  # resolved points pass through
            if stop_point is None:
                output = subject.model(**model_inputs)
            else:

                def stop(act, point):
                    raise _StopForward

                try:
                    with hooks(subject, [(stop_point, stop)]):
                        subject.model(**model_inputs)
                except _StopForward:
                    pass
    return output, cache
