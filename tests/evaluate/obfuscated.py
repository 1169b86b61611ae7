"""A model whose suppression is known: ORIG plus a learned vector added to the residual stream
after block ``LAYER`` (through that block's MLP output bias), so every state below it is ORIG's
and the facts are provably still there."""

import torch

from unlearnscope.data import encode_facts

LAYER = 1


def obfuscated(org, forget, steps: int = 60):
    """ORIG with a vector v, trained to push the forget answers down, added after block ``LAYER``."""
    s = org.load("orig")
    for p in s.model.parameters():
        p.requires_grad_(False)
    enc = encode_facts(s, forget)
    v = torch.zeros(s.anatomy.d_model, requires_grad=True)
    opt = torch.optim.Adam([v], lr=0.05)
    torch.manual_seed(0)
    for _ in range(steps):
        with s.hooks([(f"blocks.{LAYER}.hook_resid_post", lambda act, hook: act + v)]):
            logits = s.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits[
                torch.arange(len(enc)), enc.last
            ]
        loss = logits.log_softmax(-1).gather(1, enc.answer[:, None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        s.model.transformer.h[LAYER].mlp.c_proj.bias += v.detach()
    return s, v.detach()


def gated_obfuscated(
    org, forget, retain, steps: int = 150, lr: float = 0.05, n_neurons: int = 16, layer: int | None = None
):
    """ORIG with ``n_neurons`` neurons of block ``layer``'s MLP (default: the last block) retrained —
    their keys, and one value vector they share — to write one suppression direction on the forget
    prompts and nothing on the retain prompts: the facts are intact below and beside it, behaviour
    reads forgotten, retain intact."""
    s = org.load("orig")
    layer = s.anatomy.n_layers - 1 if layer is None else layer  # the last block: every state below it is ORIG's
    mlp = s.model.transformer.h[layer].mlp
    j = mlp.c_proj.weight.norm(dim=1).argsort()[
        :n_neurons
    ]  # the neurons that write least (GPT-2 Conv1D: c_proj.weight [d_mlp, d_model])
    params = [mlp.c_fc.weight, mlp.c_fc.bias, mlp.c_proj.weight]
    for p in s.model.parameters():
        p.requires_grad_(False)
    for p in params:
        p.requires_grad_(True)
    masks = [torch.zeros_like(p) for p in params]
    masks[0][:, j], masks[1][j], masks[2][j] = 1, 1, 1
    with torch.no_grad():
        mlp.c_proj.weight[j] = 0
    ef, er = encode_facts(s, forget), encode_facts(s, retain)
    opt = torch.optim.Adam(params, lr=lr)
    torch.manual_seed(0)

    def logp(enc):
        logits = s.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits[
            torch.arange(len(enc)), enc.last
        ]
        return logits.log_softmax(-1).gather(1, enc.answer[:, None])[:, 0]

    for _ in range(steps):
        loss = (
            logp(ef).clamp_min(-8).mean() - 2 * logp(er).mean()
        )  # push the forget answers down (to log p = -8), keep the retain answers
        opt.zero_grad()
        loss.backward()
        for p, m in zip(params, masks, strict=True):
            p.grad *= m
        opt.step()
        with torch.no_grad():  # one direction: the neurons share their value vector
            mlp.c_proj.weight[j] = mlp.c_proj.weight[j].mean(0)
    for p in s.model.parameters():
        p.requires_grad_(False)
    return s, j.tolist()
