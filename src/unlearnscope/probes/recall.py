"""The model's own answer to each fact: log-probability, probability and top-1 correctness of the
answer token at the last prompt position (over the whole vocabulary).

This is the final depth of the logit lens (`logit_lens`): the same gold answer, read where the
model actually predicts it.  Behavioural recall, relearning curves and causal validations all
score with it.
"""

from __future__ import annotations

import torch

from ..data import EncodedFacts


@torch.no_grad()
def recall(subject, enc: EncodedFacts, batch_size: int = 256) -> dict[str, torch.Tensor]:
    """Per fact: ``logp`` and ``p`` of the answer token at the last prompt token, ``correct`` (top-1)."""
    logps, correct = [], []
    for s in range(0, len(enc), batch_size):
        sl = slice(s, s + batch_size)
        logits = subject.model(input_ids=enc.input_ids[sl], attention_mask=enc.attention_mask[sl]).logits
        last = logits[torch.arange(logits.shape[0], device=logits.device), enc.last[sl]].float()
        lp = last.log_softmax(-1)
        logps.append(lp.gather(1, enc.answer[sl, None])[:, 0])
        correct.append(last.argmax(-1) == enc.answer[sl])
    logp = torch.cat(logps)
    return {"logp": logp, "p": logp.exp(), "correct": torch.cat(correct).float()}
