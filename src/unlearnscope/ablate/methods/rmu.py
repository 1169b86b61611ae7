"""``rmu``: Representation Misdirection for Unlearning (Li et al. 2024, WMDP) — at one layer's
residual stream, forget tokens are steered to a fixed random direction and retain activations are
held at the frozen reference's: ``|h_l(f) − c u|² + α |h_l(r) − h_l^ref(r)|²`` (α 100).

The control vector is ``rmu_coef`` times a random unit vector ``u`` (drawn before any batch), or,
with ``rmu_scale`` set (the default), ``rmu_scale`` times the mean norm of ORIG's residual stream
at ``rmu_layer`` on the forget tokens, so one setting works across models whose residual norms
differ (WMDP tuned 6.5 for Zephyr-7B's layer 7 and 300 for Mixtral).  The trained parameters
default to the MLP output projections of layers ``rmu_layer − 2 … rmu_layer`` (WMDP updates three
MLPs; an MoE layer's whole MLP, as SEUF's RMU trains every expert MLP there)."""

from __future__ import annotations

import torch

from ...errors import UnlearnscopeError
from ...model.activations import capture
from ..inputs import model_inputs
from .base import UnlearningMethod, register

RETAIN_WEIGHT = 100.0


def rmu_forget(h, control: torch.Tensor, mask) -> torch.Tensor:
    m = mask[..., None].float()
    return (((h.float() - control) ** 2) * m).sum() / (m.sum() * h.shape[-1]).clamp_min(1)


def rmu_retain(h, h_ref, mask) -> torch.Tensor:
    m = mask[..., None].float()
    return (((h.float() - h_ref.float()) ** 2) * m).sum() / (m.sum() * h.shape[-1]).clamp_min(1)


def _layer(objective) -> int:
    a, cfg = objective.subject.anatomy, objective.cfg
    return a.check_layer(cfg.rmu_layer if cfg.rmu_layer is not None else a.n_layers // 2)


@torch.no_grad()
def _residual_norm(objective, enc: dict | None, batch_size: int = 64) -> float:
    """Mean L2 norm of ORIG's residual stream (after block ``layer``) over the forget tokens."""
    if enc is None:
        raise UnlearnscopeError(
            "RMU's norm-scaled control vector needs the forget set (or rmu_scale=None and an absolute rmu_coef)"
        )
    name = f"blocks.{objective.layer}.hook_resid_post"
    total, count = 0.0, 0.0
    for s in range(0, enc["input_ids"].shape[0], batch_size):
        b = {k: v[s : s + batch_size] for k, v in model_inputs(enc).items()}
        with capture(objective.subject, name) as c:
            objective.subject.model(**b)
        m = b["attention_mask"].bool()
        total += float(c[name].float().norm(dim=-1)[m].sum())
        count += float(m.sum())
    return total / max(count, 1.0)


def setup(objective, forget: dict | None, gen: torch.Generator) -> None:
    """The layer and the control vector (drawn from ``gen`` before any batch is)."""
    cfg, a = objective.cfg, objective.subject.anatomy
    objective.layer = _layer(objective)
    u = torch.rand(a.d_model, generator=gen)
    objective.control_norm = (
        cfg.rmu_coef if cfg.rmu_scale is None else cfg.rmu_scale * _residual_norm(objective, forget)
    )
    objective.control = (objective.control_norm * u / u.norm()).to(objective.subject.device)


def default_components(objective):
    """WMDP's trained parameters: the MLP output projections (every value vector) of layers
    ``layer − 2 … layer``; an MoE layer's whole MLP."""
    from ...model.components import ComponentSet

    a = objective.subject.anatomy
    layers = range(max(0, objective.layer - 2), objective.layer + 1)
    return ComponentSet.parse(
        objective.subject,
        [f"blocks.{l}.mlp" if l in a.moe_layers else f"blocks.{l}.mlp.value:0-{a.d_mlp - 1}" for l in layers],
    )


def loss(objective, fb: dict, rb: dict | None):
    name = f"blocks.{objective.layer}.hook_resid_post"
    model = objective.subject.model
    with capture(objective.subject, name, grad=True) as c:
        model(**model_inputs(fb))
    f_loss = rmu_forget(c[name], objective.control, fb["attention_mask"])
    if rb is None:
        return f_loss, f_loss, None
    with capture(objective.subject, name, grad=True) as c:
        model(**model_inputs(rb))
    with torch.no_grad(), capture(objective.reference_subject(), name) as cr:
        objective.ref(**model_inputs(rb))
    r_loss = rmu_retain(c[name], cr[name], rb["attention_mask"])
    return f_loss + objective.cfg.alpha * r_loss, f_loss, r_loss


register(
    UnlearningMethod(
        "rmu",
        "forget activations steered to a norm-scaled random direction, retain activations held",
        "Li et al. 2024 (WMDP)",
        loss=loss,
        retain_weight=RETAIN_WEIGHT,
        needs_reference=lambda config: True,
        setup=setup,
        default_components=default_components,
        paper={
            "source": "RMU (Li et al. 2024, WMDP code): lr 5e-5, alpha 100 (1200 for Zephyr), the MLPs of layers "
            "l-2..l, steering coefficient 6.5 at Zephyr's layer 7 (here scaled to the residual norm)",
            "config": {"method": "rmu", "lr": 5e-5, "retain_weight": RETAIN_WEIGHT, "batch_size": 4, "steps": 150},
        },
    )
)
