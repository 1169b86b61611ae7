"""Static ablations of a `ComponentSet` as reversible weight edits.

    with ablate(subject, ComponentSet.parse(subject, "blocks.1.mlp.value:[3,7]"), "zero") as ed:
        ...                      # the model is ablated here; ed.verify(), ed.save(dir), ed.keep()

Modes (each slice of the set is a box of one parameter, see `unlearnscope.model.components`):

* ``zero``: set the entries to 0.
* ``noise``: add i.i.d. Gaussian noise of absolute std ``sigma`` (seeded; slice ``i`` uses
  ``seed + i``), as in ConceptVectors' causal validation (σ = 0.1).
* ``mean``: replace each selected unit by the mean of its siblings — the mean over the slice's
  last indexed dim of the whole parameter (the layer's mean value vector, the mean expert, the mean
  head's output columns).  Whole parameters have no siblings and are refused.
* ``project``: remove the component along ``direction`` (a ``[d_model]`` vector, normalised here)
  from every selected vector: ``v <- v - (v . u) u`` along the parameter's ``d_model`` dim.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..errors import UnlearnscopeError
from ..model.components import ComponentSet
from ..model.edits import Edits

if TYPE_CHECKING:
    from ..model.subject import Subject

MODES = ("zero", "noise", "mean", "project")


def ablate(
    subject: Subject,
    components: ComponentSet,
    mode: str,
    *,
    sigma: float | None = None,
    seed: int = 0,
    direction: torch.Tensor | None = None,
    edits: Edits | None = None,
) -> Edits:
    """Apply the ablation; returns the (open) `Edits` session holding it."""
    if mode not in MODES:
        raise UnlearnscopeError(f"unknown ablation mode {mode!r}; choose from {MODES}")
    if mode == "noise" and not (sigma is not None and sigma > 0):
        raise UnlearnscopeError("noise ablation needs sigma > 0 (absolute std of the added noise)")
    if mode == "project":
        if direction is None or direction.ndim != 1 or direction.shape[0] != subject.anatomy.d_model:
            raise UnlearnscopeError(f"project ablation needs a direction of shape [d_model={subject.anatomy.d_model}]")
        if not torch.isfinite(direction).all() or direction.norm() == 0:
            raise UnlearnscopeError("project ablation needs a finite, non-zero direction")
    ed = edits or Edits(subject)
    try:
        for i, sl in enumerate(components.slices()):
            p = subject.model.get_parameter(sl.param)
            if mode == "zero":
                ed.zero(sl)
            elif mode == "noise":
                ed.noise(sl, sigma, seed + i)
            elif mode == "mean":
                if not sl.index:
                    raise UnlearnscopeError(
                        f"mean ablation of the whole parameter {sl.param!r} is undefined: use unit components (value "
                        "vectors, neurons, heads, experts)"
                    )
                dim = sl.index[-1][0]
                mean = p.detach().float().mean(dim, keepdim=True)[_other_dims(sl, p.shape, dim)].to(p.device)
                ed.apply(sl, lambda x, m=mean: m.expand_as(x), "mean")
            else:
                dim = _model_dim(sl, p.shape, subject.anatomy.d_model)
                u = (direction.float() / direction.float().norm()).to(p.device)
                shape = [1] * p.ndim
                shape[dim] = -1
                u = u.view(shape)
                ed.apply(sl, lambda x, u=u, d=dim: x - (x.float() * u).sum(d, keepdim=True) * u, "project")
    except BaseException:
        if edits is None:
            ed.undo()
        raise
    return ed


def _other_dims(sl, shape, dim) -> tuple:
    """Index the ``[.., 1, ..]`` mean tensor with the slice's indices on every dim but ``dim``."""
    dims = dict(sl.index)
    out = []
    for d, n in enumerate(shape):
        view = [1] * len(shape)
        view[d] = -1
        if d == dim:
            out.append(torch.zeros(1, dtype=torch.long).view(view))
        else:
            out.append((torch.tensor(dims[d]) if d in dims else torch.arange(n)).view(view))
    return tuple(out)


def _model_dim(sl, shape, d_model) -> int:
    indexed = {d for d, _ in sl.index}
    dims = [d for d, n in enumerate(shape) if n == d_model and d not in indexed]
    if len(dims) != 1:
        raise UnlearnscopeError(
            f"cannot tell which dim of {sl.param!r} {tuple(shape)} holds the d_model vectors: project unit components "
            "(value vectors, heads, experts)"
        )
    return dims[0]
