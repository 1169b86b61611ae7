"""Teacher-forced scores of answers given prompts: the token-level quantities the field's output
metrics are made of (`output_metrics`).

    s = score_answers(subject, ["Q: who wrote X? A:"], ["Jane Doe"])
    s.logprobs[i] [T_i]  log p(answer token | prompt, previous answer tokens)
    s.correct[i]  [T_i]  the teacher-forced argmax is the answer token
    s.standard[i] [T_i]  (log p − μ) / σ with μ, σ² the mean and variance of log p under the model's
                         own next-token distribution (Min-K%++'s normalisation)

A text is ``prompt + " " + answer`` (``prompt + answer`` for tokenizers without a leading-space
convention), encoded under the special-token policy of `data.tokens`; the answer tokens are those
after the prompt's.  One forward pass per batch; only the answer positions' logits are normalised.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data.encoding import continuation
from ..data.tokens import encode_text, pad_id, pad_rows
from ..errors import UnlearnscopeError


@dataclass
class AnswerScores:
    logprobs: list[torch.Tensor]
    correct: list[torch.Tensor]
    standard: list[torch.Tensor]

    def avg_loss(self) -> torch.Tensor:
        """``[n]`` mean negative log-likelihood of each answer's tokens."""
        return torch.stack([-lp.mean() for lp in self.logprobs])


def _rows(tok, prompt: str, answer: str) -> tuple[list[int], int]:
    """``(ids of prompt + answer, number of prompt tokens)``."""
    p = encode_text(tok, prompt)
    return continuation(tok, prompt, answer, p), len(p)


@torch.no_grad()
def _score_batch(subject, prompts, answers) -> tuple[list, list, list]:
    tok = subject.tokenizer
    rows, plens = zip(*(_rows(tok, p, a) for p, a in zip(prompts, answers, strict=True)), strict=True)
    enc = {k: v.to(subject.device) for k, v in pad_rows(list(rows), pad_id(tok)).items()}
    logits = subject.model(**enc).logits  # [batch, pos, vocab]
    L = enc["input_ids"].shape[1]
    pos = torch.arange(L, device=logits.device)
    plen = torch.tensor(plens, device=logits.device)[:, None]
    flen = torch.tensor([len(r) for r in rows], device=logits.device)[:, None]
    at = (pos >= plen - 1) & (pos < flen - 1)  # [batch, pos]: positions that predict an answer token
    nxt = torch.cat([enc["input_ids"][:, 1:], enc["input_ids"][:, :1]], 1)  # the token each position predicts
    logp = torch.log_softmax(logits[at].float(), -1)  # [n_answer_tokens, vocab]
    tgt = nxt[at]
    lp = logp.gather(1, tgt[:, None])[:, 0]
    p = logp.exp()
    mu = (p * logp).sum(-1)
    var = ((p * logp.square()).sum(-1) - mu.square()).clamp_min(1e-6)
    std = (lp - mu) / var.sqrt()
    counts = at.sum(1).tolist()
    split = lambda t: [x.cpu() for x in t.split(counts)]
    return split(lp), split(logp.argmax(-1) == tgt), split(std)


def score_answers(subject, prompts: list[str], answers: list[str], batch_size: int = 32) -> AnswerScores:
    """Teacher-forced scores of ``answers[i]`` after ``prompts[i]`` (see module doc)."""
    if subject.tokenizer is None:
        raise UnlearnscopeError("scoring answers needs the model's tokenizer")
    if len(prompts) != len(answers) or not prompts:
        raise UnlearnscopeError(
            f"give one answer per prompt (and at least one): {len(prompts)} prompts, {len(answers)} answers"
        )
    out: tuple[list, list, list] = ([], [], [])
    for s in range(0, len(prompts), batch_size):
        for acc, part in zip(
            out, _score_batch(subject, prompts[s : s + batch_size], answers[s : s + batch_size]), strict=True
        ):
            acc.extend(part)
    return AnswerScores(*out)
