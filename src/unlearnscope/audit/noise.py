"""NOISE, the drift floor, built once per method: the same kind and size of change as the method,
aimed at nothing (see ``docs/verify.md``).

* a training method (gradient ascent, GradDiff, localized, UOE, full): ORIG fine-tuned with the
  plain next-token loss on held-out data — disjoint from every evaluated set — for as many steps
  as the method's longest run, at the method's learning rate, on the method's component set;
* an ablation: as many value vectors zeroed as the method zeroed, drawn at random among the other
  vectors of the same layers;
* switching experts off (inference-time): as many other experts per layer switched off.

Whatever a metric moves on NOISE is drift such a change causes anyway, not unlearning; "damaged"
means a locality drop beyond NOISE's own.  (`ablate.unlearning.noise_reference` is another control:
the *unlearning objective* run on unrelated data.)
"""

from __future__ import annotations

import torch

from ..errors import UnlearnscopeError


def finetune_noise(subject, texts, *, steps: int, lr: float, batch_size: int, seed: int = 0, components=None) -> dict:
    """Fine-tune ``subject`` in place (next-token loss on every token, AdamW without weight decay,
    eval mode) on ``texts`` (strings or items), restricted to ``components`` (a `ComponentSet`;
    ``None``: the whole model)."""
    from ..ablate.inputs import encode_inputs
    from ..ablate.masking import MaskedParams

    if not texts:
        raise UnlearnscopeError("the NOISE model needs held-out training texts (none were found in the target)")
    if steps < 1:
        raise UnlearnscopeError(f"NOISE steps must be >= 1, got {steps}")
    enc = encode_inputs(subject, list(texts))
    model = subject.model
    gen = torch.Generator().manual_seed(seed)
    n = enc["input_ids"].shape[0]
    losses = []
    model.eval()  # no dropout: the same regime as the unlearning runs
    with torch.enable_grad(), MaskedParams(subject, components) as mp:
        opt = torch.optim.AdamW(list(mp.params.values()), lr=lr, weight_decay=0.0)
        for _ in range(steps):
            idx = torch.randint(n, (min(batch_size, n),), generator=gen).to(enc["input_ids"].device)
            ids, mask = enc["input_ids"][idx], enc["attention_mask"][idx]
            loss = model(input_ids=ids, attention_mask=mask, labels=ids.masked_fill(mask == 0, -100)).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            mp.restore_outside()
            losses.append(float(loss.detach()))
        n_params = mp.n_trained
    model.zero_grad(set_to_none=True)
    return {
        "kind": "fine-tune",
        "steps": steps,
        "lr": lr,
        "batch_size": batch_size,
        "n_texts": n,
        "n_params_trained": n_params,
        "components": components.names if components is not None else None,
        "loss_first": losses[0],
        "loss_last": losses[-1],
    }


def random_vectors_noise(subject, located: list[list[int]], seed: int = 0) -> dict:
    """Zero as many value vectors per layer as ``located`` (``[layer, neuron]`` pairs), drawn at
    random among the layer's other neurons."""
    from ..ablate.static import ablate
    from ..model.components import ComponentSet

    a = subject.anatomy
    per_layer: dict[int, set[int]] = {}
    for layer, neuron in located:
        per_layer.setdefault(int(layer), set()).add(int(neuron))
    g = torch.Generator().manual_seed(seed)
    drawn = []
    for layer, js in sorted(per_layer.items()):
        pool = torch.tensor([j for j in range(a.d_mlp) if j not in js])
        if len(pool) < len(js):
            raise UnlearnscopeError(f"layer {layer}: too few other neurons to draw {len(js)} random value vectors")
        drawn += [[layer, int(j)] for j in pool[torch.randperm(len(pool), generator=g)[: len(js)]].sort().values]
    names = [f"blocks.{l}.mlp.value:{j}" for l, j in drawn]
    ablate(subject, ComponentSet.from_slices(subject, [a.value_slice(l, [j]) for l, j in drawn], names), "zero")
    return {"kind": "random value vectors zeroed", "n_vectors": len(drawn), "vectors": drawn}


def random_experts_noise(subject, experts: list[list[int]], seed: int = 0) -> dict:
    """As many other experts per layer as ``experts`` (``[layer, expert]``), switched off at
    inference; returns the override to hold while the NOISE model is measured."""
    from ..localize.experts import matched_draws
    from ..model.routing import RoutingOverride

    draw = matched_draws(subject, [tuple(e) for e in experts], 1, seed)[0]
    ov = RoutingOverride.build("off", draw)
    return {"kind": "random experts off", "experts": [list(e) for e in draw], "override": ov.to_dict()}
