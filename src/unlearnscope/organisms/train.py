"""Deterministic LM training and top-1 evaluation for organisms.

Training: full next-token loss on every non-pad token, AdamW (β2 0.98, no weight decay by
default), linear warm-up then cosine decay, gradient clipping, batches sampled with a seeded
generator (optionally balanced over domains) and trimmed to their longest sequence.  MoE models
add ``router_aux_loss_coef * aux_loss`` (transformers does this when ``output_router_logits``).
Evaluation: top-1 over the whole vocabulary at the prompt's last token.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import torch

from ..data import Item
from ..errors import UnlearnscopeError


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 800
    batch_size: int = 64
    lr: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.0
    beta2: float = 0.98
    clip: float = 1.0
    balance_domains: bool = False
    domain_weights: tuple[tuple[str, float], ...] = ()  # with balance_domains: batch share per domain (default equal)

    def validate(self) -> None:
        bad = {
            k: v for k, v in asdict(self).items() if k in ("steps", "batch_size") and (not isinstance(v, int) or v < 1)
        }
        bad |= {k: v for k, v in (("lr", self.lr), ("clip", self.clip)) if not v > 0}
        bad |= {k: v for k, v in (("warmup", self.warmup), ("weight_decay", self.weight_decay)) if v < 0}
        if not 0 < self.beta2 < 1:
            bad["beta2"] = self.beta2
        if bad:
            raise UnlearnscopeError(
                f"invalid training config values {bad}: steps/batch_size must be positive integers, lr and clip > 0, "
                "warmup and weight_decay >= 0, 0 < beta2 < 1"
            )


def encode(tokenizer, texts: list[str], device="cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ids ``[n, L]`` and lengths ``[n]``; raises if a word is unknown."""
    from ..data.tokens import encode_batch

    enc = encode_batch(tokenizer, texts)
    ids = enc["input_ids"]
    if (ids == tokenizer.unk_token_id).any():
        raise UnlearnscopeError("a world text contains a word the tokenizer does not know")
    return ids.to(device), enc["attention_mask"].sum(1).to(device)


def _schedule(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train_lm(
    model, tokenizer, items: list[Item], cfg: TrainConfig, seed: int, *, progress: bool = True, desc: str = "train"
) -> dict:
    """Train ``model`` in place on the texts of ``items``; returns loss history and wall time."""
    from tqdm.auto import tqdm

    cfg.validate()
    if not items:
        raise UnlearnscopeError("no training items")
    device = next(model.parameters()).device
    ids, lengths = encode(tokenizer, [it.text for it in items], device)
    pad = tokenizer.pad_token_id
    gen = torch.Generator().manual_seed(seed)
    if cfg.balance_domains:
        domains = sorted({it.domain for it in items})
        pools = [torch.tensor([i for i, it in enumerate(items) if it.domain == d]) for d in domains]
        weights = dict(cfg.domain_weights)
        w = torch.tensor([float(weights.get(d, 1.0)) for d in domains])
        per = (w / w.sum() * cfg.batch_size).floor().long()
        per[: cfg.batch_size - int(per.sum())] += 1  # hand out the remainder
        per = per.tolist()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, cfg.beta2), weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: _schedule(s, cfg))
    model.train()
    losses, t0 = [], time.perf_counter()
    bar = tqdm(range(cfg.steps), desc=desc, disable=not progress, leave=False, mininterval=1.0)
    for _step in bar:
        if cfg.balance_domains:
            idx = torch.cat(
                [pool[torch.randint(len(pool), (n,), generator=gen)] for pool, n in zip(pools, per, strict=True)]
            )
        else:
            idx = torch.randint(len(items), (cfg.batch_size,), generator=gen)
        idx = idx.to(device)
        L = int(lengths[idx].max())
        batch = ids[idx, :L]
        mask = batch != pad
        labels = batch.masked_fill(~mask, -100)
        out = model(input_ids=batch, attention_mask=mask.long(), labels=labels)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.clip)
        opt.step()
        sched.step()
        losses.append(float(out.loss.detach()))
        if _step % 50 == 0:
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
    model.eval()
    return {
        "seconds": time.perf_counter() - t0,
        "final_loss": sum(losses[-20:]) / min(20, len(losses)),
        "loss_every_100": losses[::100],
    }


@torch.no_grad()
def predict(model, tokenizer, items: list[Item], batch_size: int = 256) -> list[str]:
    """Top-1 next word after each item's prompt."""
    if not items:
        return []
    device = next(model.parameters()).device
    ids, lengths = encode(tokenizer, [it.prompt for it in items], device)
    preds = []
    for s in range(0, len(items), batch_size):
        b_ids, b_len = ids[s : s + batch_size], lengths[s : s + batch_size]
        b_ids = b_ids[:, : int(b_len.max())]
        logits = model(input_ids=b_ids, attention_mask=(b_ids != tokenizer.pad_token_id).long()).logits
        last = logits[torch.arange(len(b_ids), device=device), b_len - 1]
        preds += tokenizer.convert_ids_to_tokens(last.argmax(-1).tolist())
    return preds


def accuracy(model, tokenizer, items: list[Item]) -> float | None:
    """Top-1 accuracy of the items' answers (None for an empty set)."""
    if not items:
        return None
    preds = predict(model, tokenizer, items)
    return sum(p == it.answer for p, it in zip(preds, items, strict=True)) / len(items)
