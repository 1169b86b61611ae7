"""UOE / SEUF: unlearn one expert (and its layer's router) with a router anchor (Zhuang et al.).

    r = uoe_unlearn(subject, forget_texts, config=UnlearnConfig(method="ga", lr=1e-3, steps=40))
    r.config["uoe"]                       # the attributed (layer, expert), anchor weight, #params
    r.monitor_curves["selection_overlap"] # top-k overlap with the original routing on the forget set
    r.edits.undo()

* **Attribution**: the expert with the highest UOE affinity on the forget data across all MoE
  layers (`unlearnscope.localize.experts.uoe_attribution`), unless ``expert=(layer, e)`` is given.
* **Trainable**: that expert's slices of the fused expert tensors and the layer's whole router
  matrix (exact gradient masks; everything else bit-identical, `masking.py`).
* **Objective**: any base method of `unlearn` (GA, GradDiff, NPO with a frozen reference, SimNPO,
  RMU) plus ``α · L_anchor``, ``L_anchor = mean over forget tokens and experts of
  (p_full − onehot(e*))²`` — the *full* routing distribution (softmax over all experts; the
  normalised sigmoid scores for sigmoid routers) at layer ℓ*, in fp32, from the forget batch's own
  forward (the released code's MSE, i.e. the paper's squared norm / E).
* **Compat** (``compat=True``): the released SEUF NPO trainer computes NPO's reference
  log-probabilities with the model being trained (under no_grad), so the log-ratio is 0 and NPO
  becomes a weighted gradient ascent; ``compat=True`` reproduces that (``npo_reference="self"``).
* **Attribution size**: the paper attributes on at least 100k forget tokens (top-6 overlap 0.94
  with the full set); fewer tokens give a warning and the count is kept in ``config["uoe"]``.
* **Selection shift**: the mean top-k overlap between the current and the original routing on the
  forget data, every ``eval_every`` steps (UOE Fig. 3a).

`all_experts_components` gives the baseline UOE compares against: every routed expert and router.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from dataclasses import replace

import torch

from ..data import Fact
from ..errors import UnlearnscopeError
from ..localize.experts import selection_overlap_tracker, uoe_attribution
from ..model.components import ComponentSet
from ..model.routing import router_params, router_probs
from .inputs import encode_inputs, texts_of
from .unlearning import UnlearnConfig, UnlearnResult, unlearn

GA = UnlearnConfig(method="ga")
PAPER_ATTRIBUTION_TOKENS = 100_000  # SEUF: "a subset of at least 100k tokens" of the forget set


class RouterAnchor:
    """``α · mean((p_full − onehot(e*))²)`` at one layer, from the recorded forward's router logits."""

    def __init__(self, subject, layer: int, expert: int, weight: float = 1.0):
        a = subject.anatomy
        a.check_expert(layer, expert)
        self.subject, self.layer, self.expert, self.weight = subject, a.check_layer(layer), expert, float(weight)
        self.params = router_params(subject, layer)
        self.module = a.module(a.path(layer, a.family.moe.router))
        self.logits: torch.Tensor | None = None

    @contextmanager
    def recording(self):
        """Keep the router logits of the first forward inside the block (the forget batch)."""
        self.logits = None

        def hook(module, args, output):
            if self.logits is None:
                self.logits = output[0] if isinstance(output, tuple) else output

        h = self.module.register_forward_hook(hook)
        try:
            yield self
        finally:
            h.remove()

    def loss(self, batch: dict) -> tuple[torch.Tensor, float]:
        if self.logits is None:
            raise UnlearnscopeError(f"router anchor: layer {self.layer}'s router did not run in the recorded forward")
        p = router_probs(self.logits.reshape(-1, self.logits.shape[-1]), self.params)
        mask = batch["attention_mask"].reshape(-1).to(p.device).bool()
        target = torch.zeros_like(p)
        target[:, self.expert] = 1.0
        raw = ((p - target) ** 2).mean(-1)[mask].mean()
        self.logits = None
        return self.weight * raw, float(raw.detach())


def expert_components(subject, layer: int, expert: int, *, with_router: bool = True) -> ComponentSet:
    """One routed expert's slices (+ its layer's router)."""
    subject.anatomy.check_expert(layer, expert)
    names = [f"blocks.{layer}.moe.expert:{expert}"] + ([f"blocks.{layer}.moe.router"] if with_router else [])
    return ComponentSet.parse(subject, names)


def all_experts_components(subject, *, with_router: bool = True) -> ComponentSet:
    """Every routed expert (and router) of every MoE layer: the collapse-prone baseline."""
    a = subject.anatomy
    if not a.is_moe:
        raise UnlearnscopeError(
            f"{a.architecture} is dense: it has no experts (see unlearnscope.localize.experts.emergent_experts)"
        )
    names = [f"blocks.{l}.moe.expert:[{','.join(map(str, range(a.n_experts)))}]" for l in a.moe_layers]
    names += [f"blocks.{l}.moe.router" for l in a.moe_layers] if with_router else []
    return ComponentSet.parse(subject, names)


def _most_affine(subject, data) -> tuple[tuple[int, int], float, int | None]:
    """``((layer, expert), affinity, forget tokens attributed)`` of the most forget-affine expert;
    fewer tokens than the paper samples is warned about."""
    att = uoe_attribution(subject, data)
    top = att.top(1)[0]
    n_tokens = att.config.get("n_tokens")
    if n_tokens is not None and n_tokens < PAPER_ATTRIBUTION_TOKENS:
        warnings.warn(
            f"UOE attribution on {n_tokens} forget tokens; the paper samples at least {PAPER_ATTRIBUTION_TOKENS} "
            "(below that the top expert is less stable across subsets)",
            stacklevel=3,
        )
    return (top[0], top[1]), top[2], n_tokens


def uoe_unlearn(
    subject,
    forget,
    retain=None,
    *,
    expert: tuple[int, int] | None = None,
    anchor_weight: float = 1.0,
    config: UnlearnConfig = GA,
    track_selection: bool = True,
    attribution_data=None,
    progress: bool = True,
    metric_items=None,
    compat: bool = False,
) -> UnlearnResult:
    """Unlearn ``forget`` by training one expert and its router (see the module docstring).

    ``anchor_weight=0`` gives UOE without the anchor (the ablation in the paper's α study);
    ``compat=True`` runs NPO as the released code does (module doc)."""
    if anchor_weight < 0:
        raise UnlearnscopeError(f"anchor_weight must be >= 0, got {anchor_weight}")
    if compat and config.method == "npo":
        config = replace(config, npo_reference="self")
    forget_list, data = _forget_data(subject, forget)
    score, n_tokens = None, None
    if expert is None:
        expert, score, n_tokens = _most_affine(subject, attribution_data if attribution_data is not None else data)
    layer, e = int(expert[0]), int(expert[1])
    comps = expert_components(subject, layer, e)
    anchor = RouterAnchor(subject, layer, e, anchor_weight) if anchor_weight > 0 else None
    monitors = _selection_monitor(subject, data, config) if track_selection else {}
    r = unlearn(
        subject,
        forget_list,
        retain,
        components=comps,
        config=config,
        progress=progress,
        metric_items=metric_items,
        aux_loss=anchor,
        monitors=monitors,
    )
    r.method = f"uoe:{config.method}"
    r.config = {
        **r.config,
        "uoe": {
            "layer": layer,
            "expert": e,
            "affinity": score,
            "anchor_weight": anchor_weight,
            "n_params": comps.n_params,
            "attribution_tokens": n_tokens,
            "compat": compat,
        },
    }
    return r


def all_experts_unlearn(
    subject,
    forget,
    retain=None,
    *,
    config: UnlearnConfig = GA,
    track_selection: bool = True,
    progress: bool = True,
    metric_items=None,
) -> UnlearnResult:
    """The baseline: the same method on every routed expert and every router (no anchor)."""
    forget_list, data = _forget_data(subject, forget)
    monitors = _selection_monitor(subject, data, config) if track_selection else {}
    r = unlearn(
        subject,
        forget_list,
        retain,
        components=all_experts_components(subject),
        config=config,
        progress=progress,
        metric_items=metric_items,
        monitors=monitors,
    )
    r.method = f"all_experts:{config.method}"
    return r


def _forget_data(subject, forget):
    """``(forget as unlearn takes it, the same data for routing: texts or one tokenizer dict)``."""
    forget_list = list(forget) if not isinstance(forget, (dict, torch.Tensor)) else forget
    texts_given = isinstance(forget_list, list) and all(isinstance(d, (str, Fact)) for d in forget_list)
    data = texts_of(forget_list) if texts_given else encode_inputs(subject, forget_list)
    return forget_list, data


def _selection_monitor(subject, data, config: UnlearnConfig) -> dict:
    return {"selection_overlap": selection_overlap_tracker(subject, data, batch_size=config.batch_size * 4)}
