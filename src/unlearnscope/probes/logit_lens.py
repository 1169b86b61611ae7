"""Logit-lens extraction (nostalgebraist; Patil et al.): the gold answer's rank at every depth.

At depth ``d`` (input of block ``d``; ``n_layers`` = final output) the last prompt token's residual
stream is decoded as ``W_U · LN_f(h)`` and the gold answer token's **rank** is the number of
vocabulary tokens with a strictly higher logit (0 = top-1).  The final depth reproduces the
model's own next-token ranking.  Extraction succeeds at budget ``B`` when the rank is ``< B`` at
*any* depth.  Ranks are computed per batch and depth without materialising ``[depth, batch, vocab]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..data import encode_facts
from ..model.unembed import project
from .features import resolve_depths


@dataclass
class LensRanks:
    ranks: torch.Tensor  # [depth, n] long
    depths: list[int]
    entities: list[str]

    def success(self, budget: int, depths=None) -> torch.Tensor:
        """``[n]`` 1.0 where the gold answer ranks ``< budget`` at any of ``depths`` (default all)."""
        rows = [self.depths.index(d) for d in depths] if depths is not None else list(range(len(self.depths)))
        return (self.ranks[rows] < budget).any(0).float()

    def plot(self, title: str = "logit lens: gold-answer log10(1 + rank)"):
        """Depth × example heatmap of ``log10(1 + rank)`` (0 = top-1)."""
        from ..viz.probes import lens_ranks_figure

        return lens_ranks_figure(self, title)

    def best_reciprocal_rank(self) -> torch.Tensor:
        """``[n]`` max over depths of ``1 / (1 + rank)``."""
        return (1.0 / (1.0 + self.ranks.float())).max(0).values


@torch.no_grad()
def gold_ranks(subject, facts, *, layers=None, batch_size: int = 128) -> LensRanks:
    """Rank of each fact's answer token under the logit lens at every requested depth."""
    depths = resolve_depths(subject, layers)
    enc = encode_facts(subject, facts)
    L = subject.anatomy.n_layers
    points = [f"blocks.{d}.hook_resid_pre" if d < L else f"blocks.{L - 1}.hook_resid_post" for d in depths]
    out = []
    for s in range(0, len(enc), batch_size):
        sl = slice(s, s + batch_size)
        idx = torch.arange(enc.input_ids[sl].shape[0], device=enc.last.device)
        with subject.capture(points) as c:
            subject.model(input_ids=enc.input_ids[sl], attention_mask=enc.attention_mask[sl])
        gold = enc.answer[sl]
        per_depth = []
        for p in points:
            z = project(subject, c[p][idx, enc.last[sl]], lens=True).float()  # [b, vocab]
            per_depth.append((z > z.gather(1, gold[:, None])).sum(1))
        out.append(torch.stack(per_depth).cpu())
    return LensRanks(torch.cat(out, 1), depths, [f.subject for f in enc.facts])
