"""NOISE, the drift floor: ORIG fine-tuned on other data than the forget set — plain next-token
training, no unlearning objective.  Whatever a metric moves on NOISE is drift that training
causes, not unlearning.  An audit builds one NOISE model for all its methods: as many steps as the
longest unlearning run, at the whole-model learning rate (``lr_full``) and the audit's batch size,
on the target's retain items (see ``docs/verify.md``).  (`ablate.unlearn.noise_reference` is
another control: the *unlearning method itself* run on unrelated data.)"""

from __future__ import annotations

import torch

from ..ablate.inputs import encode_inputs
from ..errors import UnlearnscopeError


def drift_floor(subject, texts, *, steps: int, lr: float, batch_size: int, seed: int = 0) -> dict:
    """Fine-tune ``subject`` in place (next-token loss, AdamW) on ``texts`` (strings or items);
    returns ``{"steps", "lr", "batch_size", "n_texts", "loss_first", "loss_last"}``."""
    if not texts:
        raise UnlearnscopeError("the NOISE model needs unrelated training texts (the retain set is empty)")
    if steps < 1:
        raise UnlearnscopeError(f"NOISE steps must be >= 1, got {steps}")
    enc = encode_inputs(subject, list(texts))
    model = subject.model
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    n = enc["input_ids"].shape[0]
    losses = []
    model.eval()  # no dropout: the same regime as the unlearning runs
    with torch.enable_grad():
        for _ in range(steps):
            idx = torch.randint(n, (min(batch_size, n),), generator=gen).to(enc["input_ids"].device)
            ids, mask = enc["input_ids"][idx], enc["attention_mask"][idx]
            labels = ids.masked_fill(mask == 0, -100)
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    model.zero_grad(set_to_none=True)
    return {"steps": steps, "lr": lr, "batch_size": batch_size, "n_texts": n, "loss_first": losses[0], "loss_last": losses[-1]}
