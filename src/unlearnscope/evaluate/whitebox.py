"""White-box attacks on an unlearned model, each also run on the never-knew reference (its floor).

    r = direction_ablation(unl, orig, forget, reference=ref, k=1)   # project out the unlearning direction
    r = quantization_attack(unl, forget, bits=4, original=orig, reference=ref)
    r = component_revert(unl, orig, forget, reference=ref)          # which component holds the suppression
    r.recovered, r.rki, r.to_dict()

* **direction ablation** (Łucki et al., "An Adversarial Perspective on Machine Unlearning for AI
  Safety"; Arditi et al.'s directional ablation): per layer, the directions along which the
  model's residual stream (``blocks.{l}.hook_resid_post``, last prompt position) differs from
  ORIG's on the forget prompts — the mean difference, then the top principal components of the
  differences, orthonormalised, ``k`` in all — are projected out of the model's residual stream at
  that layer (every position) while the forget facts are asked again.  The worst case over
  layers is the attack's value; every layer's is reported.
* **quantization** (Zhang et al., "Catastrophic Failure of LLM Unlearning via Quantization"): the
  weights' ``bits``-bit per-channel round trip (`model.quantize`).
* **component revert**: each component (default: every block's ``attn`` and ``mlp``) of the
  model gets ORIG's weights back, one at a time; the recall it brings back attributes the
  suppression to that component.

Recall is top-1 recall per forget entity (`recall.entity_recall`); the RKI and its CI compare the
attacked model with ORIG and with the reference under the same attack (ORIG is measured as it is:
the attacks undo a difference from ORIG, which ORIG does not have).  Models are never modified:
hooks are removed and reverted weights restored on exit, also after errors.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from ..data import as_facts, encode_facts
from ..errors import UnlearnscopeError
from ..results import Result
from .recall import entity_recall
from .rki import Metric, VerdictConfig


@dataclass
class AttackResult(Result):
    """``recovered``: the attacked model's mean forget recall; ``before``: without the attack;
    ``reference_floor``: the reference's recall under the same attack; ``rki``: ``{"value", "ci",
    "defined", "why"}`` of the attacked model; ``detail``: the attack's own numbers."""

    kind = "attack"
    attack: str
    recovered: float
    before: float
    reference_floor: float | None
    rki: dict
    detail: dict = field(default_factory=dict)

    def plot(self):
        import plotly.graph_objects as go

        rows = self.detail.get("per_layer") or self.detail.get("attribution") or []
        x = [str(r.get("layer", r.get("component"))) for r in rows]
        return go.Figure(go.Bar(x=x, y=[r["recovered"] for r in rows])).update_layout(title=f"{self.attack}: recovered forget recall",
                                                                                        yaxis_range=[0, 1])


def _recall(subject, facts, order, ctx=None):
    with ctx if ctx is not None else contextlib.nullcontext():
        return entity_recall(subject, facts, order)[1]


def _result(attack, facts, order, attacked, before, original, ref_attacked, cfg, detail) -> AttackResult:
    m = Metric(attack, "adversarial", order, attacked[None], None if original is None else entity_recall(original, facts, order)[1][None],
               None if ref_attacked is None else ref_attacked[None])
    return AttackResult(attack, float(attacked.mean()), float(before.mean()), None if ref_attacked is None else float(ref_attacked.mean()),
                        m.rki(cfg), detail)


def _checked(facts):
    facts = as_facts(facts)  # an empty set is refused there
    if any(not f.subject for f in facts):
        raise UnlearnscopeError("attacks score by entity: every fact needs its subject")
    return facts, sorted({f.subject for f in facts})


# ---------------------------------------------------------------------------- direction ablation
@torch.no_grad()
def unlearning_directions(model, original, facts, k: int = 1) -> torch.Tensor:
    """``[layer, k, d_model]`` orthonormal directions per layer (zero rows where the streams agree):
    the mean of ``h_model − h_ORIG`` at the last prompt position, then the top principal components
    of the differences."""
    if k < 1:
        raise UnlearnscopeError(f"k must be >= 1 directions, got {k}")
    if (model.anatomy.n_layers, model.anatomy.d_model) != (original.anatomy.n_layers, original.anatomy.d_model):
        raise UnlearnscopeError("direction ablation compares the model's residual stream with ORIG's: use models of one architecture")
    enc = encode_facts(original, facts)
    points = [f"blocks.{l}.hook_resid_post" for l in range(model.anatomy.n_layers)]
    rows = torch.arange(len(enc))
    states = []
    for s in (model, original):
        with s.capture(points) as cache:
            s.model(input_ids=enc.input_ids.to(s.device), attention_mask=enc.attention_mask.to(s.device))
        states.append(torch.stack([cache[p][rows, enc.last.to(cache[p].device)].float().cpu() for p in points]))  # [layer, n, d]
    diff = states[0] - states[1]
    out = torch.zeros(diff.shape[0], k, diff.shape[-1])
    for l, d in enumerate(diff):
        mean = d.mean(0)
        if mean.norm() < 1e-6 and d.norm() < 1e-6:
            continue
        cands = [mean] + list(torch.linalg.svd(d - mean, full_matrices=False).Vh[: k - 1]) if k > 1 else [mean]
        basis = torch.linalg.qr(torch.stack(cands).T).Q.T[:k]
        out[l, : basis.shape[0]] = basis
    return out


@contextlib.contextmanager
def directions_removed(subject, layer: int, basis: torch.Tensor):
    """Project ``basis`` ``[k, d_model]`` (orthonormal rows) out of ``blocks.{layer}.hook_resid_post``."""
    b = basis[basis.norm(dim=-1) > 0].to(subject.device)

    def project(act, hook):
        return act - (act.float() @ b.T @ b).to(act.dtype)

    with subject.hooks([(f"blocks.{layer}.hook_resid_post", project)]):
        yield


def _ablation_curve(model, original, facts, order, k):
    basis = unlearning_directions(model, original, facts, k)
    per_layer = [_recall(model, facts, order, directions_removed(model, l, basis[l])) for l in range(basis.shape[0])]
    return per_layer, basis


def direction_ablation(model, original, facts, *, reference=None, k: int = 1, config: VerdictConfig = VerdictConfig()) -> AttackResult:
    """The direction-ablation attack (module doc): the worst case over layers, each layer's recall."""
    facts, order = _checked(facts)
    per_layer, basis = _ablation_curve(model, original, facts, order, k)
    worst = int(torch.stack([v.mean() for v in per_layer]).argmax())
    ref_best = None
    if reference is not None:
        ref_layers, _ = _ablation_curve(reference, original, facts, order, k)
        ref_best = ref_layers[int(torch.stack([v.mean() for v in ref_layers]).argmax())]
    detail = {"k": k, "layer": worst, "per_layer": [{"layer": l, "recovered": float(v.mean())} for l, v in enumerate(per_layer)],
              "directions": {"norm_of_mean_difference": [float(n) for n in basis[:, 0].norm(dim=-1)]}}
    return _result("direction_ablation", facts, order, per_layer[worst], _recall(model, facts, order), original, ref_best, config, detail)


# ---------------------------------------------------------------------------- quantization
def quantization_attack(model, facts, *, bits: int = 4, original=None, reference=None, config: VerdictConfig = VerdictConfig()) -> AttackResult:
    """Recall after the weights' ``bits``-bit round trip, on the model and on the reference."""
    from ..model.quantize import quantized_copy

    facts, order = _checked(facts)
    attacked = _recall(quantized_copy(model, bits), facts, order)
    ref = None if reference is None else _recall(quantized_copy(reference, bits), facts, order)
    detail = {"bits": bits, "reference_before": None if reference is None else float(_recall(reference, facts, order).mean())}
    return _result(f"quant{bits}", facts, order, attacked, _recall(model, facts, order), original, ref, config, detail)


# ---------------------------------------------------------------------------- component revert
def default_components(subject) -> list[str]:
    return [f"blocks.{l}.{kind}" for l in range(subject.anatomy.n_layers) for kind in ("attn", "mlp")]


@contextlib.contextmanager
def reverted(model, original, component: str):
    """``model`` with ORIG's weights inside ``component`` (a `ComponentSet` spec); restored on exit."""
    from ..model.components import ComponentSet

    masks = ComponentSet.parse(model, component).masks(model)
    saved = {}
    try:
        with torch.no_grad():
            for name, m in masks.items():
                p = model.model.get_parameter(name)
                saved[name] = p.detach().clone()
                p.copy_(torch.where(m, original.model.get_parameter(name).to(p.device, p.dtype), p))
        yield
    finally:
        with torch.no_grad():
            for name, w in saved.items():
                model.model.get_parameter(name).copy_(w)


def component_revert(model, original, facts, *, components=None, reference=None, config: VerdictConfig = VerdictConfig()) -> AttackResult:
    """Each component reverted to ORIG's weights in turn; the attribution is the recall it brings
    back.  The reference's floor is its recall with the same component taken from ORIG (ORIG's
    weights there may carry the facts themselves: a recovery must exceed it)."""
    facts, order = _checked(facts)
    names = list(components) if components else default_components(model)
    if not names:
        raise UnlearnscopeError("give at least one component to revert")
    before = _recall(model, facts, order)
    rows = [_recall(model, facts, order, reverted(model, original, c)) for c in names]
    worst = int(torch.stack([v.mean() for v in rows]).argmax())
    ref = None if reference is None else _recall(reference, facts, order, reverted(reference, original, names[worst]))
    attribution = [{"component": c, "recovered": float(v.mean()), "gain": float(v.mean() - before.mean())} for c, v in zip(names, rows, strict=True)]
    return _result("component_revert", facts, order, rows[worst], before, original, ref, config,
                   {"component": names[worst], "attribution": attribution})
