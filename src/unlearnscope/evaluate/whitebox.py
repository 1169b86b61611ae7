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
* **component revert**: each component (default: every block's ``attn`` and ``mlp``; in MoE layers the
  router and each expert) of the
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
from .verdicts import RKI


@dataclass
class AttackResult(Result):
    """``recovered``: the attacked model's mean forget recall; ``before``: without the attack;
    ``reference_floor``: the reference's recall under the same attack; ``rki``: the attacked model's `RKI`;
    ``detail``: the attack's own numbers."""

    kind = "attack"
    attack: str
    recovered: float
    before: float
    reference_floor: float | None
    rki: RKI
    detail: dict = field(default_factory=dict)

    def plot(self):
        import plotly.graph_objects as go

        rows = self.detail.get("per_layer") or self.detail.get("attribution") or []
        x = [str(r.get("layer", r.get("component"))) for r in rows]
        return go.Figure(go.Bar(x=x, y=[r["recovered"] for r in rows])).update_layout(
            title=f"{self.attack}: recovered forget recall", yaxis_range=[0, 1]
        )


def recall_under(subject, facts, order, ctx=None) -> torch.Tensor:
    """``[entity]`` recall (entities in ``order``) with the context manager ``ctx`` held."""
    with ctx if ctx is not None else contextlib.nullcontext():
        return entity_recall(subject, facts, order)[1]


def attack_result(attack, facts, order, attacked, before, original, ref_attacked, cfg, detail) -> AttackResult:
    """An `AttackResult` from per-entity recall: ``attacked`` / ``before`` the model's with / without
    the attack, ``ref_attacked`` the reference's under it; ORIG is measured as it is."""
    m = Metric(
        attack,
        "adversarial",
        order,
        attacked[None],
        None if original is None else entity_recall(original, facts, order)[1][None],
        None if ref_attacked is None else ref_attacked[None],
    )
    return AttackResult(
        attack,
        float(attacked.mean()),
        float(before.mean()),
        None if ref_attacked is None else float(ref_attacked.mean()),
        m.rki(cfg),
        detail,
    )


def checked_facts(facts):
    """``(facts, sorted entities)``; every fact needs its subject (attacks score by entity)."""
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
        raise UnlearnscopeError(
            "direction ablation compares the model's residual stream with ORIG's: use models of one architecture"
        )
    enc = encode_facts(original, facts)
    points = [f"blocks.{l}.hook_resid_post" for l in range(model.anatomy.n_layers)]
    rows = torch.arange(len(enc))
    states = []
    for s in (model, original):
        with s.capture(points) as cache:
            s.model(input_ids=enc.input_ids.to(s.device), attention_mask=enc.attention_mask.to(s.device))
        states.append(
            torch.stack([cache[p][rows, enc.last.to(cache[p].device)].float().cpu() for p in points])
        )  # [layer, n, d]
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


def ablation_recall(model, original, facts, order, k: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """``([layer, entity] recall with layer l's directions projected out, [layer, k, d_model] directions)``."""
    basis = unlearning_directions(model, original, facts, k)
    per_layer = [
        recall_under(model, facts, order, directions_removed(model, l, basis[l])) for l in range(basis.shape[0])
    ]
    return torch.stack(per_layer), basis


def direction_ablation(
    model, original, facts, *, reference=None, k: int = 1, config: VerdictConfig = VerdictConfig()
) -> AttackResult:
    """The direction-ablation attack (module doc): the worst case over layers, each layer's recall."""
    facts, order = checked_facts(facts)
    per_layer, basis = ablation_recall(model, original, facts, order, k)
    worst = int(per_layer.mean(1).argmax())
    ref_best = None
    if reference is not None:
        ref_layers, _ = ablation_recall(reference, original, facts, order, k)
        ref_best = ref_layers[int(ref_layers.mean(1).argmax())]
    detail = {
        "k": k,
        "layer": worst,
        "per_layer": [{"layer": l, "recovered": float(v.mean())} for l, v in enumerate(per_layer)],
        "directions": {"norm_of_mean_difference": [float(n) for n in basis[:, 0].norm(dim=-1)]},
    }
    return attack_result(
        "direction_ablation",
        facts,
        order,
        per_layer[worst],
        recall_under(model, facts, order),
        original,
        ref_best,
        config,
        detail,
    )


# ---------------------------------------------------------------------------- quantization
def quantized_recall(model, facts, order, bits: int) -> torch.Tensor:
    """``[entity]`` recall of the ``bits``-bit round trip of ``model`` (a copy; the model is untouched)."""
    from ..model.quantize import quantized_copy

    return recall_under(quantized_copy(model, bits), facts, order)


def quantization_attack(
    model, facts, *, bits: int = 4, original=None, reference=None, config: VerdictConfig = VerdictConfig()
) -> AttackResult:
    """Recall after the weights' ``bits``-bit round trip, on the model and on the reference."""
    facts, order = checked_facts(facts)
    attacked = quantized_recall(model, facts, order, bits)
    ref = None if reference is None else quantized_recall(reference, facts, order, bits)
    detail = {
        "bits": bits,
        "reference_before": None if reference is None else float(recall_under(reference, facts, order).mean()),
    }
    return attack_result(
        f"quant{bits}", facts, order, attacked, recall_under(model, facts, order), original, ref, config, detail
    )


# ---------------------------------------------------------------------------- component revert
def default_components(subject) -> list[str]:
    """Every block's ``attn`` and ``mlp``; in an MoE layer its router and each expert instead of the MLP."""
    a = subject.anatomy
    out = []
    for l in range(a.n_layers):
        out.append(f"blocks.{l}.attn")
        if l in a.moe_layers:
            out += [f"blocks.{l}.moe.router"] + [f"blocks.{l}.moe.expert:{e}" for e in range(a.n_experts)]
        else:
            out.append(f"blocks.{l}.mlp")
    return out


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


def revert_recall(model, original, facts, order, components: list[str]) -> torch.Tensor:
    """``[component, entity]`` recall with each component in turn given ORIG's weights."""
    return torch.stack([recall_under(model, facts, order, reverted(model, original, c)) for c in components])


def component_revert(
    model, original, facts, *, components=None, reference=None, config: VerdictConfig = VerdictConfig()
) -> AttackResult:
    """Each component reverted to ORIG's weights in turn; the attribution is the recall it brings
    back.  The reference's floor is its recall with the same component taken from ORIG (ORIG's
    weights there may carry the facts themselves: a recovery must exceed it)."""
    facts, order = checked_facts(facts)
    names = list(components) if components else default_components(model)
    if not names:
        raise UnlearnscopeError("give at least one component to revert")
    before = recall_under(model, facts, order)
    rows = revert_recall(model, original, facts, order, names)
    worst = int(rows.mean(1).argmax())
    ref = (
        None
        if reference is None
        else recall_under(reference, facts, order, reverted(reference, original, names[worst]))
    )
    attribution = [
        {"component": c, "recovered": float(v.mean()), "gain": float(v.mean() - before.mean())}
        for c, v in zip(names, rows, strict=True)
    ]
    return attack_result(
        "component_revert",
        facts,
        order,
        rows[worst],
        before,
        original,
        ref,
        config,
        {"component": names[worst], "attribution": attribution},
    )
