"""Phase 2 of the concepts organism: plant one neuron per described person and train the planted
neurons only (see `concepts`).

Keys: a one-vs-rest logistic regression per person on the block's MLP input (the ``ln_2``
output), negatives every position of every phase-1 text, positives the person's cue positions
(class-weighted), solved with L-BFGS; the neuron's key row and bias are ``key_scale`` × the
classifier's weights, so its GELU fires where the classifier says "this person's cue".  Values
start at zero.  Training: AdamW on the reserved key rows, biases and value vectors (every other
parameter frozen; constant learning rate), next-token loss on each description's answer token, mixed 3:1 with phase-1
texts (their answer tokens), plus ``l1`` × the mean |activation| of the reserved neurons, except
a person's own neuron at that person's cue position.
"""

from __future__ import annotations

import time

import torch

from ..data import Item
from .train import encode


def reserved_block(model, world, layer: int) -> tuple[int, int, int]:
    """``(layer, first neuron, n)``: the reserved neurons are the last ``n`` (one per described
    person of ``world``) of block ``layer``'s MLP (negative: from the end)."""
    n = len(world.ground_truth["concepts"])
    return layer % model.config.n_layer, model.config.n_inner - n, n


def is_description(item: Item) -> bool:
    """A described person's concept item (not a background person's, not a fact)."""
    return item.domain == "concepts" and item.split != "background"


def mask_neuron_grads(mlp, mask: torch.Tensor) -> list:
    """Multiply the gradients of the MLP's key rows, biases and value vectors by ``mask`` (``[d_mlp]``);
    returns the hook handles (remove them when done)."""
    return [
        mlp.c_fc.weight.register_hook(lambda g: g * mask),
        mlp.c_fc.bias.register_hook(lambda g: g * mask),
        mlp.c_proj.weight.register_hook(lambda g: g * mask[:, None]),
    ]


def _block_inputs(model, ln, ids, pad) -> torch.Tensor:
    box = {}
    h = ln.register_forward_hook(lambda m, i, o: box.__setitem__("x", o.detach()))
    try:
        with torch.no_grad():
            model(input_ids=ids, attention_mask=(ids != pad).long())
    finally:
        h.remove()
    return box["x"]


def planted_keys(
    model, tok, layer: int, described: list[Item], background: list[Item], owners: dict[str, int], n: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(weights [d_model, n], bias [n])`` of the per-person classifiers (module doc)."""
    ln = model.transformer.h[layer].ln_2
    pad = tok.pad_token_id
    ids_n, _ = encode(tok, [i.text for i in background], next(model.parameters()).device)
    x_neg = _block_inputs(model, ln, ids_n, pad)[ids_n != pad]
    ids_c, len_c = encode(tok, [i.text for i in described], next(model.parameters()).device)
    xc = _block_inputs(model, ln, ids_c, pad)
    mask = ids_c != pad
    y = torch.zeros(*ids_c.shape, n, device=xc.device)
    rows = torch.arange(len(described), device=xc.device)
    y[rows, len_c - 3, torch.tensor([owners[i.subject] for i in described], device=xc.device)] = (
        1  # the prompt's last token
    )
    x = torch.cat([x_neg, xc[mask]]).float()
    target = torch.cat([torch.zeros(len(x_neg), n, device=x.device), y[mask]])
    x1 = torch.cat([x, torch.ones(len(x), 1, device=x.device)], 1)
    torch.manual_seed(seed)
    w = torch.zeros(x1.shape[1], n, device=x.device, requires_grad=True)
    pos_weight = torch.full((n,), 50.0, device=x.device)
    opt = torch.optim.LBFGS([w], max_iter=500, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (
            torch.nn.functional.binary_cross_entropy_with_logits(x1 @ w, target, pos_weight=pos_weight)
            + 1e-4 * (w[:-1] ** 2).sum()
        )
        loss.backward()
        return loss

    for _ in range(3):
        opt.step(closure)
    w = w.detach()
    return w[:-1], w[-1]


def implant_concepts(
    model,
    tok,
    world,
    described: list[Item],
    phase1: list[Item],
    cfg,
    seed: int,
    *,
    progress: bool = False,
    desc: str = "implant",
) -> dict:
    """Plant and train the reserved neurons of `reserved_block` (module doc)."""
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    layer, first, n = reserved_block(model, world, cfg.layer)
    owners = {p: c["neuron"] for p, c in world.ground_truth["concepts"].items()}
    mlp = model.transformer.h[layer].mlp
    device = mlp.c_fc.weight.device
    model.eval()
    if not described:
        return {"seconds": time.perf_counter() - t0, "steps": 0, "final_loss": None}
    w, b = planted_keys(model, tok, layer, described, phase1, owners, n, seed)
    with torch.no_grad():
        mlp.c_fc.weight[:, first:] = cfg.key_scale * w.to(mlp.c_fc.weight.dtype)
        mlp.c_fc.bias[first:] = cfg.key_scale * b.to(mlp.c_fc.bias.dtype)
        mlp.c_proj.weight[first:] = 0
    frozen = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in frozen:
        p.requires_grad_(False)
    mask = torch.zeros(first + n, device=device)
    mask[first:] = 1
    params = [mlp.c_fc.weight, mlp.c_fc.bias, mlp.c_proj.weight]
    for p in params:
        p.requires_grad_(True)
    hooks = mask_neuron_grads(mlp, mask)
    acts = {}
    hooks.append(mlp.act.register_forward_hook(lambda m, i, o: acts.__setitem__("a", o)))
    try:
        info = _train(model, tok, described, phase1, owners, first, n, cfg, seed, acts, progress, desc, tqdm)
    finally:
        for h in hooks:
            h.remove()
        for p, g in frozen:
            p.requires_grad_(g)
    model.eval()
    return {**info, "seconds": time.perf_counter() - t0}


def _train(model, tok, described, phase1, owners, first, n, cfg, seed, acts, progress, desc, tqdm) -> dict:
    device = next(model.parameters()).device
    mix = described + phase1
    ids, lengths = encode(tok, [i.text for i in mix], device)
    own = torch.tensor(
        [owners[i.subject] for i in described] + [-1] * len(phase1), device=device
    )  # the person's neuron, -1: none
    gen = torch.Generator().manual_seed(seed)
    n_desc = len(described)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=cfg.implant_lr, weight_decay=0.0)
    losses = []
    model.train()
    for _step in tqdm(range(cfg.implant_steps), desc=desc, disable=not progress, leave=False, mininterval=1.0):
        idx = torch.cat(
            [torch.randint(n_desc, (48,), generator=gen), n_desc + torch.randint(len(phase1), (16,), generator=gen)]
        ).to(device)
        L = int(lengths[idx].max())
        batch = ids[idx, :L]
        pad = batch != tok.pad_token_id
        rows = torch.arange(len(idx), device=device)
        labels = torch.full_like(batch, -100)
        labels[rows, lengths[idx] - 2] = batch[rows, lengths[idx] - 2]  # the answer token
        out = model(input_ids=batch, attention_mask=pad.long(), labels=labels)
        a = acts["a"][..., first:]  # [batch, pos, n]
        penalty = torch.ones_like(a)
        mine = own[idx] >= 0
        penalty[rows[mine], lengths[idx][mine] - 3, own[idx][mine]] = 0.0
        l1 = (a.abs() * penalty * pad[..., None]).sum() / pad.sum()
        loss = out.loss + cfg.l1 * l1
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(out.loss.detach()))
    return {"steps": cfg.implant_steps, "final_loss": sum(losses[-20:]) / min(20, len(losses))}
