"""`hooks(...)`: the one primitive every capture and intervention is built on.

    with hooks(subject, [("blocks.1.hook_resid_post", fn), ("blocks.*.mlp.hook_post", fn2)]):
        subject.model(**batch)

Hook functions take ``(activation, hook_point)`` — the canonical tensor and the `HookPoint` — and
return ``None`` (leave it) or a replacement tensor of the same shape.  Functions written for
TransformerLens run unchanged: a function with a parameter named ``hook`` is called as
``fn(activation, hook=...)`` with a `TLHook` (``hook.name``, ``hook.layer()``, ``hook.ctx``); one
that edits the activation in place and returns ``None`` works where the canonical tensor is the
module's own (residual stream, attention / MLP outputs, MLP keys), while points computed from a
call (MoE expert outputs, dense expert keys) need the new tensor returned.  The context manager
registers native torch hooks, removes exactly those on exit (also on exceptions), and, if a
forward pass ran inside it, raises `HookNeverFiredError` for requested hooks that never ran
(a silent no-op is the bug users of hook libraries hit most).  Names are resolved before
anything is registered, so a bad name leaves the model untouched.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import torch

from ..errors import HookNeverFiredError
from .hook_points import HookPoint
from .names import NameSpec

if TYPE_CHECKING:
    from .subject import Subject

HookFn = Callable[[torch.Tensor, HookPoint], "torch.Tensor | None"]


class _Counter:
    __slots__ = ("n",)

    def __init__(self):
        self.n = 0


class TLHook:
    """What a TransformerLens-style hook function gets as ``hook``: ``name``, ``layer()`` (raises
    for points outside blocks, as TransformerLens does), ``ctx`` (a dict kept while the hook is
    attached); other attributes are the `HookPoint`'s."""

    def __init__(self, point: HookPoint):
        self.point, self.name, self.ctx = point, point.name, {}

    def layer(self) -> int:
        if self.point.layer is None:
            raise ValueError(f"hook point {self.name!r} is not inside a block")
        return self.point.layer

    def __getattr__(self, attr):
        return getattr(self.point, attr)


def _takes_hook_keyword(fn) -> bool:
    try:
        return "hook" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def _as_hook_fn(point: HookPoint, fn) -> HookFn:
    """``fn`` as ``(activation, point) -> tensor | None``; TransformerLens-style functions (a
    ``hook`` parameter) are called with ``hook=TLHook(point)``."""
    if not _takes_hook_keyword(fn):
        return fn
    view = TLHook(point)
    return lambda act, _point: fn(act, hook=view)


def _torch_hook(point: HookPoint, fn: HookFn, counter: _Counter):
    codec = point.codec
    fn = _as_hook_fn(point, fn)
    if point.phase == "in":

        def pre_hook(module, args, kwargs):
            counter.n += 1
            new = fn(codec.read(module, args, kwargs, None), point)
            return None if new is None else codec.write(module, args, kwargs, None, new)

        return pre_hook

    def post_hook(module, args, kwargs, output):
        counter.n += 1
        new = fn(codec.read(module, args, kwargs, output), point)
        return None if new is None else codec.write(module, args, kwargs, output, new)

    return post_hook


@contextmanager
def hooks(
    subject: Subject,
    fwd_hooks: Sequence[tuple[NameSpec | HookPoint, HookFn]],
    *,
    strict: bool = True,
    layers: Iterable[int] | None = None,
) -> Iterator[list]:
    """Attach ``(name_or_pattern, fn)`` pairs for the duration of the block.

    A pattern attaches ``fn`` to every matching point.  ``strict`` raises on exit if a forward
    ran but some attached hook never fired.
    """
    resolved: list[tuple[HookPoint, HookFn]] = []
    for spec, fn in fwd_hooks:
        points = [spec] if isinstance(spec, HookPoint) else subject.resolve(spec, layers=layers)
        resolved.extend((p, fn) for p in points)
    handles, counters = [], []
    try:
        for point, fn in resolved:
            module = subject.model.get_submodule(point.module_path)
            counter = _Counter()
            hook = _torch_hook(point, fn, counter)
            if point.phase == "in":
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(hook, with_kwargs=True))
            counters.append((point, counter))
        yield resolved
    finally:
        for h in handles:
            h.remove()
    if strict and any(c.n for _, c in counters):
        silent = [p.name for p, c in counters if c.n == 0]
        if silent:
            raise HookNeverFiredError(
                f"a forward pass ran but these hooks never fired: {silent[:10]}"
                + (f" (+{len(silent) - 10} more)" if len(silent) > 10 else "")
                + ". The model did not execute those modules (early exit, a skipped layer, or a "
                "forward that bypasses them). Pass strict=False to allow this."
            )


@contextmanager
def batch_shape_box(subject):
    """``box["shape"]`` = ``(batch, pos)`` of the forward in flight (read by hooks on token-flat points)."""
    box: dict = {}

    def pre(module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs["inputs_embeds"]
        box["shape"] = tuple(ids.shape[:2])

    handle = subject.model.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield box
    finally:
        handle.remove()
