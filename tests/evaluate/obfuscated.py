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
            logits = s.model(input_ids=enc.input_ids, attention_mask=enc.attention_mask).logits[torch.arange(len(enc)), enc.last]
        loss = logits.log_softmax(-1).gather(1, enc.answer[:, None]).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        s.model.transformer.h[LAYER].mlp.c_proj.bias += v.detach()
    return s, v.detach()
