"""Interventions at any hook point, as scoped context managers.

    with intervene(subject, {"blocks.2.hook_mlp_out": zero(),
                             "blocks.1.mlp.hook_post": scale(0.0, index=[17, 40], positions=-1),
                             "blocks.0.hook_resid_post": add(steer_vec, positions=slice(3, None))}):
        out = subject.forward(texts)          # also inside subject.model.generate(...)

Operations are plain callables ``(activation, hook_point) -> new activation`` and never modify
the activation in place.  ``index`` selects along the last dim (neurons, features) or, for
``attn.hook_z``, heads (dim ``-2``).  ``positions`` as in `positions.py`.  Values and vectors are
moved to the activation's device and dtype, so the same intervention works on CPU, GPU and
models spread over several GPUs.  Any callable with that signature is accepted ("custom fn").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from .forward_hooks import hooks
from .hook_points import HookPoint
from .positions import Positions, assign

if TYPE_CHECKING:
    from .subject import ModelInputs, Subject


@dataclass
class Op:
    """A named elementwise intervention; subclasses define ``transform(selected) -> new``."""

    index: list[int] | None = None
    positions: Positions = None

    def transform(self, x: torch.Tensor, point: HookPoint) -> torch.Tensor:
        raise NotImplementedError

    def __call__(self, act: torch.Tensor, point: HookPoint, batch_shape: tuple[int, int] | None = None) -> torch.Tensor:
        dim = -2 if point.shape.endswith("n_heads d_head") else -1

        def apply(x):
            if self.index is None:
                return self.transform(x, point)
            idx = torch.as_tensor(self.index, device=x.device)
            out = x.clone()
            out.index_copy_(dim % x.ndim, idx, self.transform(x.index_select(dim % x.ndim, idx), point).to(x.dtype))
            return out

        return assign(act, point.shape, self.positions, apply, batch_shape)


def _like(value, x: torch.Tensor) -> torch.Tensor:
    return torch.as_tensor(value).to(device=x.device, dtype=x.dtype)


@dataclass
class zero(Op):
    """Set the selected entries to 0."""

    def transform(self, x, point):
        return torch.zeros_like(x)


class _ValueOp(Op):
    """An `Op` with one operand (``value``) given first: ``scale(0.5)``, ``add(v)``, ``replace(m)``."""

    def __init__(self, value, index: list[int] | None = None, positions: Positions = None):
        super().__init__(index, positions)
        self.value = value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.value!r}, index={self.index}, positions={self.positions})"


class scale(_ValueOp):
    """Multiply the selected entries by ``value``."""

    def transform(self, x, point):
        return x * self.value


class add(_ValueOp):
    """Add ``value`` (broadcast against the selected entries, e.g. a ``[d_model]`` steering vector)."""

    def transform(self, x, point):
        return x + _like(self.value, x)


class replace(_ValueOp):
    """Replace the selected entries by ``value`` (broadcast): mean ablation, patching, resampling."""

    def transform(self, x, point):
        return _like(self.value, x).expand_as(x).clone()


def mean_of(subject: Subject, name: str, inputs: ModelInputs, *, batch_size: int = 32) -> torch.Tensor:
    """Mean activation of hook ``name`` over all non-padding tokens of ``inputs`` (texts or a
    tokenizer dict): the value a mean ablation writes (``replace(mean_of(...))``).  fp32."""
    from .activations import capture

    enc = subject.as_inputs(inputs)
    point = subject.resolve(name)[0]
    n = enc["input_ids"].shape[0]
    total: torch.Tensor | None = None
    count = 0
    for start in range(0, n, batch_size):
        batch = {k: v[start : start + batch_size] for k, v in enc.items()}
        with torch.no_grad(), capture(subject, [name]) as cache:
            subject.model(**batch)
        act = cache[name].float()
        if point.token_flat:
            act = act.view(*batch["input_ids"].shape, *act.shape[1:])
        mask = batch.get("attention_mask", torch.ones_like(batch["input_ids"])).to(act.device, torch.bool)
        selected = act[mask]
        total = selected.sum(0) if total is None else total + selected.sum(0)
        count += selected.shape[0]
    if not count or total is None:
        from ..errors import UnlearnscopeError

        raise UnlearnscopeError("mean_of: the inputs hold no tokens")
    return total / count


@contextmanager
def intervene(
    subject: Subject,
    spec: Mapping[str, Callable] | Iterable[tuple[str, Callable]] | str,
    fn: Callable | None = None,
    **hook_kwargs,
) -> Iterator[list]:
    """Apply interventions for the duration of the block: ``intervene(subject, name, op)`` or
    ``intervene(subject, {name_or_pattern: op, ...})``.  Undone on exit, also on errors."""
    if isinstance(spec, str):
        pairs = [(spec, fn)]
    elif isinstance(spec, Mapping):
        pairs = list(spec.items())
    else:
        pairs = list(spec)
    if any(getattr(op, "positions", None) is not None for _, op in pairs):
        # token-flattened MoE points need the forward's [batch, pos] to select positions
        box: dict[str, tuple[int, int]] = {}

        def record(act, point):
            box["shape"] = tuple(act.shape[:2])

        def with_shape(op):
            return lambda act, point: op(act, point, batch_shape=box.get("shape"))

        pairs = [(subject.hook_table["hook_embed"], record)] + [  # type: ignore[assignment]
            (n, with_shape(op) if isinstance(op, Op) else op) for n, op in pairs
        ]
    with hooks(subject, pairs, **hook_kwargs) as resolved:
        yield resolved
