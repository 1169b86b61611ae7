"""Concept vectors (Hong et al., ConceptVectors): MLP value vectors whose vocabulary projection is
dominated by a concept's tokens.

    scan = scan_concept(subject, Lexicon.from_text(subject, "maro tesi paris doctor golf red"))
    scan.top[0]            # {"layer", "expert", "neuron", "score", "hits", "top_tokens"}
    val = validate_concept_vector(subject, scan.top[0], target=facts_x, unrelated=facts_y, mode="zero")  # validation.py

Score of value vector ``v`` (raw projection ``z = W_U v``, or the logit lens with ``lens=True``):
``score = mean_{t in lexicon} (z_t - mean(z)) / std(z)`` — how many standard deviations above the
vocabulary average the concept's tokens sit (0 = no preference; higher = more concept-like).
``hits`` = how many lexicon tokens are among the vector's top-``hits_k`` tokens.
The scan never forms the ``[n_vectors, d_vocab]`` logits: the mean and variance over the
vocabulary are linear / quadratic in ``v`` (`vocab_moments`), so every score is exact at a cost
of ``d_model²`` per vector; only the top vectors are projected (for ``hits`` and top tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ...errors import UnlearnscopeError
from ...model.unembed import project
from ...results import Result
from .lexicon import Lexicon
from .vocab import iter_value_vectors, token_strings

if TYPE_CHECKING:
    from ...model.subject import Subject


def as_lexicon(subject, concept) -> Lexicon:
    if isinstance(concept, Lexicon):
        return concept
    if isinstance(concept, str):
        return Lexicon.from_text(subject, concept)
    return Lexicon.from_tokens(subject, list(concept))


@dataclass
class ConceptScan(Result):
    """Ranked value vectors for one concept (see module doc for ``score``)."""

    kind = "concept_scan"
    concept: str
    lexicon: list[str]
    lens: bool
    n_vectors: int
    score_mean: float  # over all scanned vectors: the null the top scores stand out from
    score_std: float
    top: list[dict]
    layer_max: list[float]  # best score per layer (max over experts)

    def components(self, top_k: int = 1, subject=None):
        """The ``top_k`` vectors as a `ComponentSet` (needs the subject they were found in)."""
        from ...model.components import ComponentSet

        if subject is None:
            raise UnlearnscopeError("components() needs subject= (the model the scan ran on)")
        rows = self.top[:top_k]
        slices = [subject.anatomy.value_slice(r["layer"], r["neuron"], r["expert"]) for r in rows]
        return ComponentSet.from_slices(subject, slices, [vector_name(r) for r in rows])

    def plot(self):
        from ...viz.localize import concept_scan_figure

        return concept_scan_figure(self, [vector_name(r) for r in self.top])


def vector_name(row: dict) -> str:
    e = row["expert"]
    if e is None:
        return f"blocks.{row['layer']}.mlp.value:{row['neuron']}"
    if e == "shared":
        return f"blocks.{row['layer']}.moe.shared.value:{row['neuron']}"
    return f"blocks.{row['layer']}.moe.expert:{e}.value:{row['neuron']}"


@dataclass(frozen=True)
class VectorScores:
    """Concept score of every value vector: ``scores[offsets[g] + neuron]`` belongs to
    ``groups[g] = (layer, expert)`` (see `vocab.value_groups`); tensors stay on the model's device."""

    groups: list[tuple[int, int | str | None]]
    offsets: list[int]  # start of each group in ``scores``; ``offsets[-1] == len(scores)``
    scores: torch.Tensor  # [n_vectors] float32

    def locate(self, index: int) -> tuple[int, int | str | None, int]:
        """Flat index → ``(layer, expert, neuron)``."""
        import bisect

        g = bisect.bisect_right(self.offsets, index) - 1
        layer, expert = self.groups[g]
        return layer, expert, index - self.offsets[g]


@torch.no_grad()
def vocab_moments(subject: Subject, max_chunk_bytes: int = 64 << 20) -> tuple[torch.Tensor, torch.Tensor]:
    """``(mean, cov)`` of the unembedding rows in float32: ``mean = W_U.mean(0)`` ``[d_model]`` and
    ``cov = (W_U - mean)ᵀ (W_U - mean) / (d_vocab - 1)`` ``[d_model, d_model]``.  With them a
    vector's logits ``z = W_U v`` have ``mean(z) = mean · v`` and ``var(z) = vᵀ cov v`` (the
    unbiased variance over the vocabulary, as ``torch.std``) without forming ``z``.  Streams
    ``W_U`` in row chunks of at most ``max_chunk_bytes`` (float32)."""
    W_U = subject.anatomy.unembed
    if W_U is None:
        raise UnlearnscopeError("this model has no unembedding (LM head): the concept scan needs a causal-LM head")
    V, d = W_U.shape
    mean = W_U.mean(0, dtype=torch.float32)
    cov = torch.zeros(d, d, device=W_U.device, dtype=torch.float32)
    rows = max(1, max_chunk_bytes // (4 * d))
    for s in range(0, V, rows):
        c = W_U[s : s + rows].float() - mean
        cov.addmm_(c.T, c)
    return mean, cov / max(1, V - 1)


@torch.no_grad()
def concept_scores(
    subject: Subject,
    concept: Lexicon | str | Sequence[str | int],
    *,
    layers: Sequence[int] | None = None,
    lens: bool = False,
    max_chunk_bytes: int = 64 << 20,
) -> VectorScores:
    """The concept score (module doc) of every value vector, exactly, without projecting any
    vector onto the vocabulary: ``score(v) = (mean(W_U[lex]) - mean(W_U)) · v / sqrt(vᵀ cov v)``
    (`vocab_moments`), so the cost is ``n_vectors × d_model²`` instead of ``n_vectors × d_model ×
    d_vocab`` and nothing leaves the device until the end.  With ``lens`` each vector is passed
    through the final norm first.  Value vectors are read in row chunks of at most
    ``max_chunk_bytes`` (float32 copies)."""
    a = subject.anatomy
    lex = as_lexicon(subject, concept)
    mean, cov = vocab_moments(subject, max_chunk_bytes)
    unembed = a.unembed
    if unembed is None:
        raise UnlearnscopeError("a concept scan reads the vocabulary through the unembedding: the model has none")
    lex_ids = torch.tensor(lex.token_ids, device=unembed.device)
    direction = unembed[lex_ids].float().mean(0) - mean  # mean over lexicon of (W_U[t] - mean)
    norm = a.final_norm if lens else None
    if lens and norm is None:
        raise UnlearnscopeError("logit lens needs a final norm; this model has none (use lens=False)")
    rows = max(1, max_chunk_bytes // (8 * a.d_model))
    groups, offsets, parts, n = [], [], [], 0
    for ch in iter_value_vectors(subject, layers, rows):
        if ch.start == 0:  # a new (layer, expert) group starts here
            groups.append((ch.layer, ch.expert))
            offsets.append(n)
        v = ch.vectors.to(device=mean.device)
        v = (norm(v.to(unembed.dtype)) if norm is not None else v).float()
        sd = ((v @ cov) * v).sum(-1).clamp_min(1e-24).sqrt()
        parts.append((v @ direction) / sd)
        n += len(v)
    if not parts:
        raise UnlearnscopeError("no value vectors to scan (no MLP layers selected)")
    return VectorScores(groups, offsets + [n], torch.cat(parts))


@torch.no_grad()
def scan_concept(
    subject: Subject,
    concept: Lexicon | str | Sequence[str | int],
    *,
    layers: Sequence[int] | None = None,
    top: int = 20,
    hits_k: int = 50,
    lens: bool = False,
    max_chunk_bytes: int = 64 << 20,
    n_top_tokens: int = 20,
) -> ConceptScan:
    """Score every value vector against ``concept`` (a `Lexicon`, text, or a list of words/ids)
    with `concept_scores`; only the ``top`` vectors are projected onto the vocabulary (for
    ``hits`` and their top tokens)."""
    a = subject.anatomy
    lex = as_lexicon(subject, concept)
    vs = concept_scores(subject, lex, layers=layers, lens=lens, max_chunk_bytes=max_chunk_bytes)
    scores = vs.scores
    group_layer = torch.tensor([g[0] for g in vs.groups], device=scores.device)
    sizes = torch.tensor([b - s for s, b in zip(vs.offsets[:-1], vs.offsets[1:], strict=True)], device=scores.device)
    layer_of = group_layer.repeat_interleave(sizes)
    layer_max = torch.full((a.n_layers,), float("-inf"), device=scores.device).scatter_reduce_(
        0, layer_of, scores, "amax"
    )
    best = scores.topk(min(top, len(scores)))
    located = [vs.locate(i) for i in best.indices.tolist()]
    vectors = torch.stack([a.values(layer, expert)[neuron] for layer, expert, neuron in located])
    z = project(subject, vectors, lens).float()  # [top, d_vocab]: the only vocabulary projections
    lex_ids = torch.tensor(lex.token_ids, device=z.device)
    hits = torch.isin(z.topk(min(hits_k, z.shape[-1]), -1).indices, lex_ids).sum(-1).tolist()
    top_ids = z.topk(min(n_top_tokens, z.shape[-1]), -1).indices
    rows = [
        {
            "layer": layer,
            "expert": expert,
            "neuron": neuron,
            "score": score,
            "hits": h,
            "top_tokens": token_strings(subject, ids),
        }
        for (layer, expert, neuron), score, h, ids in zip(located, best.values.tolist(), hits, top_ids, strict=True)
    ]
    std, mean = torch.std_mean(scores.double(), correction=0)
    return ConceptScan(
        lex.name,
        lex.tokens,
        lens,
        len(scores),
        float(mean),
        float(std),
        rows,
        [x if x != float("-inf") else 0.0 for x in layer_max.tolist()],
    )
