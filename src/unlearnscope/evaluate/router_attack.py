"""Router restoration (MoE): run an unlearned model with ORIG's routing decisions.

    r = router_restoration(unl, orig, forget, retain=retain, reference=ref)
    r.recovered, r.rki, r.detail["routing_stability"]

Unlearning an MoE model can reroute tokens away from the experts that hold the knowledge instead
of erasing it there (the *router shortcut*).  The attack replays, in every MoE layer, ORIG's
router outputs — its logits, top-k expert indices and their weights — on the same tokens inside
the unlearned model's forward, so its experts see exactly the tokens ORIG's experts saw, with
ORIG's weights.  Knowledge that comes back was left in the experts: "routing changed, experts
unchanged".  The reference gets the same replay (its floor: ORIG's routing alone should not
teach a model that never knew).

*Routing stability* compares the two models' own routing (`compare_routing`) on the forget and the
retain prompts: per layer, the mean top-k overlap ``|TopK_ORIG ∩ TopK_model| / k`` over tokens
(1 = same experts chosen) and the JS divergence of the layers' selection frequencies (nats).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from ..errors import UnlearnscopeError
from .rki import VerdictConfig


def _routers(subject) -> dict[int, torch.nn.Module]:
    a = subject.anatomy
    return {l: a.module(a.path(l, a.family.moe.router)) for l in a.moe_layers}


def has_router(subject) -> bool:
    return bool(subject.anatomy.moe_layers)


def _check_routers(subject, original) -> None:
    if not has_router(subject):
        raise UnlearnscopeError("router restoration needs an MoE model (a model with routers); this one has none")
    a, b = subject.anatomy, original.anatomy
    if a.moe_layers != b.moe_layers or a.n_experts != b.n_experts:
        raise UnlearnscopeError(
            "router restoration replays ORIG's routing: the model and ORIG need the same MoE layers and experts"
        )


@contextlib.contextmanager
def original_routing(subject, original) -> Iterator[None]:
    """Every forward of ``subject`` routes as ``original`` does on the same input: a paired
    forward of ORIG (``input_ids`` / ``attention_mask``, no KV cache) records its routers'
    outputs and ``subject``'s routers return them.  Hooks are removed on exit, also on errors."""
    _check_routers(subject, original)
    if subject.model is original.model:  # ORIG already routes as ORIG
        yield
        return
    mine, theirs = _routers(subject), _routers(original)
    recorded: dict[int, tuple] = {}
    handles = []

    def record(layer):
        def fn(module, args, output):
            recorded[layer] = output if isinstance(output, tuple) else (output,)

        return fn

    def replay(layer):
        def fn(module, args, output):
            if layer not in recorded:
                raise UnlearnscopeError("router restoration: ORIG's routing for this forward was not recorded")
            got = recorded[layer]
            if not isinstance(output, tuple) or len(got) != len(output):
                raise UnlearnscopeError(
                    f"{type(module).__name__} returns only logits (transformers 4.x router): router restoration needs "
                    "transformers >= 5"
                )
            return tuple(g.to(o.device, o.dtype) for g, o in zip(got, output, strict=True))

        return fn

    def paired(module, args, kwargs):
        cache = kwargs.get("past_key_values")
        if cache is not None and getattr(cache, "get_seq_length", lambda: 0)() > 0:
            raise UnlearnscopeError(
                "router restoration replays whole-sequence forwards: generation with a KV cache is not supported"
            )
        ids = kwargs.get("input_ids", args[0] if args else None)
        recorded.clear()
        with torch.no_grad():
            original.model(
                input_ids=ids.to(original.device), attention_mask=kwargs.get("attention_mask"), use_cache=False
            )

    try:
        handles += [theirs[l].register_forward_hook(record(l)) for l in theirs]
        handles += [mine[l].register_forward_hook(replay(l)) for l in mine]
        handles.append(subject.model.register_forward_pre_hook(paired, with_kwargs=True))
        yield
    finally:
        for h in handles:
            h.remove()
        recorded.clear()


def routing_stability(original, subject, prompts: dict[str, list[str]]) -> dict:
    """``{name: {"top_k_overlap", "jsd", "per_layer": {"overlap", "jsd"}}}`` of ``subject``'s own
    routing against ORIG's on each prompt set (see module doc)."""
    from ..localize.experts.routing_statistics import compare_routing

    out = {}
    for name, texts in prompts.items():
        if not texts:
            continue
        c = compare_routing(original, subject, list(texts))
        out[name] = {
            "top_k_overlap": c.mean_overlap,
            "jsd": float(c.jsd.mean()),
            "per_layer": {"layers": list(c.layers), "overlap": c.overlap.tolist(), "jsd": c.jsd.tolist()},
        }
    return out


def reading(stability: dict, recovers: bool, overlap_floor: float = 0.9) -> str:
    """What the routing numbers and the attack say together, in words."""
    changed = stability.get("forget", {}).get("top_k_overlap", 1.0) < overlap_floor
    if recovers:
        return (
            "routing changed, experts unchanged: ORIG's routing brings the knowledge back (a router shortcut)"
            if changed
            else "ORIG's routing brings the knowledge back although the routing barely changed"
        )
    return (
        "routing changed and the experts changed too"
        if changed
        else "routing unchanged: the change is in the experts or elsewhere"
    )


def router_restoration(model, original, facts, *, retain=None, reference=None, config: VerdictConfig = VerdictConfig()):
    """The router-restoration attack on ``model`` (and the reference's floor), with routing
    stability on the forget (and retain) prompts; an `AttackResult`."""
    from ..data import as_facts
    from .rki import shows_knowledge
    from .whitebox import attack_result, checked_facts, recall_under

    facts, order = checked_facts(facts)
    attacked = recall_under(model, facts, order, original_routing(model, original))
    ref = None if reference is None else recall_under(reference, facts, order, original_routing(reference, original))
    prompts = {"forget": [f.prompt for f in facts], "retain": [f.prompt for f in as_facts(retain)] if retain else []}
    stability = routing_stability(original, model, prompts)
    res = attack_result(
        "router_restore",
        facts,
        order,
        attacked,
        recall_under(model, facts, order),
        original,
        ref,
        config,
        {"routing_stability": stability},
    )
    res.detail["reading"] = reading(stability, shows_knowledge(res.rki, config.margin))
    return res
